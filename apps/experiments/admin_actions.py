""" "Add results to review queue…": experiment results are reviewed like logs, through their spans, with
the queues app's own action (its intermediate page, `review_items_add`, the existing review page).
"Export results…": an export job of the `experiment` source (apps/exports/experiment_source.py) through
the exports app's own action and confirmation page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse

from apps.exports.admin_actions import EXPORT_ACTION, ActionSource, _export_action
from apps.exports.models import ExportFormat, ExportSource
from apps.projects.admin_scope import policy_action
from apps.queues.admin_actions import add_spans_to_review_queue
from apps.traces.models import Span

from .models import ExperimentResult


def _spans_of(results) -> object:
    return Span.objects.filter(pk__in=results.exclude(span=None).order_by().values("span_id"))


@policy_action("queue.manage")
@admin.action(description="Add results to review queue…")
def add_results_to_review_queue(modeladmin, request, queryset):
    """On the results changelist: the selected results (or all of the filtered list)."""
    return add_spans_to_review_queue(modeladmin, request, _spans_of(queryset))


@policy_action("queue.manage")
@admin.action(description="Add results to review queue…")
def add_experiment_results_to_review_queue(modeladmin, request, queryset):
    """On the experiment changelist: every result of the selected experiments."""
    results = ExperimentResult.objects.filter(experiment__in=queryset.order_by().values("pk"))
    return add_spans_to_review_queue(modeladmin, request, _spans_of(results))


@admin.action(description="Compare selected experiments (the oldest is the baseline)")
@policy_action("experiment.write")
def compare_selected(model_admin, request, queryset):
    if queryset.values("project_id").distinct().count() > 1:
        model_admin.message_user(
            request, "Nothing done: experiments of different projects cannot be compared.", level=messages.ERROR
        )
        return None
    ids = ",".join(str(pk) for pk in queryset.order_by("created_at", "id").values_list("pk", flat=True))
    return redirect(f"{reverse('admin:experiments_experiment_compare')}?{urlencode({'ids': ids})}")


TABLE_FORMATS = (ExportFormat.JSONL, ExportFormat.CSV, ExportFormat.PARQUET)
INCLUDED = "One row per result, with a column per score config its automated and human scores carry."


def _experiments_selection(queryset, limit: int) -> dict:
    return {"filters": {"experiment": sorted(queryset.order_by().values_list("pk", flat=True))}}


def _results_selection(queryset, limit: int) -> dict | None:
    pks = list(queryset.order_by().values_list("pk", flat=True)[: limit + 1])
    if len(pks) > limit:
        return None
    experiments = sorted(set(queryset.order_by().values_list("experiment_id", flat=True).distinct()))
    return {"filters": {"experiment": experiments}, "selected_pks": pks}


EXPERIMENTS_EXPORT = ActionSource(
    source=ExportSource.EXPERIMENT,
    noun="results of the selected experiments",
    parent="experiment",
    selection=_experiments_selection,
    formats=TABLE_FORMATS,
    included=INCLUDED,
)
RESULTS_EXPORT = ActionSource(
    source=ExportSource.EXPERIMENT,
    noun="experiment results",
    project_field="experiment__project_id",
    selection=_results_selection,
    formats=TABLE_FORMATS,
    included=INCLUDED,
)


@policy_action(EXPORT_ACTION)
@admin.action(description="Export results…")
def export_experiment_results(modeladmin, request, queryset):
    """On the experiment changelist: every result of the selected experiments, as one file."""
    return _export_action(modeladmin, request, queryset, source=EXPERIMENTS_EXPORT)


@policy_action(EXPORT_ACTION)
@admin.action(description="Export…")
def export_results(modeladmin, request, queryset):
    """On the results changelist: the selected results (or all of the filtered list)."""
    return _export_action(modeladmin, request, queryset, source=RESULTS_EXPORT)
