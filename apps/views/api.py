"""REST API of trace views: CRUD, render a trace, preview an unsaved spec, schema, gallery, share links,
and the describe-in-words generator."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.llm import llm_configured
from apps.core.parsing import is_id
from apps.core.schema import llm_errors
from apps.projects.api_scope import (
    ProjectScopedReadViewSet,
    ProjectScopedViewMixin,
    request_can,
    request_project,
    request_projects,
)
from apps.projects.permissions import action_role

from . import generation, services
from .gallery import GALLERY
from .models import ShareLink, TraceView
from .renderer import render_html, render_tree
from .schema import SPEC_SCHEMA
from .selectors import trace_for_projects

EDIT_ACTION = "trace_view.edit"


class TraceViewSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    spec = serializers.JSONField()

    class Meta:
        model = TraceView
        fields = ["id", "project", "name", "description", "spec", "created_at", "updated_at"]
        read_only_fields = ["id", "project", "created_at", "updated_at"]


class ShareLinkSerializer(serializers.ModelSerializer):
    view = serializers.PrimaryKeyRelatedField(read_only=True)
    trace_id = serializers.CharField(source="trace.trace_id", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ShareLink
        fields = ["id", "view", "trace_id", "expires_at", "revoked_at", "is_active", "created_at"]


RENDERED = inline_serializer(
    "TraceViewRendered",
    {
        "components": serializers.JSONField(help_text="The render tree: one node per component"),
        "html": serializers.CharField(help_text="The escaped HTML of the tree"),
    },
)
SHARE_REQUEST = inline_serializer(
    "ShareLinkRequest",
    {
        "trace": serializers.CharField(help_text="trace_id (or numeric id) of a trace of the view's project"),
        "expires_in_hours": serializers.FloatField(
            required=False, min_value=1, max_value=8760, help_text="1 to 8760; default 168"
        ),
    },
)
SHARE_CREATED = inline_serializer(
    "ShareLinkCreated",
    {
        "id": serializers.IntegerField(),
        "url": serializers.URLField(),
        "token": serializers.CharField(),
        "expires_at": serializers.DateTimeField(),
        "trace_id": serializers.CharField(),
    },
)


def _share_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("views_share:page", args=[token]))


def _can_edit(request, project) -> bool:
    return request_can(request, EDIT_ACTION, project)


def _trace_or_404(request, ref, project=None):
    if ref in (None, ""):
        raise ApplicationError("Name the trace.", fields={"trace": ["This field is required."]})
    projects = [project] if project is not None else request_projects(request)
    trace = trace_for_projects(projects, ref)
    if trace is None:
        raise ApplicationError("Trace not found.", fields={"trace": ["No such trace."]}, status=404)
    return trace


class TraceViewViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """`/api/v1/trace-views/`: create and change need the curator role (or a key with `write`)."""

    serializer_class = TraceViewSerializer
    write_action = EDIT_ACTION

    def get_queryset(self):
        views = self.scoped(TraceView.objects.select_related("project")).order_by("-id")
        if self.action == "list" and self.request.query_params.get("project"):
            views = views.filter(project__slug=self.request.query_params["project"])
        return views

    def get_object(self):
        view = self.get_queryset().filter(pk=self.kwargs["pk"]).first() if is_id(self.kwargs["pk"]) else None
        if view is None:
            raise not_found("Trace view not found.")
        return view

    def _require_edit(self, view: TraceView) -> None:
        if not _can_edit(self.request, view.project):
            raise ApplicationError(f"This needs the {action_role(EDIT_ACTION)} role in the project.", status=403)

    def create(self, request, *args, **kwargs):
        data = request.data if isinstance(request.data, dict) else {}
        project = self.write_project()
        view = services.trace_view_create(
            project=project,
            name=data.get("name", ""),
            spec=data.get("spec"),
            description=data.get("description", ""),
            user=request.user,
            actor=audit_actor(request),
        )
        return Response(TraceViewSerializer(view).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        view = self.get_object()
        self._require_edit(view)
        data = request.data if isinstance(request.data, dict) else {}
        partial = kwargs.get("partial", False)
        if not partial:
            missing = {k: ["This field is required."] for k in ("name", "spec") if k not in data}
            if missing:
                raise ApplicationError("Invalid input.", fields=missing)
        view = services.trace_view_update(
            view=view,
            name=data.get("name"),
            spec=data.get("spec"),
            description=data.get("description"),
            actor=audit_actor(request),
        )
        return Response(TraceViewSerializer(view).data)

    def destroy(self, request, *args, **kwargs):
        view = self.get_object()
        self._require_edit(view)
        services.trace_view_delete(view=view, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("trace", str, required=True, description="trace_id or id")], responses=RENDERED
    )
    @action(detail=True, methods=["get"], url_path="render")
    def render_trace(self, request, pk=None):
        """Render one trace (`?trace=<trace_id or id>`) through this view: the component tree and its HTML."""
        view = self.get_object()
        trace = _trace_or_404(request, request.query_params.get("trace"), view.project)
        nodes = render_tree(view.spec, trace, viewer=request.user)
        html = render_html(nodes, request=request, interactive=False)
        return Response({"view": view.pk, "trace_id": trace.trace_id, "components": nodes, "html": html})

    @extend_schema(methods=["GET"], request=None, responses=ShareLinkSerializer(many=True))
    @extend_schema(methods=["POST"], request=SHARE_REQUEST, responses={201: SHARE_CREATED})
    @action(detail=True, methods=["get", "post"], url_path="share-links")
    def share_links(self, request, pk=None):
        view = self.get_object()
        if request.method == "GET":
            links = view.share_links.select_related("trace").order_by("-id")[:200]
            return Response(ShareLinkSerializer(links, many=True).data)
        self._require_edit(view)
        data = request.data if isinstance(request.data, dict) else {}
        trace = _trace_or_404(request, data.get("trace"), view.project)
        link, token = services.share_link_create(
            view=view,
            trace=trace,
            user=request.user,
            actor=audit_actor(request),
            expires_in_hours=data.get("expires_in_hours", services.SHARE_DEFAULT_HOURS),
        )
        body = ShareLinkSerializer(link).data
        body.update({"token": token, "url": _share_url(request, token)})
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=inline_serializer(
            "TraceViewDefaultRequest",
            {
                "queue": serializers.IntegerField(required=False, help_text="A review queue id; absent: the project"),
            },
        ),
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["post"], url_path="make-default")
    def make_default(self, request, pk=None):
        """Default in review for the project, or for one queue with `{"queue": <id>}`."""
        view = self.get_object()
        self._require_edit(view)
        data = request.data if isinstance(request.data, dict) else {}
        queue = None
        if data.get("queue") not in (None, ""):
            from apps.queues.models import ReviewQueue

            ref = str(data["queue"])
            queue = ReviewQueue.objects.filter(pk=ref, project=view.project).first() if is_id(ref) else None
            if queue is None:
                raise ApplicationError("Queue not found.", fields={"queue": ["No such queue."]}, status=404)
        services.trace_view_default_set(project=view.project, view=view, queue=queue, actor=audit_actor(request))
        return Response({"default": view.pk, "queue": queue.pk if queue else None})


class ShareLinkViewSet(ProjectScopedReadViewSet):
    """`/api/v1/share-links/`: list, and `POST …/{id}/revoke/`."""

    serializer_class = ShareLinkSerializer

    def get_queryset(self):
        return self.scoped(ShareLink.objects.select_related("trace", "view")).order_by("-id")

    def get_object(self):
        pk = str(self.kwargs["pk"])
        link = self.get_queryset().filter(pk=pk).first() if is_id(pk) else None
        if link is None:
            raise not_found("Share link not found.")
        return link

    @extend_schema(request=None, responses=ShareLinkSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        link = self.get_object()
        if not _can_edit(request, link.project):
            raise ApplicationError(f"This needs the {action_role(EDIT_ACTION)} role in the project.", status=403)
        return Response(ShareLinkSerializer(services.share_link_revoke(link=link, actor=audit_actor(request))).data)


class SpecSchemaView(APIView):
    """The published JSON Schema of a view spec (public: it describes a format, not data)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(SPEC_SCHEMA)


