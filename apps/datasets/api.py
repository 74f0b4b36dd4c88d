"""Datasets API: datasets CRUD, records at a version, batch upsert/delete, versions, tags, diff, restore,
adding spans by filter, from feedback, and generated records."""

from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.pagination import IdCursorPagination
from apps.core.schema import llm_errors
from apps.projects.api_scope import request_project, request_projects, request_require

from . import selectors, services
from .models import Dataset, DatasetJob, DatasetRecord, DatasetVersion, DatasetVersionTag

WRITE_ACTION = "dataset.write"


# ---------------------------------------------------------------- serializers


class DatasetSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    record_count = serializers.IntegerField(read_only=True, default=0)
    version_tags = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "description",
            "latest_version",
            "record_count",
            "version_tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["latest_version", "created_at", "updated_at"]

    def get_version_tags(self, obj) -> dict[str, int]:
        return {t.name: t.version.number for t in obj.version_tags.all()}


class DatasetWriteSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class RecordSerializer(serializers.ModelSerializer):
    source_span_id = serializers.CharField(source="source_span_ref", read_only=True, allow_null=True, default=None)

    class Meta:
        model = DatasetRecord
        fields = [
            "record_id",
            "input",
            "expected",
            "metadata",
            "tags",
            "splits",
            "origin",
            "source_span_id",
            "version_from",
            "version_to",
            "created_at",
        ]


class VersionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "message",
            "author",
            "created_at",
            "added",
            "updated",
            "removed",
            "record_count",
            "restored_from",
            "tags",
        ]

    def get_tags(self, obj) -> list[str]:
        return sorted(t.name for t in obj.tags.all())


class VersionTagSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DatasetVersionTag
        fields = ["name", "version", "updated_by", "updated_at"]


class JobSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(source="version.number", allow_null=True, default=None)
    progress = serializers.FloatField(read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = DatasetJob
        fields = [
            "id",
            "dataset",
            "kind",
            "status",
            "total",
            "done",
            "progress",
            "error",
            "version",
            "result",
            "created_at",
            "finished_at",
        ]

    def get_result(self, obj) -> dict:
        return (obj.params or {}).get("result") or {}


class VersionWriteResultSerializer(serializers.Serializer):
    """What a write answers: the version it made (201), or the unchanged latest one (200)."""

    created = serializers.BooleanField()
    version = serializers.IntegerField(allow_null=True)
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
    record_count = serializers.IntegerField(required=False, help_text="Present when a version was made.")


class SpansAddedResultSerializer(VersionWriteResultSerializer):
    spans = serializers.IntegerField(help_text="Spans selected.")
    skipped_span_ids = serializers.ListField(child=serializers.CharField(), help_text="At most 100.")


class JobQueuedSerializer(serializers.Serializer):
    job = JobSerializer()


WRITE_RESPONSES = {
    201: VersionWriteResultSerializer,
    200: VersionWriteResultSerializer,
}
SPANS_RESPONSES = {
    201: SpansAddedResultSerializer,
    200: SpansAddedResultSerializer,
    202: OpenApiResponse(JobQueuedSerializer, description="Many spans: a job adds them; poll /dataset-jobs/{id}/."),
}


def version_payload(version: DatasetVersion | None, dataset: Dataset, *, created: bool) -> dict:
    if version is None:
        latest = DatasetVersion.objects.filter(dataset=dataset, number=dataset.latest_version).first()
        return {"created": False, "version": latest.number if latest else None, "added": 0, "updated": 0, "removed": 0}
    return {
        "created": created,
        "version": version.number,
        "added": version.added,
        "updated": version.updated,
        "removed": version.removed,
        "record_count": version.record_count,
    }


# ---------------------------------------------------------------- helpers


def _datasets_queryset(request) -> QuerySet[Dataset]:
    record_count = DatasetVersion.objects.filter(dataset=OuterRef("pk"), number=OuterRef("latest_version"))
    return (
        selectors.datasets_for_projects(projects=request_projects(request))
        .annotate(record_count=Coalesce(Subquery(record_count.values("record_count")[:1]), Value(0)))
        .prefetch_related("version_tags__version")
    )


def _check_write(request, dataset: Dataset) -> None:
    """Session users need the curator role in the dataset's project; keys need the write scope (view scope)."""
    request_require(request, WRITE_ACTION, dataset.project)


def _user(request):
    return request.user if getattr(request.user, "is_authenticated", False) else None


def _check_body_size(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise ApplicationError(
            f"Body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; send smaller batches.", status=413
        )


def _body_dict(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ApplicationError("Send a JSON object.", fields={"non_field_errors": ["Must be an object."]})
    return data


class DatasetScopedView(APIView):
    """A view under /datasets/{pk}/: loads the dataset within the request's projects (404 otherwise)."""

    def get_dataset(self, *, write: bool = False) -> Dataset:
        dataset = (
            Dataset.objects.filter(project__in=request_projects(self.request), pk=self.kwargs["pk"])
            .select_related("project")
            .first()
        )
        if dataset is None:
            raise not_found()
        if write:
            _check_write(self.request, dataset)
        return dataset


# ---------------------------------------------------------------- datasets


class DatasetListCreateView(generics.GenericAPIView):
    serializer_class = DatasetSerializer

    def get_queryset(self):
        qs = _datasets_queryset(self.request)
        if project := self.request.query_params.get("project"):
            qs = qs.filter(project__slug=project)
        if name := self.request.query_params.get("name"):
            qs = qs.filter(name=name)
        return qs

    @extend_schema(
        operation_id="datasets_list",
        parameters=[OpenApiParameter("project", str), OpenApiParameter("name", str)],
        responses=DatasetSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(request=DatasetWriteSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        body = DatasetWriteSerializer(data=_body_dict(request))
        body.is_valid(raise_exception=True)
        project = request_project(request, slug=body.validated_data.get("project"), action=WRITE_ACTION)
        dataset = services.dataset_create(
            project=project,
            name=body.validated_data["name"],
            description=body.validated_data.get("description", ""),
            created_by=_user(request),
            actor=audit_actor(request),
        )
        return Response(
            DatasetSerializer(_datasets_queryset(request).get(pk=dataset.pk)).data, status=status.HTTP_201_CREATED
        )


class DatasetDetailView(DatasetScopedView):
    serializer_class = DatasetSerializer

    def _read(self, pk):
        return DatasetSerializer(_datasets_queryset(self.request).get(pk=pk)).data

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, pk):
        return Response(self._read(self.get_dataset().pk))

    @extend_schema(request=DatasetUpdateSerializer, responses=DatasetSerializer)
    def patch(self, request, pk):
        dataset = self.get_dataset(write=True)
        body = DatasetUpdateSerializer(data=_body_dict(request))
        body.is_valid(raise_exception=True)
        services.dataset_update(dataset=dataset, actor=audit_actor(request), **body.validated_data)
        return Response(self._read(dataset.pk))

    put = patch

    def delete(self, request, pk):
        services.dataset_delete(dataset=self.get_dataset(write=True), actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- records


class RecordCursorPagination(IdCursorPagination):
    ordering = "record_id"
    page_size = 100
    max_page_size = 1000

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"] = {
            "version": {"type": "integer", "nullable": True, "description": "The version read; `next` stays on it."},
            **paginated["properties"],
        }
        paginated["required"] = ["version", "next", "previous", "results"]
        return paginated


class VersionCursorPagination(IdCursorPagination):
    ordering = "-number"


class RecordsUpsertSerializer(serializers.Serializer):
    records = serializers.ListField(child=serializers.DictField())
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


class RecordsDeleteSerializer(serializers.Serializer):
    record_ids = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


def _records_at(request, dataset: Dataset) -> tuple[int | None, QuerySet[DatasetRecord]]:
    params = request.query_params
    number: int | None = None
    if params.get("version") not in (None, "") or params.get("tag"):
        number = selectors.dataset_version_resolve(
            dataset=dataset, version=params.get("version") or None, tag=params.get("tag") or None
        ).number
    elif dataset.latest_version:
        number = dataset.latest_version
    qs = selectors.dataset_records_at_version(
        dataset=dataset,
        version=number if number else None,
        split=params.get("split") or None,
        tag=params.get("record_tag") or None,
    )
    return number, qs.select_related(None).annotate(
        source_span_ref=Subquery(_span_ref_queryset().filter(pk=OuterRef("source_span_id")).values("span_id")[:1])
    )


def _span_ref_queryset():
    from apps.traces.models import Span

    return Span.objects.all()


class RecordsView(DatasetScopedView):
    serializer_class = RecordSerializer
    pagination_class = RecordCursorPagination  # documents the page (with `version`) and its parameters

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int),
            OpenApiParameter("tag", str, description="a version tag"),
            OpenApiParameter("split", str),
            OpenApiParameter("record_tag", str),
        ],
        responses=RecordSerializer(many=True),
    )
    def get(self, request, pk):
        dataset = self.get_dataset()
        number, qs = _records_at(request, dataset)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        links = [paginator.get_next_link(), paginator.get_previous_link()]
        if number:
            # Pages after the first stay on the version the first page read, even if a write lands between.
            links = [replace_query_param(link, "version", number) if link else None for link in links]
        return Response(
            {
                "version": number,
                "next": links[0],
                "previous": links[1],
                "results": RecordSerializer(page, many=True).data,
            }
        )

    @extend_schema(request=RecordsUpsertSerializer, responses=WRITE_RESPONSES)
    def post(self, request, pk):
        _check_body_size(request)
        dataset = self.get_dataset(write=True)
        data = request.data
        if isinstance(data, list):
            data = {"records": data}
        if not isinstance(data, dict):
            raise ApplicationError('Send {"records": [...]}.', fields={"records": ["This field is required."]})
        records = data.get("records")
        if isinstance(records, list) and len(records) > services.MAX_RECORDS_PER_BATCH:
            raise ApplicationError(
                f"At most {services.MAX_RECORDS_PER_BATCH} records per call; split the batch.",
                fields={"records": [f"{len(records)} records; the limit is {services.MAX_RECORDS_PER_BATCH}."]},
                status=413,
            )
        message = data.get("message") or ""
        if not isinstance(message, str):
            raise ApplicationError("Invalid message.", fields={"message": ["Must be a string."]})
        version = services.dataset_records_upsert(
            dataset=dataset, records=records, author=audit_actor(request), message=message
        )
        dataset.refresh_from_db()
        return Response(
            version_payload(version, dataset, created=True),
            status=status.HTTP_201_CREATED if version else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="dataset_records_delete_batch",
        request=RecordsDeleteSerializer,
        responses={200: VersionWriteResultSerializer},
    )
    def delete(self, request, pk):
        _check_body_size(request)
        dataset = self.get_dataset(write=True)
        data = _body_dict(request)
        version = services.dataset_records_delete(
            dataset=dataset,
            record_ids=data.get("record_ids"),
            author=audit_actor(request),
            message=str(data.get("message") or ""),
        )
        dataset.refresh_from_db()
        return Response(version_payload(version, dataset, created=True))


class RecordHistorySerializer(serializers.Serializer):
    record_id = serializers.CharField()
    revisions = RecordSerializer(many=True)


class RecordDetailView(DatasetScopedView):
    serializer_class = RecordSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int),
            OpenApiParameter("tag", str),
            OpenApiParameter("history", bool, description="every revision, newest first"),
        ],
        responses=PolymorphicProxySerializer(
            component_name="RecordOrHistory",
            resource_type_field_name=None,
            serializers=[RecordSerializer, RecordHistorySerializer],
        ),
    )
    def get(self, request, pk, record_id):
        dataset = self.get_dataset()
        if request.query_params.get("history") in ("1", "true", "yes"):
            revisions = selectors.dataset_record_history(dataset=dataset, record_id=record_id).annotate(
                source_span_ref=Subquery(
                    _span_ref_queryset().filter(pk=OuterRef("source_span_id")).values("span_id")[:1]
                )
            )[:1000]
            data = RecordSerializer(revisions, many=True).data
            if not data:
                raise not_found("Record not found.")
            return Response({"record_id": record_id, "revisions": data})
        _, qs = _records_at(request, dataset)
        record = qs.filter(record_id=record_id).first()
        if record is None:
            raise not_found("Record not found.")
        return Response(RecordSerializer(record).data)

    @extend_schema(responses={200: VersionWriteResultSerializer})
    def delete(self, request, pk, record_id):
        dataset = self.get_dataset(write=True)
        version = services.dataset_records_delete(
            dataset=dataset, record_ids=[record_id], author=audit_actor(request), message=f"Delete {record_id}"
        )
        if version is None:
            raise not_found("Record not found.")
        dataset.refresh_from_db()
        return Response(version_payload(version, dataset, created=True))


