"""One page of a comparison's records, side by side: each experiment's output (diffed against the
baseline's), error, latency, scores and trace; filtered by score change. Pages are keyset pages in
record order, driven by an index either way: the baseline's (experiment, record_id) without a filter,
`ComparisonRecord`'s (comparison, experiment, config, change, record_id) with one. Four queries a page
whatever the experiments' size."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from apps.core.exceptions import ApplicationError
from apps.reviews.models import Score
from apps.views.components import text_diff_ops
from apps.views.documents import value_text

from .compare import Comparison, config_by_name
from .models import ComparisonRecord, ExperimentResult, RecordChange

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
CHANGES = {c.label: c.value for c in RecordChange}


@dataclass
class RecordFilter:
    config: Any = None  # ScoreConfig
    change: int | None = None
    against: Any = None  # the Experiment whose change against the baseline is filtered


def encode_cursor(record_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"r": record_id}).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if isinstance(data, dict) and isinstance(data.get("r"), str):
            return data["r"]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ApplicationError("Invalid cursor.", fields={"cursor": ["Invalid cursor."]})


def record_filter(comparison: Comparison, params) -> RecordFilter:
    """`?config=<name>&change=regressed|improved|unchanged[&against=<id>]` (against: default the second id)."""
    config = config_by_name(comparison, params.get("config"))
    change_name = params.get("change") or ""
    if change_name and change_name not in CHANGES:
        raise ApplicationError("Invalid change.", fields={"change": ["One of regressed, improved, unchanged."]})
    if change_name and config is None:
        raise ApplicationError("Name the config.", fields={"config": ["A change filter needs a score config."]})
    against = comparison.experiments[1]
    raw = params.get("against")
    if raw not in (None, ""):
        against = next((e for e in comparison.experiments[1:] if str(e.pk) == str(raw)), None)
        if against is None:
            raise ApplicationError("Invalid against.", fields={"against": ["One of the compared ids but the first."]})
    return RecordFilter(config=config, change=CHANGES[change_name] if change_name else None, against=against)


def _page_ids(comparison: Comparison, flt: RecordFilter, after: str | None, size: int) -> list[str]:
    if flt.change is not None:
        qs = ComparisonRecord.objects.filter(
            comparison=comparison.cache, experiment=flt.against, config=flt.config, change=flt.change
        )
    else:
        qs = ExperimentResult.objects.filter(experiment=comparison.baseline)
    if after is not None:
        qs = qs.filter(record_id__gt=after)
    return list(qs.order_by("record_id").values_list("record_id", flat=True)[: size + 1])


def trace_link_for_span(span) -> str:
    """The admin trace page with `span` selected."""
    url = reverse("admin:traces_trace_by_id", args=[span.trace.trace_id])
    return f"{url}?{urlencode({'span': span.span_id})}"


def trace_link(result: ExperimentResult) -> str | None:
    if result.span is not None:
        return trace_link_for_span(result.span)
    return reverse("admin:traces_trace_by_id", args=[result.trace_id]) if result.trace_id else None


def _scores(results: list[ExperimentResult], comparison: Comparison) -> dict[int, dict[int, float]]:
    """{span pk: {config id: value}}, the newest numeric score, as the summary counts them."""
    span_ids = [r.span_id for r in results if r.span_id]
    out: dict[int, dict[int, float]] = defaultdict(dict)
    rows = Score.objects.filter(
        span_id__in=span_ids, config_id__in=[c.pk for c in comparison.configs], value__isnull=False
    ).order_by("id")
    for span_id, config_id, value in rows.values_list("span_id", "config_id", "value"):
        out[span_id][config_id] = value
    return out


def _changes(comparison: Comparison, record_ids: list[str]) -> dict[tuple[str, int, int], int]:
    rows = ComparisonRecord.objects.filter(comparison=comparison.cache, record_id__in=record_ids)
    return {
        (r, e, c): change for r, e, c, change in rows.values_list("record_id", "experiment_id", "config_id", "change")
    }


def shown_configs(comparison: Comparison) -> list:
    """The configs the summary has figures for (numeric configs with scores on these experiments)."""
    ids = {row["config_id"] for row in comparison.summary.get("configs", [])}
    return [c for c in comparison.configs if c.pk in ids]


def _score_cells(result, span_scores: dict, changes: dict, configs: list, is_baseline: bool) -> list[dict]:
    cells = []
    for config in configs:
        change = None if is_baseline else changes.get((result.record_id, result.experiment_id, config.pk))
        cells.append(
            {
                "config": config.name,
                "value": span_scores.get(config.pk),
                "change": None if change is None else RecordChange(change).label,
            }
        )
    return cells


def _cell(result, baseline_output: str | None, scores, changes, configs, is_baseline: bool) -> dict:
    if result is None:
        return {"missing": True}
    output = value_text(result.output)
    diffed = not is_baseline and baseline_output is not None
    return {
        "missing": False,
        "experiment": result.experiment_id,
        "output": output,
        "diff": text_diff_ops(baseline_output, output) if diffed else None,
        "same_as_baseline": output == baseline_output if diffed else None,
        "error": result.error,
        "latency_ms": result.latency_ms,
        "total_tokens": result.total_tokens,
        "cost": result.cost,
        "scores": _score_cells(result, scores.get(result.span_id, {}), changes, configs, is_baseline),
        "span_id": result.span.span_id if result.span_id else None,
        "trace_id": result.span.trace.trace_id if result.span_id else result.trace_id or None,
        "trace_url": trace_link(result),
    }


def records_page(comparison: Comparison, flt: RecordFilter, *, cursor: str | None, size: int) -> dict[str, Any]:
    """{"records": [...], "next_cursor": str | None}; each record has input and expected (the baseline's)
    and one cell per experiment in the compared order."""
    ids = _page_ids(comparison, flt, decode_cursor(cursor), size)
    more, ids = len(ids) > size, ids[:size]
    results = list(
        ExperimentResult.objects.filter(experiment__in=comparison.experiments, record_id__in=ids).select_related(
            "span__trace"
        )
    )
    by_key = {(r.experiment_id, r.record_id): r for r in results}
    scores, changes, configs = _scores(results, comparison), _changes(comparison, ids), shown_configs(comparison)
    records = []
    for record_id in ids:
        row = [by_key.get((e.pk, record_id)) for e in comparison.experiments]
        base_output = value_text(row[0].output) if row[0] is not None else None
        first = next((r for r in row if r is not None), None)
        records.append(
            {
                "record_id": record_id,
                "input": value_text(first.input) if first else "",
                "expected": value_text(first.expected) if first else "",
                "experiments": [
                    _cell(result, base_output, scores, changes, configs, i == 0) for i, result in enumerate(row)
                ],
            }
        )
    return {"records": records, "next_cursor": encode_cursor(ids[-1]) if more and ids else None}


def comparison_page(comparison: Comparison, params, *, cursor: str | None, size: int) -> dict:
    """The summary and one page of records (the API answers it; the admin page renders it)."""
    flt = record_filter(comparison, params)
    page = records_page(comparison, flt, cursor=cursor, size=size)
    version = comparison.baseline.dataset_version
    return {
        "baseline": comparison.baseline.pk,
        "dataset": {"id": comparison.baseline.dataset_id, "name": comparison.baseline.dataset.name},
        "dataset_version": version.number,
        "summary": {**comparison.summary, "computed_at": comparison.cache.computed_at.isoformat()},
        "filter": {
            "config": flt.config.name if flt.config else None,
            "change": params.get("change") or None,
            "against": flt.against.pk,
        },
        **page,
    }
