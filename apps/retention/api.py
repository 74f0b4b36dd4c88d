"""`/api/v1/retention-policy/`: a project's retention policy (GET, PUT, DELETE), its dry-run preview,
"run now" and its run log. Project admins, or a key with the `admin` scope (it deletes data)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.schema import error
from apps.projects.api_scope import PROJECT_HELP, project_slug_field, request_actor, request_project

from .models import RetentionPolicy, RetentionRun
from .selectors import retention_plan, retention_preview
from .services import retention_policy_delete, retention_policy_set, retention_run_request

ACTION = "retention.manage"
PROJECT = OpenApiParameter("project", str, description=PROJECT_HELP)


class RetentionPolicySerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = RetentionPolicy
        fields = ("project", "max_age_days", "max_traces", "is_active", "last_run_at", "created_at", "updated_at")
        read_only_fields = ("project", "last_run_at", "created_at", "updated_at")


class RetentionPolicyWriteSerializer(serializers.Serializer):
    project = project_slug_field()
    max_age_days = serializers.IntegerField(min_value=1, max_value=36500, allow_null=True, required=False)
    max_traces = serializers.IntegerField(min_value=1, max_value=2**31 - 1, allow_null=True, required=False)
    is_active = serializers.BooleanField(default=True)


class RetentionRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = RetentionRun
        fields = (
            "id",
            "dry_run",
            "status",
            "started_at",
            "finished_at",
            "cutoff",
            "traces_expired",
            "traces_deleted",
            "spans_deleted",
            "kept_pinned",
            "pinned_by_reason",
            "batches",
            "error",
            "note",
        )
        read_only_fields = fields


def _policy(request) -> RetentionPolicy:
    project = request_project(request, action=ACTION)
    policy = RetentionPolicy.objects.select_related("project").filter(project=project).first()
    if policy is None:
        raise ApplicationError("This project has no retention policy.", status=404)
    return policy


class RetentionPolicyView(APIView):
    required_scope = {"*": "admin"}

    @extend_schema(parameters=[PROJECT], responses={200: RetentionPolicySerializer, 404: error(404)})
    def get(self, request):
        return Response(RetentionPolicySerializer(_policy(request)).data)

    @extend_schema(request=RetentionPolicyWriteSerializer, responses={200: RetentionPolicySerializer})
    def put(self, request):
        data = RetentionPolicyWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = request_project(request, slug=data.validated_data.get("project"), action=ACTION)
        try:
            policy = retention_policy_set(
                actor=request_actor(request),
                project=project,
                max_age_days=data.validated_data.get("max_age_days"),
                max_traces=data.validated_data.get("max_traces"),
                is_active=data.validated_data["is_active"],
            )
        except ValidationError as exc:
            raise ApplicationError("Invalid retention policy.", fields=exc.message_dict) from exc
        return Response(RetentionPolicySerializer(policy).data)

    @extend_schema(parameters=[PROJECT], responses={204: None, 404: error(404)})
    def delete(self, request):
        retention_policy_delete(actor=request_actor(request), policy=_policy(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RetentionPreviewView(APIView):
    required_scope = {"*": "admin"}

    @extend_schema(parameters=[PROJECT], responses={200: dict, 404: error(404)})
    def get(self, request):
        preview = retention_preview(retention_plan(policy=_policy(request)))
        preview["sample"] = [
            {"trace_id": t.trace_id, "name": t.name, "start_time": t.start_time, "span_count": t.span_count}
            for t in preview["sample"]
        ]
        return Response(preview)


class RetentionRunsView(APIView):
    required_scope = {"*": "admin"}

    @extend_schema(parameters=[PROJECT], responses={200: RetentionRunSerializer(many=True)})
    def get(self, request):
        runs = RetentionRun.objects.filter(policy=_policy(request)).order_by("-started_at", "-id")[:50]
        return Response(RetentionRunSerializer(runs, many=True).data)

    @extend_schema(parameters=[PROJECT], request=None, responses={202: RetentionRunSerializer, 409: error(409)})
    def post(self, request):
        run = retention_run_request(actor=request_actor(request), policy=_policy(request))
        return Response(RetentionRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