# ---------------------------------------------------------------- versions, tags, diff, restore


class VersionListView(DatasetScopedView):
    serializer_class = VersionSerializer
    pagination_class = VersionCursorPagination

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, pk):
        dataset = self.get_dataset()
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.dataset_versions(dataset=dataset), request, view=self)
        return paginator.get_paginated_response(VersionSerializer(page, many=True).data)


class VersionDetailView(DatasetScopedView):
    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer)
    def get(self, request, pk, number):
        version = selectors.dataset_version_resolve(dataset=self.get_dataset(), version=number)
        return Response(VersionSerializer(version).data)


class VersionRestoreView(DatasetScopedView):
    serializer_class = VersionSerializer

    @extend_schema(request=None, responses=WRITE_RESPONSES)
    def post(self, request, pk, number):
        dataset = self.get_dataset(write=True)
        message = request.data.get("message", "") if isinstance(request.data, dict) else ""
        version = services.dataset_version_restore(
            dataset=dataset, version=number, author=audit_actor(request), message=str(message or "")
        )
        dataset.refresh_from_db()
        return Response(
            version_payload(version, dataset, created=True),
            status=status.HTTP_201_CREATED if version else status.HTTP_200_OK,
        )


class TagSetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    version = serializers.IntegerField(min_value=1)


