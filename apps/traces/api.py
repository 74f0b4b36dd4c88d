"""Read API for traces and spans: serializers, keyset pagination and read-only viewsets.

Other apps add per-span data (scores, comments, corrections…) to the span JSON of
`GET /traces/{trace_id}/`, `GET /spans/` and `GET /spans/{span_id}/` without editing this module::

    from apps.traces.api import register_span_extension

    def span_annotations(spans, request) -> dict[int, dict]:
        # one query for all spans; answer {span.pk: {"scores": [...], "comments": [...]}}
        ...

    register_span_extension(span_annotations)   # in AppConfig.ready()
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import datetime

from django.db.models import F, Q
from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apps.core.pagination import page_size_from_request, page_size_schema_parameter
from apps.projects.api_scope import request_projects

from . import selectors
from .columns import SPAN_COLUMNS
from .filters import SpanFilter, TraceFilter
from .models import Span, Trace

SpanExtension = Callable[[list[Span], object], dict[int, dict]]
span_extensions: list[SpanExtension] = []


def register_span_extension(fn: SpanExtension) -> SpanExtension:
    if fn not in span_extensions:
        span_extensions.append(fn)
    return fn


TraceExtension = Callable[[list[Trace], object], dict[int, dict]]
trace_extensions: list[TraceExtension] = []


def register_trace_extension(fn: TraceExtension) -> TraceExtension:
    """Like `register_span_extension`, for the trace summaries of `GET /traces/` and `/traces/{id}/`."""
    if fn not in trace_extensions:
        trace_extensions.append(fn)
    return fn


def trace_extra_data(traces: list[Trace], request) -> dict[int, dict]:
    merged: dict[int, dict] = {}
    for extension in trace_extensions:
        for pk, extra in (extension(traces, request) or {}).items():
            merged.setdefault(pk, {}).update(extra)
    return merged


def span_extra_data(spans: list[Span], request) -> dict[int, dict]:
    """Merged answers of every registered span extension, by span pk."""
    merged: dict[int, dict] = {}
    for extension in span_extensions:
        for pk, extra in (extension(spans, request) or {}).items():
            merged.setdefault(pk, {}).update(extra)
    return merged


class ProjectAPIKeyScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer <project key>` in the OpenAPI schema."""

    target_class = "apps.projects.authentication.ProjectAPIKeyAuthentication"
    name = "ProjectAPIKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A project API key: `Bearer <key>`."}


# --- pagination ---------------------------------------------------------------------------------


