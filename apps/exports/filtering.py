"""Which rows an observed-data export reads: the source's FilterSet over the job's project."""

from __future__ import annotations

from apps.core.exceptions import ApplicationError
from apps.core.filters import filterset_errors
from apps.traces.models import Span, Trace

from .models import ExportSource


def _filterset_class(source: str):
    from apps.traces.filters import SpanFilter, TraceFilter

    # A scores export picks the scores of the spans its span filters select.
    return {ExportSource.SPANS: SpanFilter, ExportSource.SCORES: SpanFilter, ExportSource.TRACES: TraceFilter}[source]


def filter_parameter_names(source: str) -> set[str]:
    """The parameters the source's FilterSet declares, less `project` (the job's project scopes everything)."""
    from apps.traces.filters import filter_parameter_names as declared

    if source == ExportSource.EXPERIMENT:
        from .experiment_source import FILTERS

        return set(FILTERS)

    return declared(_filterset_class(source)) - {"project"}


def filtered_queryset(*, source: str, project, filters: dict | None):
    """The project's spans or traces after the declared FilterSet; unknown or invalid filters → 400."""
    filters = filters or {}
    if not isinstance(filters, dict):
        raise ApplicationError("Filters must be an object.", fields={"filters": ["Give an object of filters."]})
    if source == ExportSource.EXPERIMENT:  # experiment results: their own filters (experiment_source)
        from .experiment_source import experiment_results_filtered

        return experiment_results_filtered(project=project, filters=filters)
    unknown = sorted(set(filters) - filter_parameter_names(source))
    if unknown:
        raise ApplicationError(
            "Unknown filters.",
            fields={f"filters.{name}": ["Not a filter of this source."] for name in unknown},
        )
    filterset = _filterset_class(source)(data=dict(filters), queryset=_base_queryset(source, project))
    if not filterset.is_valid():
        raise ApplicationError(
            "Invalid filters.",
            fields={f"filters.{name}": messages for name, messages in filterset_errors(filterset).items()},
        )
    return filterset.qs


def _base_queryset(source: str, project):
    model = Trace if source == ExportSource.TRACES else Span
    qs = model.objects.all() if project is None else model.objects.filter(project=project)
    return qs
