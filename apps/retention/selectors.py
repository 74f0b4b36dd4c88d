"""What retention keeps and what it selects.

A span is *referenced* when a dataset record, a review queue item, gold (an adjudicated value), an
experiment result or a feedback call names it. A trace with any referenced span is *pinned* and kept
whole; so is an experiment-origin trace while an experiment result of its project names it. The
partition-drop path (PostgreSQL) reads the same answers: `pinned_trace_ids` and `pinned_span_ids`.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from apps.datasets.models import DatasetRecord
from apps.experiments.models import ExperimentResult
from apps.projects.models import Project
from apps.queues.models import GoldValue, ReviewItem
from apps.reviews.models import Feedback
from apps.traces.models import Span, Trace, TraceOrigin

from .models import RetentionPolicy

# reason -> (model, path from it to the span, path from it to the project)
SPAN_REFERENCES: dict[str, tuple[Any, str, str]] = {
    "dataset": (DatasetRecord, "source_span", "dataset__project"),
    "queue": (ReviewItem, "span", "queue__project"),
    "gold": (GoldValue, "item__span", "project"),
    "experiment": (ExperimentResult, "span", "experiment__project"),
    "feedback": (Feedback, "span", "project"),
}
EXPERIMENT_TRACE = "experiment_trace"
PIN_REASONS: dict[str, str] = {
    "dataset": "a dataset record was made from it",
    "queue": "it is in a review queue",
    "gold": "it has adjudicated (gold) values",
    "experiment": "an experiment result is backed by it",
    "feedback": "feedback was sent for it",
    EXPERIMENT_TRACE: "experiment trace of an existing experiment",
}
PREVIEW_SAMPLE = 20


def _project_filter(path: str, project: Project | int | None) -> dict[str, Any]:
    return {} if project is None else {path: project}


def referenced_span_ids(*, reason: str, project: Project | int | None = None) -> QuerySet:
    """Ids of the spans that one kind of reference names (no NULLs: safe under NOT IN)."""
    model, span_path, project_path = SPAN_REFERENCES[reason]
    return (
        model._base_manager.filter(**{f"{span_path}__isnull": False}, **_project_filter(project_path, project))
        .values_list(f"{span_path}_id", flat=True)
        .order_by()
    )


def _referenced_trace_ids(reason: str, project: Project | int | None) -> QuerySet:
    model, span_path, project_path = SPAN_REFERENCES[reason]
    return (
        model._base_manager.filter(**{f"{span_path}__isnull": False}, **_project_filter(project_path, project))
        .values_list(f"{span_path}__trace_id", flat=True)
        .order_by()
    )


def _experiment_trace_condition() -> Q:
    results = ExperimentResult._base_manager.filter(
        experiment__project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id")
    )
    return Q(origin=TraceOrigin.EXPERIMENT) & Q(Exists(results))


def pin_conditions(*, project: Project | int | None = None) -> dict[str, Q]:
    """{reason: a condition on Trace that holds when the trace is pinned for that reason}."""
    conditions = {reason: Q(id__in=_referenced_trace_ids(reason, project)) for reason in SPAN_REFERENCES}
    conditions[EXPERIMENT_TRACE] = _experiment_trace_condition()
    return conditions


def pinned_trace_id_queries(*, project: Project | int | None = None) -> list[QuerySet]:
    """The pinned traces' ids as one small query per reason (their UNION is `pinned_trace_ids`): the
    partition drop's form, where one OR over every trace made PostgreSQL scan (and JIT-compile) it all."""
    queries = [_referenced_trace_ids(reason, project) for reason in SPAN_REFERENCES]
    experiment = Trace._base_manager.filter(**_project_filter("project", project)).filter(_experiment_trace_condition())
    return [*queries, experiment.values_list("id", flat=True).order_by()]


def pinned_condition(*, project: Project | int | None = None) -> Q:
    """One condition on Trace: pinned for any reason."""
    return functools.reduce(operator.or_, pin_conditions(project=project).values())