class StartTimeCursorPagination(BasePagination):
    """Newest first by (start_time, id), keyset-paginated: each page is an index range scan, however deep.

    The cursor is opaque; follow `next` until it is null. Rows without a start time (rare: spans sent
    without times) come first, which is where PostgreSQL's `(project, start_time DESC)` index puts
    them, so the index serves the order.
    """

    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def _page_size(self, request) -> int:
        return page_size_from_request(
            request, param=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def _decode(self, token: str) -> tuple[datetime | None, int]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            when = parse_datetime(raw["t"]) if raw["t"] is not None else None
            if raw["t"] is not None and when is None:
                raise ValueError
            pk = int(raw["i"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return when, pk

    @staticmethod
    def _encode(when: datetime | None, pk: int) -> str:
        raw = json.dumps({"t": when.isoformat() if when else None, "i": pk}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self._page_size(request)
        queryset = queryset.order_by(F("start_time").desc(nulls_first=True), "-id")
        token = request.query_params.get(self.cursor_query_param)
        if token:
            when, pk = self._decode(token)
            if when is None:
                queryset = queryset.filter(Q(start_time__isnull=True, id__lt=pk) | Q(start_time__isnull=False))
            else:
                queryset = queryset.filter(Q(start_time__lt=when) | Q(start_time=when, id__lt=pk))
        rows = list(queryset[: size + 1])
        self.next_token = self._encode(rows[size - 1].start_time, rows[size - 1].pk) if len(rows) > size else None
        return rows[:size]

    def get_next_link(self) -> str | None:
        if self.next_token is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, self.next_token)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The `next` link's cursor.",
                "schema": {"type": "string"},
            },
            page_size_schema_parameter(
                param=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
            ),
        ]


# --- serializers --------------------------------------------------------------------------------

TRACE_FIELDS = [
    "trace_id",
    "project",
    "name",
    "root_span_id",
    "start_time",
    "end_time",
    "duration_ms",
    "span_count",
    "has_error",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "total_cost",
    "input_preview",
    "output_preview",
    "user_id",
    "session_id",
    "tags",
    "review_status",
    "created_at",
    "updated_at",
]
# Every column of a span but the key, the project by its slug and the trace by its id.
SPAN_FIELDS = [
    "span_id",
    "trace_id",
    "project",
    *(c for c in SPAN_COLUMNS if c not in ("id", "project_id", "trace_id", "span_id")),
]


class FiniteFloatField(serializers.FloatField):
    """A float that is null when not finite: a cost total stored as inf (SQLite, before totals were
    bounded at ingest) must not make every page that lists its trace fail to render."""

    def to_representation(self, value):
        value = float(value)
        return value if math.isfinite(value) else None


class TraceSummarySerializer(serializers.ModelSerializer):
    """A trace's summary columns: previews, never full inputs and outputs."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    total_cost = FiniteFloatField(read_only=True, allow_null=True)

    class Meta:
        model = Trace
        fields = TRACE_FIELDS
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        extra = self.context.get("trace_extra", {}).get(instance.pk)
        if extra:
            data.update(extra)
        return data


class SpanSerializer(serializers.ModelSerializer):
    """Every column of a span. Registered span extensions add their keys (see module docstring)."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    trace_id = serializers.CharField(source="trace.trace_id", read_only=True)
    input = serializers.JSONField(read_only=True)
    output = serializers.JSONField(read_only=True)
    expected = serializers.JSONField(read_only=True)
    metadata = serializers.JSONField(read_only=True)
    metrics = serializers.JSONField(read_only=True)
    annotation_metadata = serializers.JSONField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Span
        fields = SPAN_FIELDS
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        extra = self.context.get("span_extra", {}).get(instance.pk)
        if extra:
            data.update(extra)
        return data


class SpanNodeSerializer(SpanSerializer):
    """A span with its child spans nested under `children` (each a span node, recursively)."""

    children = serializers.SerializerMethodField()

    class Meta(SpanSerializer.Meta):
        fields = [*SPAN_FIELDS, "children"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_children(self, span):
        return []  # filled in by to_representation, which walks the tree without recursion

    def to_representation(self, node):
        flat = selectors.span_tree_flat([node])
        reps = {}
        for n in flat:
            reps[id(n)] = super().to_representation(n.span)
        for n in flat:
            reps[id(n)]["children"] = [reps[id(c)] for c in n.children]
        return reps[id(node)]


class TraceDetailSerializer(TraceSummarySerializer):
    spans = serializers.SerializerMethodField(help_text="Root spans, each with its `children`, recursively.")

    class Meta(TraceSummarySerializer.Meta):
        fields = [*TRACE_FIELDS, "spans"]
        read_only_fields = fields

    @extend_schema_field(SpanNodeSerializer(many=True))
    def get_spans(self, trace):
        tree = self.context.get("span_tree")
        if tree is None:  # used on its own (another app): load the tree here
            tree = selectors.span_tree(selectors.trace_spans(trace=trace))
        return SpanNodeSerializer(tree, many=True, context=self.context).data


# --- viewsets -----------------------------------------------------------------------------------

PROJECT_PARAM = OpenApiParameter(
    "project", str, description="Project slug, for a session user whose projects share this id."
)


class _ReadOnlyScopedViewSet(viewsets.ReadOnlyModelViewSet):
    required_scope = "read"
    pagination_class = StartTimeCursorPagination

    def filter_queryset(self, queryset):
        # Filters select lists; a detail is addressed by its id alone.
        return queryset if self.action == "retrieve" else super().filter_queryset(queryset)


@extend_schema(tags=["traces"])
class TraceViewSet(_ReadOnlyScopedViewSet):
    """Traces of the caller's projects, newest first."""

    serializer_class = TraceSummarySerializer
    filterset_class = TraceFilter
    lookup_field = "trace_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.traces_visible(projects=request_projects(self.request)).select_related("project")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "trace_extra": getattr(self, "_trace_extra", {})}

    @extend_schema(summary="List traces (summaries)")
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self._trace_extra = trace_extra_data(page, request)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="A trace with its span tree", responses=TraceDetailSerializer, parameters=[PROJECT_PARAM])
    def retrieve(self, request, trace_id=None):
        trace = selectors.trace_get(
            projects=request_projects(request), trace_id=trace_id, project_slug=request.query_params.get("project")
        )
        spans = selectors.trace_spans(trace=trace)
        for span in spans:
            span.trace = trace  # serializers read trace.trace_id without a query per span
            span.project = trace.project
        context = {
            **self.get_serializer_context(),
            "span_tree": selectors.span_tree(spans),
            "span_extra": span_extra_data(spans, request),
            "trace_extra": trace_extra_data([trace], request),
        }
        return Response(TraceDetailSerializer(trace, context=context).data)


@extend_schema(tags=["traces"])
class SpanViewSet(_ReadOnlyScopedViewSet):
    """Spans of the caller's projects, newest first, with every column."""

    serializer_class = SpanSerializer
    filterset_class = SpanFilter
    lookup_field = "span_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.spans_visible(projects=request_projects(self.request)).select_related("project", "trace")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "span_extra": getattr(self, "_span_extra", {})}

    @extend_schema(summary="List spans")
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self._span_extra = span_extra_data(page, request)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="A span", parameters=[PROJECT_PARAM], responses=SpanSerializer)
    def retrieve(self, request, span_id=None):
        span = selectors.span_get(
            projects=request_projects(request), span_id=span_id, project_slug=request.query_params.get("project")
        )
        self._span_extra = span_extra_data([span], request)
        return Response(self.get_serializer(span).data)


__all__ = [
    "SpanNodeSerializer",
    "SpanSerializer",
    "SpanViewSet",
    "StartTimeCursorPagination",
    "TraceDetailSerializer",
    "TraceSummarySerializer",
    "TraceViewSet",
    "register_span_extension",
    "register_trace_extension",
]
