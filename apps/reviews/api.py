"""Score configs, scores, span annotations and the feedback endpoint (with per-project CORS)."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError
from apps.core.markdown import render_markdown
from apps.core.schema import error
from apps.core.throttling import FeedbackAddressThrottle, FeedbackKeyThrottle
from apps.projects.api_permissions import IsProjectMember
from apps.projects.api_scope import (
    ProjectScopedReadViewSet,
    ProjectScopedViewMixin,
    request_project,
    request_projects,
    request_require,
)
from apps.projects.models import Project, ProjectAPIKey
from apps.traces.models import Span, Trace
from apps.traces.selectors import trace_root_span

from .filters import ScoreConfigFilter, ScoreFilter
from .models import Score, ScoreConfig, ScoreSource
from .selectors import score_summary, span_annotations_visible
from .services.feedback import feedback_apply
from .services.score_configs import (
    CONFIG_FIELDS,
    score_config_archive,
    score_config_create,
    score_config_delete,
    score_config_restore,
    score_config_update,
)
from .visibility import visible_annotations_q


def _request_dict(request) -> dict:
    data = request.data
    if hasattr(data, "dict"):
        data = data.dict()
    if not isinstance(data, dict):
        raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
    return data


class ScoreConfigSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    description_html = serializers.SerializerMethodField()
    score_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ScoreConfig
        fields = [
            "id",
            "project",
            *CONFIG_FIELDS,
            "description_html",
            "is_archived",
            "archived_at",
            "score_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["is_archived", "archived_at", "created_at", "updated_at"]

    def get_description_html(self, obj) -> str:
        return str(render_markdown(obj.description))


class ScoreConfigViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """Score configurations of the request's projects. Writes: `write` scope, or the admin role."""

    serializer_class = ScoreConfigSerializer
    filterset_class = ScoreConfigFilter
    pagination_class = None  # a project has a handful of configs; list them all, in display order
    write_action = "score_config.manage"
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return self.scoped(
            ScoreConfig.objects.select_related("project").annotate(score_count=Count("scores"))
        ).order_by("project_id", "order", "name")

    def _require_admin(self, project: Project) -> None:
        request_require(self.request, self.write_action, project)

    def _config_data(self) -> dict:
        data = _request_dict(self.request)
        return {k: data[k] for k in CONFIG_FIELDS if k in data}

    def _respond(self, config: ScoreConfig, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=config.pk)).data, status=code)

    def create(self, request, *args, **kwargs):
        project = self.write_project()
        user = request.user if request.user.is_authenticated else None
        config = score_config_create(
            project=project, created_by=user, actor=audit_actor(request), **self._config_data()
        )
        return self._respond(config, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        config = self.get_object()
        self._require_admin(config.project)
        config = score_config_update(config=config, actor=audit_actor(request), **self._config_data())
        return self._respond(config)

    def destroy(self, request, *args, **kwargs):
        config = self.get_object()
        self._require_admin(config.project)
        score_config_delete(config=config, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ScoreConfigSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        config = self.get_object()
        self._require_admin(config.project)
        return self._respond(score_config_archive(config=config, actor=audit_actor(request)))

    @extend_schema(request=None, responses=ScoreConfigSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        config = self.get_object()
        self._require_admin(config.project)
        return self._respond(score_config_restore(config=config, actor=audit_actor(request)))


class ScoreSerializer(serializers.ModelSerializer):
    config = serializers.CharField(source="config.name")
    kind = serializers.CharField(source="config.kind")
    span_id = serializers.CharField(source="span.span_id")
    trace_id = serializers.CharField(source="span.trace.trace_id")
    author = serializers.CharField(source="author.username", default=None)

    class Meta:
        model = Score
        fields = [
            "id",
            "span_id",
            "trace_id",
            "config",
            "kind",
            "value",
            "label",
            "labels",
            "text",
            "comment",
            "author",
            "source",
            "created_at",
            "updated_at",
        ]


class ScoreViewSet(ProjectScopedReadViewSet):
    """Scores of the request's projects, newest first; filter by config, source, span, trace, value."""

    serializer_class = ScoreSerializer
    filterset_class = ScoreFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return self.scoped(Score.objects.select_related("config", "span__trace", "author")).filter(
            visible_annotations_q(self.request.user)
        )


def _span_annotations_payload(span: Span, user) -> dict:
    """Every annotation of the span as `user` may see it (blind review queues hide other people's)."""
    summary = [
        {"config": e["name"], "kind": e["kind"], "count": e["count"], "mean": e["mean"], "authors": e["authors"]}
        for e in score_summary(span, user)
    ]
    return {
        "span_id": span.span_id,
        "trace_id": span.trace.trace_id,
        "summary": summary,
        **span_annotations_visible([span.pk], user)[span.pk],
    }


def _one(queryset, request, what: str):
    """The single match among the request's projects; `?project=slug` disambiguates for members."""
    slug = request.query_params.get("project")
    if slug:
        queryset = queryset.filter(project__slug=slug)
    found = list(queryset[:2])
    if not found:
        raise ApplicationError(f"{what} not found.", status=404)
    if len(found) > 1:
        raise ApplicationError(
            f"{what} id exists in several of your projects.", fields={"project": ["Name the project (its slug)."]}
        )
    return found[0]


class SpanAnnotationsView(APIView):
    """Every annotation of one span: scores (with a per-config summary), tags, history, comments,
    corrections and reviewer metadata."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, span_id: str):
        span = _one(
            Span.objects.select_related("trace").filter(project__in=request_projects(request), span_id=span_id),
            request,
            "Span",
        )
        return Response(_span_annotations_payload(span, request.user))


class TraceAnnotationsView(APIView):
    """The annotations of a trace's root span (trace-level annotations)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, trace_id: str):
        trace = _one(Trace.objects.filter(project__in=request_projects(request), trace_id=trace_id), request, "Trace")
        span = trace_root_span(trace=trace)
        if span is None:
            raise ApplicationError("Trace not found.", status=404)
        return Response(_span_annotations_payload(span, request.user))


# --------------------------------------------------------------------------- feedback + CORS

CORS_MAX_AGE = "600"


def _norm_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(project: Project, origin: str | None) -> bool:
    if not origin:
        return False
    wanted = _norm_origin(origin)
    return any(isinstance(o, str) and _norm_origin(o) == wanted for o in project.allowed_origins or [])


def origin_allowed_anywhere(origin: str | None) -> bool:
    """A preflight carries no key, so it is answered for an origin some project allows; the real
    request then only gets CORS headers if the key's own project lists the origin."""
    if not origin:
        return False
    wanted = _norm_origin(origin)
    for origins in Project.objects.exclude(allowed_origins=[]).values_list("allowed_origins", flat=True).iterator():
        if any(isinstance(o, str) and _norm_origin(o) == wanted for o in origins or []):
            return True
    return False


class FeedbackPermission(IsProjectMember):
    """Keys with the `feedback` or the `write` scope; members' sessions."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ProjectAPIKey):
            if request.auth.has_scope("feedback") or request.auth.has_scope("write"):
                return True
            self.message = "This API key lacks the 'feedback' scope."
            return False
        return super().has_permission(request, view)


class FeedbackSerializer(serializers.Serializer):
    """Documentation of the body; validation is done (all fields at once) by the feedback service."""

    span_id = serializers.CharField(required=False)
    trace_id = serializers.CharField(required=False)
    scores = serializers.DictField(required=False, help_text="{config name: value, label, [labels] or text}")
    expected = serializers.JSONField(required=False)
    comment = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    remove_tags = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    metadata = serializers.DictField(required=False)
    source = serializers.ChoiceField(choices=ScoreSource.choices, required=False)
    feedback_id = serializers.CharField(required=False, max_length=200)


class FeedbackView(APIView):
    """Scores, correction, comment, tags and metadata for a span or a trace's root span, in one call.

    Idempotent with `feedback_id`. Callable from browsers of the project's `allowed_origins` with a
    key that has only the `feedback` scope.
    """

    required_scope = "feedback"
    permission_classes = [FeedbackPermission]
    throttle_classes = [FeedbackKeyThrottle, FeedbackAddressThrottle]

    def dispatch(self, request, *args, **kwargs):
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(origin)
        return super().dispatch(request, *args, **kwargs)

    def _preflight(self, origin: str) -> HttpResponse:
        if not origin_allowed_anywhere(origin):
            response = HttpResponse(status=403)
            response["Vary"] = "Origin"
            return response
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Max-Age"] = CORS_MAX_AGE
        response["Vary"] = "Origin"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        auth = getattr(request, "_auth", None)
        if origin and isinstance(auth, ProjectAPIKey) and origin_allowed(auth.project, origin):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Idempotent-Replayed"
        if origin:
            response["Vary"] = "Origin"
        return response

    @extend_schema(
        request=FeedbackSerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            201: OpenApiTypes.OBJECT,
            409: error(409, "This `feedback_id` is being recorded, or was used with a different body."),
        },
    )
    def post(self, request):
        data = _request_dict(request)
        key = request.auth if isinstance(request.auth, ProjectAPIKey) else None
        if key is not None:
            project = key.project
            default = ScoreSource.API if key.has_scope("write") else ScoreSource.END_USER
        else:
            project = request_project(request, action="feedback.send")
            default = ScoreSource.HUMAN
        outcome = feedback_apply(project=project, data=data, source_default=default, key=key, user=request.user)
        if outcome.replayed:
            return Response(outcome.result, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})
        return Response(outcome.result, status=status.HTTP_201_CREATED)
