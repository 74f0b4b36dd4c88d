"""Experiment admin: the experiment list and page (read-only: clients create experiments through the
API), and a results changelist with short previews, filters, a link to each result's trace and the
"Add results to review queue…" action. Results can be many: no full counts, no heavy JSON loaded."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from apps.core.json_preview import json_preview
from apps.core.parsing import is_id
from apps.projects.admin_scope import ProjectScopedAdmin
from apps.traces.admin import CappedCountPaginator, ProjectListFilter
from apps.traces.rendering import format_duration_ms

from . import admin_actions, admin_scorers  # noqa: F401  (admin_scorers registers the scorer admins)
from .admin_compare import compare_admin_urls
from .models import Experiment, ExperimentResult

PREVIEW_CHARS = 80


@admin.register(Experiment)
class ExperimentAdmin(ProjectScopedAdmin):
    manage_action = "experiment.write"
    list_display = ["name", "dataset", "version", "status", "record_count", "results", "created_at", "project"]
    list_filter = ["status", ProjectListFilter]
    list_select_related = ["project", "dataset"]
    search_fields = ["name"]
    actions = [
        admin_actions.add_experiment_results_to_review_queue,
        admin_actions.compare_selected,
        admin_actions.export_experiment_results,
    ]
    fields = [
        "project",
        "dataset",
        "version",
        "name",
        "description",
        "metadata",
        "status",
        "record_count",
        "results_link",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    def get_urls(self):
        return compare_admin_urls(self) + super().get_urls()

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(result_count=Count("results"))

    def has_add_permission(self, request):
        return False  # created by clients through the API, pinned to a version then

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="version", ordering="version_number")
    def version(self, obj):
        ref = f" ({obj.version_ref})" if obj.version_ref and obj.version_ref != str(obj.version_number) else ""
        return f"v{obj.version_number}{ref}"

    @admin.display(description="results", ordering="result_count")
    def results(self, obj):
        return self.results_link(obj)

    @admin.display(description="results")
    def results_link(self, obj):
        url = reverse("admin:experiments_experimentresult_changelist")
        count = getattr(obj, "result_count", None)
        label = f"{count} of {obj.record_count}" if count is not None else "Results"
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"experiment": obj.pk}), label)


class ExperimentListFilter(admin.SimpleListFilter):
    """The user's newest experiments (at most 200 offered; any id works in the URL)."""

    title = "experiment"
    parameter_name = "experiment"

    def lookups(self, request, model_admin):
        experiments = Experiment.objects.filter(project__in=model_admin.user_projects(request)).only("pk", "name")
        return [(str(e.pk), Truncator(e.name).chars(60)) for e in experiments.order_by("-id")[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(experiment_id=int(value)) if is_id(value) else queryset.none()


class HasErrorFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "Failed"), ("no", "Succeeded")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(error="")
        if self.value() == "no":
            return queryset.filter(error="")
        return queryset


def _preview(value) -> str:
    return Truncator(json_preview(value, PREVIEW_CHARS)).chars(PREVIEW_CHARS)


@admin.register(ExperimentResult)
class ExperimentResultAdmin(ProjectScopedAdmin):
    project_field = "experiment__project"
    view_action = "project.view"
    manage_action = "experiment.write"
    list_display = [
        "record_id",
        "experiment",
        "output_preview",
        "expected_preview",
        "error_badge",
        "latency",
        "total_tokens",
        "cost",
        "trace_link",
    ]
    list_filter = [ExperimentListFilter, HasErrorFilter]
    list_select_related = ["experiment", "span"]
    search_fields = ["record_id"]
    search_help_text = "An exact record id."
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    ordering = ["experiment", "record_id"]
    actions = [admin_actions.add_results_to_review_queue, admin_actions.export_results]
    readonly_fields = [f.name for f in ExperimentResult._meta.concrete_fields]

    def object_project_id(self, obj) -> int:
        return obj.experiment.project_id

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("experiment", "span")
        return qs.defer("input", "metadata")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()[:255]
        return (queryset.filter(record_id=term), False) if term else (queryset, False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="output")
    def output_preview(self, obj):
        return _preview(obj.output)

    @admin.display(description="expected")
    def expected_preview(self, obj):
        return _preview(obj.expected)

    @admin.display(description="error")
    def error_badge(self, obj):
        if not obj.error:
            return ""
        return format_html('<span class="assay-error-badge" title="{}">{}</span>', obj.error[:300], "error")

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj):
        return format_duration_ms(obj.latency_ms)

    @admin.display(description="trace")
    def trace_link(self, obj):
        if obj.span is None:
            return "—"
        url = reverse("admin:traces_trace_change", args=[obj.span.trace_id])
        return format_html(
            '<a href="{}?{}">{}</a>', url, urlencode({"span": obj.span.span_id}), Truncator(obj.trace_id).chars(14)
        )
