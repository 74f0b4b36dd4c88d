""" "Add results to review queue…": experiment results are reviewed like logs, through their spans, with
the queues app's own action (its intermediate page, `review_items_add`, the existing review page)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse

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
