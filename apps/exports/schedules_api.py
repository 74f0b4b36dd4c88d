"""`/api/v1/export-schedules/` (create, list, change, pause, resume, trigger, runs) and
`/api/v1/export-destinations/` (per project; credentials are write-only, never answered)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.audit.services import audit_actor
from apps.core.schema import error
from apps.projects.api_scope import ProjectScopedReadViewSet, project_slug_field, request_projects

from .api import ExportInputSerializer, ExportJobSerializer
from .destinations import export_destination_create, export_destination_delete, export_destination_save
from .models import (
    DestinationKind,
    ExportDestination,
    ExportSchedule,
    ExportSource,
    ScheduleKind,
    ScheduleMode,
)
from .schedules import (
    SCHEDULE_FIELDS,
    export_schedule_create,
    export_schedule_pause,
    export_schedule_resume,
    export_schedule_trigger,
    export_schedule_update,
)
from .selectors import export_destinations_for_projects, export_schedules_for_projects
from .services import export_schedule_delete

PERIODS = [("minutes", "Minutes"), ("hours", "Hours"), ("days", "Days")]


# ---------------------------------------------------------------- destinations


class ExportDestinationSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    has_credentials = serializers.BooleanField(read_only=True)
    endpoint_url = serializers.CharField(read_only=True, help_text="S3-compatible endpoint (empty: AWS).")

    class Meta:
        model = ExportDestination
        fields = (
            "id",
            "project",
            "name",
            "kind",
            "bucket",
            "prefix",
            "endpoint_url",
            "region",
            "has_credentials",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CredentialsSerializer(serializers.Serializer):
    access_key_id = serializers.CharField(max_length=256)
    secret_access_key = serializers.CharField(max_length=512)
    session_token = serializers.CharField(max_length=4096, required=False)


class ExportDestinationWriteSerializer(serializers.Serializer):
    project = project_slug_field()
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=DestinationKind.choices, default=DestinationKind.S3)
    bucket = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    prefix = serializers.CharField(max_length=200, required=False, default="assay-exports")
    endpoint_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    credentials = CredentialsSerializer(
        required=False,
        allow_null=True,
        write_only=True,
        help_text="Write-only: stored encrypted, never answered. Omit to keep the stored ones; null removes them.",
    )


class ExportDestinationViewSet(ProjectScopedReadViewSet):
    serializer_class = ExportDestinationSerializer
    write_action = "export.destination"
    filter_backends: list = []
    pagination_class = None  # a project has a handful
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return export_destinations_for_projects(projects=request_projects(self.request))

    @extend_schema(request=ExportDestinationWriteSerializer, responses={201: ExportDestinationSerializer})
    def create(self, request):
        values = self.validated(ExportDestinationWriteSerializer)
        project = self.write_project(values.pop("project", None))
        credentials = values.pop("credentials", None)
        destination = export_destination_create(
            project=project, credentials=credentials, actor=audit_actor(request), **values
        )
        return self.answer(destination, status.HTTP_201_CREATED)

    @extend_schema(request=ExportDestinationWriteSerializer(partial=True), responses=ExportDestinationSerializer)
    def partial_update(self, request, pk=None):
        destination = self.writable()
        values = self.validated(ExportDestinationWriteSerializer, partial=True)
        values.pop("project", None)
        credentials = None  # absent: keep the stored ones; null: remove them
        if "credentials" in values:
            credentials = values.pop("credentials") or {}
        for name, value in values.items():
            setattr(destination, name, value)
        destination = export_destination_save(
            destination=destination, credentials=credentials, actor=audit_actor(request)
        )
        return self.answer(destination)

    @extend_schema(responses={204: None, 409: error(409, "Schedules or exports use the destination.")})
    def destroy(self, request, pk=None):
        destination = self.writable()
        export_destination_delete(destination=destination, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- schedules


class ExportScheduleSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = ExportSchedule
        fields = (
            "id",
            "project",
            *SCHEDULE_FIELDS,
            "watermark",
            "last_run_at",
            "last_run",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_last_run(self, schedule) -> dict | None:
        job = schedule.jobs.order_by("-created_at", "-id").first()
        return (
            None
            if job is None
            else {
                "id": job.pk,
                "status": job.status,
                "row_count": job.row_count,
                "created_at": job.created_at,
                "finished_at": job.finished_at,
            }
        )


class ExportScheduleWriteSerializer(ExportInputSerializer):
    name = serializers.CharField(max_length=200)
    source = serializers.ChoiceField(choices=ExportSource.choices, default=ExportSource.SPANS)
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text='Format options, as for POST /api/v1/exports/ (e.g. {"reviewer_scores": true} for CSV).',
    )
    dataset = serializers.IntegerField(required=False, allow_null=True, default=None)
    dataset_tag = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    dataset_split = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    mode = serializers.ChoiceField(choices=ScheduleMode.choices, default=ScheduleMode.INCREMENTAL)
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, default=ScheduleKind.INTERVAL)
    every = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    period = serializers.ChoiceField(choices=PERIODS, default="days")
    cron = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    safety_lag_seconds = serializers.IntegerField(min_value=0, max_value=86_400 * 7, default=300)
    enabled = serializers.BooleanField(default=True)


class ExportScheduleViewSet(ProjectScopedReadViewSet):
    serializer_class = ExportScheduleSerializer
    write_action = "export.schedule"
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return export_schedules_for_projects(projects=request_projects(self.request)).order_by("-id")

    @extend_schema(request=ExportScheduleWriteSerializer, responses={201: ExportScheduleSerializer})
    def create(self, request):
        values = self.validated(ExportScheduleWriteSerializer)
        project = self.write_project(values.pop("project", None))
        schedule = export_schedule_create(project=project, actor=audit_actor(request), **values)
        return self.answer(schedule, status.HTTP_201_CREATED)

    @extend_schema(request=ExportScheduleWriteSerializer(partial=True), responses=ExportScheduleSerializer)
    def partial_update(self, request, pk=None):
        schedule = self.writable()
        values = self.validated(ExportScheduleWriteSerializer, partial=True)
        values.pop("project", None)
        return self.answer(export_schedule_update(schedule=schedule, actor=audit_actor(request), **values))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        export_schedule_delete(schedule=self.writable(), actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ExportScheduleSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self.answer(export_schedule_pause(schedule=self.writable(), actor=audit_actor(request)))

    @extend_schema(request=None, responses=ExportScheduleSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self.answer(export_schedule_resume(schedule=self.writable(), actor=audit_actor(request)))

    @extend_schema(
        request=None,
        responses={202: ExportJobSerializer, 409: error(409, "The previous run is unfinished or nothing is due.")},
    )
    @action(detail=True, methods=["post"])
    def trigger(self, request, pk=None):
        job = export_schedule_trigger(schedule=self.writable(), actor=audit_actor(request))
        return Response(ExportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ExportJobSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        """The export jobs this schedule made, newest first."""
        schedule = self.get_object()
        page = self.paginate_queryset(
            schedule.jobs.select_related("project", "requested_by", "schedule").order_by("-id")
        )
        return self.get_paginated_response(ExportJobSerializer(page, many=True, context={"request": request}).data)
