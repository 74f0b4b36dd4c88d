"""Trace, span and tag admin, built to stay fast on tables of millions of spans.

- No full counts: `show_full_result_count = False` and a paginator that counts at most
  `CappedCountPaginator.cap` rows of the filtered list ("more than 10,000").
- No heavy JSON on list pages: spans load `SPAN_LIGHT_FIELDS` only; traces have no JSON but tags.
- Filters use indexed columns or EXISTS probes on indexed span columns; the name and model filters
  offer the values seen in the newest rows instead of a DISTINCT over the whole table.
- Search: an exact trace/span id first (unique index); otherwise a substring of the input/output
  previews (300 characters a row, so a scan stays bounded; combine with a time filter on big tables).
- Actions registered by other apps (`apps.core.registry.trace_admin_actions` / `span_admin_actions`)
  join the changelists; select-across hands them the filtered queryset.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.core.validators import RegexValidator
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from apps.core import registry
from apps.core.admin_tools import ReadOnlyAdminMixin
from apps.projects.admin_scope import ProjectScopedAdmin

from . import admin_views
from .admin_filters import (
    HasExpectedFilter,
    HasSpanTypeFilter,
    OriginListFilter,
    ProjectListFilter,
    SpanModelFilter,
    SpanNameFilter,
    StartedWithinFilter,
    TagListFilter,
    TraceNameFilter,
)
from .columns import SPAN_LIGHT_FIELDS
from .filters import TraceFilter
from .models import Span, Tag, Trace
from .rendering import format_duration_ms

LIST_PREVIEW_CHARS = 80


class CappedCountPaginator(Paginator):
    """Counts at most `cap + 1` rows, so a page of a huge filtered list never pays a full COUNT(*)."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()


# --- shared behaviour ---------------------------------------------------------------------------


class _ReadOnlyTelemetryAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Traces and spans arrive by ingest: the admin reads them; project admins may delete them."""

    manage_action = "trace.delete"

    def get_queryset(self, request):
        # Same scope as ProjectScopedAdmin, with the project ids resolved first: `project_id = X`
        # lets PostgreSQL read the (project, start_time DESC) index in order instead of sorting.
        # Superusers too: on an installation with one project the index then serves their lists.
        qs = super(ProjectScopedAdmin, self).get_queryset(request)
        return qs.filter(project_id__in=sorted(self.user_projects(request).values_list("pk", flat=True)))

    registry_actions: list = []
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    search_help_text = "An exact id, or text in the input/output previews."

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not actions and (self.actions is None or "_popup" in request.GET):
            return actions
        extra = [self.get_action(fn) for fn in self.registry_actions]
        for func, name, description in self._filter_actions_by_permissions(request, [a for a in extra if a]):
            action = self.action_policy(func)
            if self.can(request, action):
                actions[name] = (self._guard_action(func, action), name, description)
        return actions


def _error_badge(is_error: bool) -> str:
    return format_html('<span class="assay-error-badge">{}</span>', "error") if is_error else ""


def _list_cell_text(text: str) -> str:
    return Truncator(text or "").chars(LIST_PREVIEW_CHARS)


def _tag_chips(names) -> str:
    return format_html_join(" ", '<span class="assay-chip">{}</span>', ((n,) for n in (names or [])[:6]))


# --- Trace --------------------------------------------------------------------------------------

TRACE_LIST_FIELDS = (
    "id",
    "project_id",
    "project__slug",
    "trace_id",
    "name",
    "root_span_id",
    "start_time",
    "end_time",
    "duration_ms",
    "span_count",
    "has_error",
    "total_tokens",
    "total_cost",
    "input_preview",
    "output_preview",
    "tags",
    "review_status",
)


@admin.register(Trace)
class TraceAdmin(_ReadOnlyTelemetryAdmin):
    list_display = [
        "display_name",
        "start_time",
        "duration",
        "span_count",
        "total_tokens",
        "cost",
        "error_badge",
        "tag_chips",
        "input_short",
        "output_short",
        "project_slug",
    ]
    list_display_links = ["display_name"]
    list_filter = [
        StartedWithinFilter,
        "has_error",
        TraceNameFilter,
        TagListFilter,
        HasSpanTypeFilter,
        "review_status",
        OriginListFilter,
        ProjectListFilter,
    ]
    list_select_related = ["project"]
    sortable_by = ["start_time", "duration", "span_count", "total_tokens"]
    ordering = ["-start_time", "-id"]
    search_fields = ["trace_id"]  # shows the search box; get_search_results decides what it matches

    @property
    def registry_actions(self):
        return registry.trace_admin_actions

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("project").only(*TRACE_LIST_FIELDS)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        try:
            from apps.reviews.selectors import traces_tags_as_seen_by
        except ImportError:  # the traces app on its own
            return changelist
        # Blind review queues: the tag column without the tags this user may not see yet.
        changelist.result_list = list(changelist.result_list)
        seen = traces_tags_as_seen_by(request.user, changelist.result_list)
        for trace in changelist.result_list:
            trace.tags = seen[trace.pk]
        return changelist

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()[:200]
        if not term:
            return queryset, False
        exact = queryset.filter(trace_id=term)
        if exact.exists():
            return exact, False
        return TraceFilter(data={"q": term}, queryset=queryset).qs, False

    @admin.display(description="name", ordering="name")
    def display_name(self, obj):
        return obj.name or obj.trace_id

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return format_duration_ms(obj.duration_ms)

    @admin.display(description="cost", ordering="total_cost")
    def cost(self, obj):
        return f"${obj.total_cost:.4f}" if obj.total_cost else "—"

    @admin.display(description="error")
    def error_badge(self, obj):
        return _error_badge(obj.has_error)

    @admin.display(description="tags")
    def tag_chips(self, obj):
        return _tag_chips(obj.tags)

    @admin.display(description="project")
    def project_slug(self, obj):
        return obj.project.slug

    @admin.display(description="input")
    def input_short(self, obj):
        return _list_cell_text(obj.input_preview)

    @admin.display(description="output")
    def output_short(self, obj):
        return _list_cell_text(obj.output_preview)

    def get_urls(self):
        urls = [
            path(
                "by-id/<path:trace_id>/",
                self.admin_site.admin_view(self.by_trace_id_view),
                name="traces_trace_by_id",
            ),
        ]
        return urls + super().get_urls()

    def by_trace_id_view(self, request, trace_id):
        return admin_views.trace_by_id(self, request, trace_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.trace_page(self, request, object_id, extra_context=extra_context)


# --- Span ---------------------------------------------------------------------------------------


@admin.register(Span)
class SpanAdmin(_ReadOnlyTelemetryAdmin):
    list_display = [
        "display_name",
        "type",
        "trace_link",
        "start_time",
        "duration",
        "model",
        "total_tokens",
        "error_badge",
    ]
    list_display_links = ["display_name"]
    list_filter = [
        StartedWithinFilter,
        "type",
        "is_error",
        HasExpectedFilter,
        SpanNameFilter,
        SpanModelFilter,
        TagListFilter,
        ProjectListFilter,
    ]
    list_select_related = ["trace", "project"]
    sortable_by = ["start_time", "duration", "total_tokens"]
    ordering = ["-start_time", "-id"]
    search_fields = ["span_id"]
    search_help_text = "An exact span id or trace id, or an exact span name."

    @property
    def registry_actions(self):
        return registry.span_admin_actions

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("trace", "project")
            .only(*SPAN_LIGHT_FIELDS, "trace__id", "trace__trace_id", "project__slug")
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()[:200]
        if not term:
            return queryset, False
        for lookup in ("span_id", "trace__trace_id"):
            exact = queryset.filter(**{lookup: term})
            if exact.exists():
                return exact, False
        return queryset.filter(name=term), False

    @admin.display(description="name", ordering="name")
    def display_name(self, obj):
        return obj.name or obj.span_id

    @admin.display(description="trace")
    def trace_link(self, obj):
        url = reverse("admin:traces_trace_change", args=[obj.trace_id])
        return format_html(
            '<a href="{}?{}">{}</a>', url, urlencode({"span": obj.span_id}), Truncator(obj.trace.trace_id).chars(14)
        )

    @admin.display(description="error")
    def error_badge(self, obj):
        return _error_badge(obj.is_error)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return format_duration_ms(obj.duration_ms)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.span_page(self, request, object_id, extra_context=extra_context)


# --- Tag ----------------------------------------------------------------------------------------


HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class TagForm(forms.ModelForm):
    colour = forms.CharField(
        max_length=7,
        initial="#64748b",
        validators=[RegexValidator(HEX_COLOUR, "A colour like #64748b.")],
        widget=forms.TextInput(attrs={"type": "color"}),
    )

    class Meta:
        model = Tag
        fields = ["project", "name", "colour"]


@admin.register(Tag)
class TagAdmin(ProjectScopedAdmin):
    form = TagForm
    manage_action = "tag.manage"
    list_display = ["name", "swatch", "project", "created_at"]
    list_filter = [ProjectListFilter]
    list_select_related = ["project"]
    search_fields = ["name"]
    show_full_result_count = False
    paginator = CappedCountPaginator

    @admin.display(description="colour")
    def swatch(self, obj):
        colour = obj.colour if HEX_COLOUR.match(obj.colour or "") else "#64748b"
        return format_html('<span class="assay-chip" style="background:{};color:#fff">{}</span>', colour, colour)