def pinned_trace_ids(*, project: Project | int | None = None) -> QuerySet:
    """Ids of the traces retention must keep whole (all projects when `project` is None)."""
    traces = Trace.objects.filter(**_project_filter("project", project))
    return traces.filter(pinned_condition(project=project)).values_list("id", flat=True).order_by()


def pinned_span_ids(*, project: Project | int | None = None) -> QuerySet:
    """Ids of every span that must be kept: all spans of the pinned traces (a trace is kept whole)."""
    return Span.objects.filter(trace_id__in=pinned_trace_ids(project=project)).values_list("id", flat=True).order_by()


# ---------------------------------------------------------------- what a policy selects


@dataclass(frozen=True)
class RetentionPlan:
    """What a policy selects now: `expired` (past the age or the count) and `doomed` (expired, not pinned)."""

    policy: RetentionPolicy
    cutoff: datetime | None
    expired: QuerySet
    doomed: QuerySet
    pinned: Q
    now: datetime  # the moment the plan was made for (other projects' plans of a shared month use it too)


def _age_condition(cutoff: datetime) -> Q:
    # A trace without a start time counts from when it was stored.
    return Q(start_time__lt=cutoff) | Q(start_time__isnull=True, created_at__lt=cutoff)


def _count_condition(project_id: int, max_traces: int) -> Q | None:
    """Traces past the newest `max_traces` (by start time, newest first, no start time last)."""
    order = (F("start_time").desc(nulls_last=True), "-id")
    first_to_go = (
        Trace.objects.filter(project_id=project_id).order_by(*order).values("start_time", "id")[max_traces:][:1]
    ).first()
    if first_to_go is None:
        return None
    start, pk = first_to_go["start_time"], first_to_go["id"]
    if start is None:
        return Q(start_time__isnull=True, id__lte=pk)
    return Q(start_time__isnull=True) | Q(start_time__lt=start) | Q(start_time=start, id__lte=pk)


def retention_plan(*, policy: RetentionPolicy, now: datetime | None = None) -> RetentionPlan:
    now = now or timezone.now()
    cutoff = now - timedelta(days=policy.max_age_days) if policy.max_age_days is not None else None
    conditions = [_age_condition(cutoff)] if cutoff is not None else []
    if policy.max_traces is not None:
        by_count = _count_condition(policy.project_id, policy.max_traces)
        if by_count is not None:
            conditions.append(by_count)
    traces = Trace.objects.filter(project_id=policy.project_id).order_by()
    expired = traces.filter(functools.reduce(operator.or_, conditions)) if conditions else traces.none()
    pinned = pinned_condition(project=policy.project_id)
    return RetentionPlan(
        policy=policy, cutoff=cutoff, expired=expired, doomed=expired.exclude(pinned), pinned=pinned, now=now
    )


def plan_pinned_counts(plan: RetentionPlan) -> dict[str, int]:
    """{reason: expired traces kept for it}; a trace pinned for two reasons counts under both."""
    conditions = pin_conditions(project=plan.policy.project_id)
    return {reason: plan.expired.filter(condition).count() for reason, condition in conditions.items()}


def retention_preview(plan: RetentionPlan, *, sample: int = PREVIEW_SAMPLE) -> dict[str, Any]:
    """What a run would do now: counts, the oldest traces that would go, and what is kept and why."""
    expired = plan.expired.count()
    doomed = plan.doomed.aggregate(traces=Count("id"), spans=Sum("span_count"))
    by_reason = plan_pinned_counts(plan)
    return {
        "cutoff": plan.cutoff,
        "traces_expired": expired,
        "traces_to_delete": doomed["traces"],
        "spans_to_delete": doomed["spans"] or 0,
        "kept_pinned": expired - doomed["traces"],
        "pinned_by_reason": [
            {"reason": reason, "label": PIN_REASONS[reason], "traces": count} for reason, count in by_reason.items()
        ],
        "sample": list(
            plan.doomed.order_by(F("start_time").asc(nulls_first=True), "id").only(
                "id", "trace_id", "name", "start_time", "span_count", "origin"
            )[:sample]
        ),
    }
