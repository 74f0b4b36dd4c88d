"""`GET /api/v1/audit-events/` (cursor-paginated, filterable) and `GET /api/v1/audit-events/export/?file_format=`
(csv or jsonl). Project admins only: a session user reads the projects where they are admin; a key
needs the `write` scope (the scope that configures a project) and reads only its own project."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from apps.core.exceptions import ApplicationError
from apps.core.filters import FilterBackend
from apps.projects.models import ProjectAPIKey

from .export import FORMATS, audit_events_download
from .filters import AuditEventFilter
from .models import AuditEvent
from .selectors import (
    audit_event_row,
    audit_events_filtered,
    audit_events_for_request,
    audit_projects_for_user,
)


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    project = serializers.CharField(help_text="Project slug.")
    actor = serializers.CharField(help_text='A username, "key <prefix> (<name>)", or "system".')
    actor_user = serializers.CharField(allow_null=True)
    actor_key = serializers.CharField(allow_null=True, help_text="The API key's prefix.")
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    parent_type = serializers.CharField()
    parent_id = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)

    def to_representation(self, instance):
        return audit_event_row(instance)


class _AuditView(generics.GenericAPIView):
    required_scope = "write"
    serializer_class = AuditEventSerializer
    filter_backends = [FilterBackend]
    filterset_class = AuditEventFilter

    def get_queryset(self):
        request = self.request
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        if not isinstance(request.auth, ProjectAPIKey) and not audit_projects_for_user(request.user).exists():
            raise ApplicationError("The audit log needs the admin role in a project.", status=403)
        return audit_events_for_request(request)


class AuditEventListView(_AuditView, generics.ListAPIView):
    """Audit events of the projects the caller administers, newest first."""


class AuditEventExportView(_AuditView):
    """The filtered events as a CSV or JSONL download, oldest first."""

    @extend_schema(
        operation_id="audit_events_export",
        parameters=[
            OpenApiParameter("file_format", enum=sorted(FORMATS), default="jsonl", description="Download format.")
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        fmt = request.query_params.get("file_format", "jsonl")
        if fmt not in FORMATS:
            raise ApplicationError(
                "Unknown format.", fields={"file_format": [f"Choose {' or '.join(sorted(FORMATS))}."]}
            )
        params = request.query_params.copy()
        params.pop("file_format", None)
        return audit_events_download(audit_events_filtered(self.get_queryset(), params), fmt)
