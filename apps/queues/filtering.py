"""Trace and span selection for filling queues, through the traces app's declared filters only."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.exceptions import ApplicationError
from apps.core.filters import filterset_errors
from apps.projects.models import Project
from apps.traces.models import Span, Trace


def filter_errors(filter_cls, *, params: dict, queryset: QuerySet) -> tuple[dict[str, list[str]], object]:
    """Errors of `params` against a declared FilterSet (unknown keys included), and the FilterSet."""
    from apps.traces.filters import filter_parameter_names

    params = {k: v for k, v in params.items() if k != "project"}
    fs = filter_cls(data=params, queryset=queryset)
    errors = filterset_errors(fs) if not fs.is_valid() else {}
    for key in sorted(set(params) - filter_parameter_names(filter_cls)):
        errors[key] = ["Unknown filter."]
    return errors, fs


def _apply(filter_cls, *, params: dict, queryset: QuerySet, field: str) -> QuerySet:
    if not isinstance(params, dict):
        raise ApplicationError("Invalid filter.", fields={field: ["An object of filter parameters."]})
    errors, fs = filter_errors(filter_cls, params=params, queryset=queryset)
    if errors:
        raise ApplicationError("Invalid filter.", fields={f"{field}.{k}": v for k, v in errors.items()})
    return fs.qs


def filtered_traces(*, project: Project, params: dict, field: str = "trace_filter") -> QuerySet[Trace]:
    from apps.traces.filters import TraceFilter

    return _apply(TraceFilter, params=params, queryset=Trace.objects.filter(project=project), field=field)


def filtered_spans(*, project: Project, params: dict, field: str = "span_filter") -> QuerySet[Span]:
    from apps.traces.filters import SpanFilter

    return _apply(SpanFilter, params=params, queryset=Span.objects.filter(project=project), field=field)