class TagListView(DatasetScopedView):
    serializer_class = VersionTagSerializer

    @extend_schema(responses=VersionTagSerializer(many=True))
    def get(self, request, pk):
        tags = selectors.dataset_version_tags(dataset=self.get_dataset())
        return Response(VersionTagSerializer(tags, many=True).data)

    @extend_schema(request=TagSetSerializer, responses=VersionTagSerializer)
    def post(self, request, pk):
        dataset = self.get_dataset(write=True)
        body = TagSetSerializer(data=_body_dict(request))
        body.is_valid(raise_exception=True)
        tag = services.dataset_version_tag_set(dataset=dataset, author=audit_actor(request), **body.validated_data)
        return Response(VersionTagSerializer(tag).data)


class TagDetailView(DatasetScopedView):
    serializer_class = VersionTagSerializer

    @extend_schema(request=TagSetSerializer, responses=VersionTagSerializer)
    def put(self, request, pk, name):
        dataset = self.get_dataset(write=True)
        data = {**_body_dict(request), "name": name}
        body = TagSetSerializer(data=data)
        body.is_valid(raise_exception=True)
        tag = services.dataset_version_tag_set(dataset=dataset, author=audit_actor(request), **body.validated_data)
        return Response(VersionTagSerializer(tag).data)

    def delete(self, request, pk, name):
        services.dataset_version_tag_delete(dataset=self.get_dataset(write=True), name=name, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


DIFF_LIMIT = 1000


class DiffView(DatasetScopedView):
    @extend_schema(
        parameters=[OpenApiParameter("a", int, required=True), OpenApiParameter("b", int, required=True)],
        responses=dict,
    )
    def get(self, request, pk):
        dataset = self.get_dataset()
        numbers = {}
        for name in ("a", "b"):
            raw = request.query_params.get(name)
            try:
                numbers[name] = int(raw)
            except (TypeError, ValueError):
                raise ApplicationError("Name two versions.", fields={name: ["Enter a version number."]})
        diff = selectors.dataset_versions_diff(dataset=dataset, limit=DIFF_LIMIT, **numbers)
        return Response(
            {
                "a": diff.a,
                "b": diff.b,
                "counts": diff.counts,
                "truncated": diff.truncated,
                "added": diff.added,
                "removed": diff.removed,
                "changed": [{"record_id": c.record_id, "fields": c.fields} for c in diff.changed],
            }
        )


# ---------------------------------------------------------------- curation


class AddSpansSerializer(serializers.Serializer):
    filters = serializers.DictField(required=False, help_text="SpanFilter parameters (as GET /api/v1/spans/)")
    span_ids = serializers.ListField(child=serializers.CharField(), required=False, max_length=10_000)
    mapping = serializers.DictField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


def _run_or_queue(request, dataset: Dataset, spans, *, kind: str, mapping, message: str) -> Response:
    if kind == DatasetJob.Kind.FROM_FEEDBACK:
        mapping = {"carry_annotations": True, **mapping}
    mapping = services.span_mapping_clean(mapping)
    span_pks = list(spans.values_list("pk", flat=True))
    if len(span_pks) > services.SPAN_ASYNC_THRESHOLD:
        job = services.dataset_job_start(
            dataset=dataset, kind=kind, span_pks=span_pks, mapping=mapping, author=audit_actor(request), message=message
        )
        return Response({"job": JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)
    if kind == DatasetJob.Kind.FROM_FEEDBACK:
        result = services.dataset_add_from_feedback(
            dataset=dataset, spans_queryset=spans, mapping=mapping, author=audit_actor(request), message=message
        )
    else:
        result = services.dataset_add_spans(
            dataset=dataset, span_pks=span_pks, mapping=mapping, author=audit_actor(request), message=message
        )
    dataset.refresh_from_db()
    payload = version_payload(result.version, dataset, created=True)
    payload.update({"spans": result.spans, "skipped_span_ids": result.skipped[:100]})
    return Response(payload, status=status.HTTP_201_CREATED if result.version else status.HTTP_200_OK)


class AddSpansView(DatasetScopedView):
    @extend_schema(request=AddSpansSerializer, responses=SPANS_RESPONSES)
    def post(self, request, pk):
        from apps.traces.selectors import span_list

        dataset = self.get_dataset(write=True)
        body = AddSpansSerializer(data=_body_dict(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if not data.get("filters") and not data.get("span_ids"):
            raise ApplicationError(
                "Choose spans with `filters` or `span_ids`.", fields={"filters": ["Give filters or span_ids."]}
            )
        spans = span_list(projects=[dataset.project], filters=data.get("filters") or {})
        if data.get("span_ids"):
            spans = spans.filter(span_id__in=data["span_ids"])
        return _run_or_queue(
            request,
            dataset,
            spans,
            kind=DatasetJob.Kind.ADD_SPANS,
            mapping=data.get("mapping") or {},
            message=data.get("message") or "",
        )


class FromFeedbackSerializer(serializers.Serializer):
    filters = serializers.DictField(required=False)
    mapping = serializers.DictField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


class FromFeedbackView(DatasetScopedView):
    @extend_schema(request=FromFeedbackSerializer, responses=SPANS_RESPONSES)
    def post(self, request, pk):
        from apps.traces.selectors import span_list

        dataset = self.get_dataset(write=True)
        body = FromFeedbackSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        spans = services.feedback_spans(project=dataset.project)
        if data.get("filters"):
            spans = spans.filter(pk__in=span_list(projects=[dataset.project], filters=data["filters"]).values("pk"))
        return _run_or_queue(
            request,
            dataset,
            spans,
            kind=DatasetJob.Kind.FROM_FEEDBACK,
            mapping=data.get("mapping") or {},
            message=data.get("message") or "",
        )


class GenerateSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=50)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    sample_size = serializers.IntegerField(required=False, min_value=0, max_value=20, default=5)


class GenerateView(DatasetScopedView):
    @extend_schema(request=GenerateSerializer, responses={**WRITE_RESPONSES, **llm_errors()})
    def post(self, request, pk):
        from .generation import dataset_generate_records

        dataset = self.get_dataset(write=True)
        body = GenerateSerializer(data=_body_dict(request))
        body.is_valid(raise_exception=True)
        version = dataset_generate_records(dataset=dataset, author=audit_actor(request), **body.validated_data)
        dataset.refresh_from_db()
        return Response(
            version_payload(version, dataset, created=True),
            status=status.HTTP_201_CREATED if version else status.HTTP_200_OK,
        )


class JobDetailView(APIView):
    serializer_class = JobSerializer

    @extend_schema(responses=JobSerializer)
    def get(self, request, pk):
        job = selectors.dataset_jobs_for_projects(projects=request_projects(request)).filter(pk=pk).first()
        if job is None:
            raise not_found()
        return Response(JobSerializer(job).data)