class GalleryView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "TraceViewTemplate",
            {
                "key": serializers.CharField(),
                "name": serializers.CharField(),
                "description": serializers.CharField(),
                "spec": serializers.JSONField(),
            },
            many=True,
        )
    )
    def get(self, request):
        return Response(GALLERY)


class PreviewView(APIView):
    """Render an unsaved spec against a trace: `{spec, trace}` → `{html, components}` or 400 naming fields."""

    required_scope = {"POST": "read"}

    @extend_schema(
        request=inline_serializer(
            "TraceViewPreviewRequest",
            {
                "spec": serializers.JSONField(),
                "trace": serializers.CharField(help_text="trace_id or id"),
            },
        ),
        responses=RENDERED,
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if "spec" not in data:
            raise ApplicationError("Invalid input.", fields={"spec": ["This field is required."]})
        spec = services.spec_validate(spec=data["spec"])
        trace = _trace_or_404(request, data.get("trace"))
        nodes = render_tree(spec, trace, viewer=request.user)
        # The preview never saves scores: its score controls are shown as they appear outside review.
        html = render_html(nodes, request=request._request, interactive=False)
        return Response({"html": html, "components": nodes})


class GenerateView(APIView):
    """Describe a view in words: `{description, trace}` → `{spec, errors, valid, attempts}`."""

    @extend_schema(
        responses=inline_serializer(
            "TraceViewGeneratorStatus", {"configured": serializers.BooleanField(), "help": serializers.CharField()}
        )
    )
    def get(self, request):
        return Response({"configured": llm_configured(), "help": generation.CONFIGURE_HELP})

    @extend_schema(
        request=inline_serializer(
            "TraceViewGenerateRequest",
            {
                "description": serializers.CharField(max_length=4000),
                "trace": serializers.CharField(required=False, help_text="A sample trace whose shape is sent"),
            },
        ),
        responses={
            200: inline_serializer(
                "TraceViewGenerated",
                {
                    "spec": serializers.JSONField(),
                    "errors": serializers.JSONField(),
                    "valid": serializers.BooleanField(),
                    "attempts": serializers.IntegerField(),
                },
            ),
            **llm_errors(),
        },
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        description = str(data.get("description") or "").strip()
        if not description:
            raise ApplicationError("Describe the view.", fields={"description": ["This field is required."]})
        if len(description) > 4000:
            raise ApplicationError("Too long.", fields={"description": ["At most 4000 characters."]})
        sample = None
        if data.get("trace"):
            sample = _trace_or_404(request, data.get("trace"))
        project = sample.project if sample else request_project(request, action=EDIT_ACTION)
        if not _can_edit(request, project):
            raise ApplicationError(f"This needs the {action_role(EDIT_ACTION)} role in the project.", status=403)
        result = generation.view_spec_generate(description=description, trace=sample)
        return Response(result)
