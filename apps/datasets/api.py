"""Datasets API: datasets CRUD, records at a version, batch upsert/delete, versions, tags, diff, restore,
adding spans by filter, from feedback, and generated records."""

from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.pagination import IdCursorPagination
from apps.projects.api_scope import request_project, request_projects, request_require

from . import selectors
from .models import Dataset, DatasetRecord, DatasetVersion
from .serializers import (
    WRITE_RESPONSES,
    DatasetSerializer,
    DatasetUpdateSerializer,
    DatasetWriteSerializer,
    RecordSerializer,
    VersionWriteResultSerializer,
    version_payload,
)
from .services.datasets import dataset_create, dataset_delete, dataset_update
from .services.records import MAX_RECORDS_PER_BATCH, dataset_records_delete, dataset_records_upsert

WRITE_ACTION = "dataset.write"


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


def _signed_in_user(request):
    return request.user if getattr(request.user, "is_authenticated", False) else None


def check_body_size(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise ApplicationError(
            f"Body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; send smaller batches.", status=413
        )


def body_dict(request) -> dict:
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
        body = DatasetWriteSerializer(data=body_dict(request))
        body.is_valid(raise_exception=True)
        project = request_project(request, slug=body.validated_data.get("project"), action=WRITE_ACTION)
        dataset = dataset_create(
            project=project,
            name=body.validated_data["name"],
            description=body.validated_data.get("description", ""),
            created_by=_signed_in_user(request),
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
        body = DatasetUpdateSerializer(data=body_dict(request))
        body.is_valid(raise_exception=True)
        dataset_update(dataset=dataset, actor=audit_actor(request), **body.validated_data)
        return Response(self._read(dataset.pk))

    put = patch

    def delete(self, request, pk):
        dataset_delete(dataset=self.get_dataset(write=True), actor=audit_actor(request))
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
        check_body_size(request)
        dataset = self.get_dataset(write=True)
        data = request.data
        if isinstance(data, list):
            data = {"records": data}
        if not isinstance(data, dict):
            raise ApplicationError('Send {"records": [...]}.', fields={"records": ["This field is required."]})
        records = data.get("records")
        if isinstance(records, list) and len(records) > MAX_RECORDS_PER_BATCH:
            raise ApplicationError(
                f"At most {MAX_RECORDS_PER_BATCH} records per call; split the batch.",
                fields={"records": [f"{len(records)} records; the limit is {MAX_RECORDS_PER_BATCH}."]},
                status=413,
            )
        message = data.get("message") or ""
        if not isinstance(message, str):
            raise ApplicationError("Invalid message.", fields={"message": ["Must be a string."]})
        version = dataset_records_upsert(dataset=dataset, records=records, author=audit_actor(request), message=message)
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
        check_body_size(request)
        dataset = self.get_dataset(write=True)
        data = body_dict(request)
        version = dataset_records_delete(
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
        version = dataset_records_delete(
            dataset=dataset, record_ids=[record_id], author=audit_actor(request), message=f"Delete {record_id}"
        )
        if version is None:
            raise not_found("Record not found.")
        dataset.refresh_from_db()
        return Response(version_payload(version, dataset, created=True))
