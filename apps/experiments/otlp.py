"""Results from telemetry: traces whose root span carries `assay.experiment_id` and
`assay.dataset_record_id` (OpenTelemetry attributes, or the same keys in an ingested span's metadata)
become that experiment's results, and their traces get `origin = experiment`.

It runs as an ingest hook (`apps.core.registry.register_ingest_hook`) after every committed ingest
batch, REST or OTLP, so the traces app needs no knowledge of experiments. A trace whose spans
arrive in several batches is looked at again each time: the result follows the trace's totals.
"""

from __future__ import annotations

import logging

from django.db import transaction

from apps.core.parsing import is_id
from apps.traces.ingest import json_text
from apps.traces.models import Span

from .models import Experiment
from .selectors import LOOKUP_CHUNK, experiment_records_by_id
from .services import results_write, traces_mark_experiment

EXPERIMENT_ATTRIBUTE = "assay.experiment_id"
RECORD_ATTRIBUTE = "assay.dataset_record_id"
ROOT_FIELDS = (
    "pk",
    "trace_id",
    "trace__trace_id",
    "metadata",
    "output",
    "error",
    "trace__duration_ms",
    "trace__input_tokens",
    "trace__output_tokens",
    "trace__total_tokens",
    "trace__total_cost",
)
OTLP_METADATA = '{"source": "otlp"}'
log = logging.getLogger(__name__)


def _tagged_roots(project, trace_pks: list[int]) -> list[tuple]:
    """Root spans (no parent) carrying the experiment attribute among these traces: an index lookup by
    trace, cheap enough to run after every ingest batch (most have none)."""
    roots: list[tuple] = []
    for start in range(0, len(trace_pks), LOOKUP_CHUNK):
        spans = Span.objects.filter(
            project=project, trace_id__in=trace_pks[start : start + LOOKUP_CHUNK], parent_span_id=""
        )
        roots.extend(spans.filter(metadata__has_key=EXPERIMENT_ATTRIBUTE).order_by().values_list(*ROOT_FIELDS))
    return roots


def _row(root: tuple, record_id: str, record: tuple) -> tuple:
    """A row in `result_rows.RESULT_COLUMNS` order from a tagged root span and its trace's totals."""
    span_pk, _, trace_id, _, output, error, duration, input_tokens, output_tokens, total_tokens, cost = root
    output_text = None if output is None else json_text(output)
    return (
        record_id,
        *record,
        output_text,
        error or "",
        duration,
        input_tokens,
        output_tokens,
        total_tokens,
        cost,
        OTLP_METADATA,
        span_pk,
        trace_id,
    )


def experiment_results_from_traces(*, project, trace_pks: list[int]) -> int:
    """Write the results the tagged traces among `trace_pks` carry; returns how many were written."""
    roots = _tagged_roots(project, sorted(set(trace_pks)))
    if not roots:
        return 0
    by_experiment: dict[int, dict[str, tuple]] = {}
    for root in roots:
        metadata = root[3] or {}
        experiment_ref, record_ref = metadata.get(EXPERIMENT_ATTRIBUTE), metadata.get(RECORD_ATTRIBUTE)
        if not is_id(experiment_ref) or isinstance(experiment_ref, bool) or record_ref in (None, ""):
            log.warning("trace %s: %s or %s is not usable", root[2], EXPERIMENT_ATTRIBUTE, RECORD_ATTRIBUTE)
            continue
        by_experiment.setdefault(int(experiment_ref), {})[str(record_ref)[:255]] = root
    experiments = Experiment.objects.filter(project=project, pk__in=list(by_experiment)).select_related("dataset")
    written = 0
    with transaction.atomic():
        traces_mark_experiment(trace_pks=[root[1] for root in roots])  # tagged: an experiment's run either way
        for experiment in experiments:
            tagged = by_experiment[experiment.pk]
            records = experiment_records_by_id(experiment=experiment, record_ids=tagged)
            rows = [_row(root, rid, records[rid]) for rid, root in tagged.items() if rid in records]
            for rid in sorted(set(tagged) - set(records)):
                log.warning("experiment %s: record %r is not in its dataset version", experiment.pk, rid)
            if rows:
                results_write(experiment=experiment, rows=rows)
                written += len(rows)
    return written
