"""`/api/v1/exports/`: create a job, poll its status, cancel it, download its file (streamed)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError
from apps.core.schema import error
from apps.projects.api_scope import ProjectScopedReadViewSet, project_slug_field, request_projects

from .downloads import SIDE_FILES, download_response
from .models import JOB_FIELDS, ExportFormat, ExportJob, ExportSource
from .selectors import export_jobs_for_projects
from .services import export_job_cancel, export_job_create


class ExportJobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    destination = serializers.PrimaryKeyRelatedField(read_only=True)
    download_url = serializers.SerializerMethodField()
    selected_count = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ("id", "uid", *JOB_FIELDS, "download_url")
        read_only_fields = fields

    def get_download_url(self, job) -> str | None:
        if job.status != "succeeded":
            return None
        request = self.context.get("request")
        url = f"/api/v1/exports/{job.pk}/download/"
        return request.build_absolute_uri(url) if request else url

    def get_selected_count(self, job) -> int | None:
        return None if job.selected_pks is None else len(job.selected_pks)


class ExportInputSerializer(serializers.Serializer):
    """What a one-off export and a schedule take alike."""

    project = project_slug_field()
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.JSONL)
    gzip = serializers.BooleanField(default=False)
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Span or trace filters: the parameters of GET /api/v1/spans/ or /api/v1/traces/; "
        'experiment results: {"experiment": <id or list of ids>}.',
    )
    destination = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="An export destination of the project (empty: the deployment's export storage).",
    )


class ExportCreateSerializer(ExportInputSerializer):
    source = serializers.ChoiceField(choices=ExportSource.choices)
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text='Format options: {"reviewer_scores": true} (CSV: score.<config>.<reviewer> columns), '
        '{"spans_column": true} (traces CSV: the span tree as one JSON cell).',
    )
    dataset = serializers.IntegerField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    tag = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    split = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class ExportJobViewSet(ProjectScopedReadViewSet):
    serializer_class = ExportJobSerializer
    write_action = "export.run"
    filter_backends: list = []

    def get_queryset(self):
        return export_jobs_for_projects(projects=request_projects(self.request))

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportJobSerializer})
    def create(self, request):
        values = self.validated(ExportCreateSerializer)
        project = self.write_project(values.get("project"))
        dataset = None
        if values.get("dataset") is not None:
            from apps.datasets.models import Dataset

            dataset = Dataset.objects.filter(project=project, pk=values["dataset"]).first()
            if dataset is None:
                return Response(
                    {"error": "Unknown dataset.", "fields": {"dataset": ["Unknown dataset."]}},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        job = export_job_create(
            project=project,
            source=values["source"],
            format=values["format"],
            gzip=values["gzip"],
            filters=values.get("filters") or {},
            options=values.get("options") or {},
            dataset=dataset,
            version=values.get("version"),
            tag=values.get("tag") or "",
            split=values.get("split") or "",
            requested_by=request.user if request.user.is_authenticated else None,
            actor=audit_actor(request),
            destination=values.get("destination"),
        )
        return Response(ExportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ExportJobSerializer, 409: error(409, "The export has already ended.")})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        self.write_project(job.project.slug)  # role check for session users
        job = export_job_cancel(job=job, actor=audit_actor(request))
        return Response(ExportJobSerializer(job, context={"request": request}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file",
                str,
                enum=["data", *SIDE_FILES],
                description="data (default), or a side file: lineage (dataset exports), validation "
                "(fine-tuning formats), manifest (scheduled and dataset exports).",
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            409: error(409, "The export has no file yet."),
            410: error(410, "The export file is no longer in storage."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        file = request.query_params.get("file") or "data"
        if file != "data" and file not in SIDE_FILES:
            raise ApplicationError("Unknown file.", fields={"file": [f"Choose from data, {', '.join(SIDE_FILES)}."]})
        return download_response(self.get_object(), file)
