"""Writes of experiments: creation pinned to a dataset version, and results in bulk.

`experiment_results_upsert` is the one write path of results (the API posts them; the OTLP hook in
`otlp.py` hands over the root spans of tagged traces through `results_write`). It is set-based:
items are validated, their records read from the pinned version in a few queries, the spans that
back them written by the ingest service in one call (`span_batch_ingest`), and the result rows
upserted by (experiment, record_id) in one statement a chunk, so retries and concurrent posts of
the same records never duplicate anything.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.parsing import value_clean
from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_version_resolve
from apps.projects.models import Project
from apps.traces.models import Span, Trace, TraceOrigin
from apps.traces.selectors import trace_root_span_pk
from apps.traces.services import span_batch_ingest

from .models import Experiment
from .result_items import CleanResult, result_item_clean
from .result_rows import result_rows_upsert
from .selectors import LOOKUP_CHUNK, experiment_records_by_id

MAX_BATCH_RESULTS = 5_000
NOT_IN_VERSION = "Not a record of the experiment's dataset version."
SPAN_OF_OTHER_TRACE = "This span belongs to another trace."


# ---------------------------------------------------------------- experiments


def _version_of(dataset: Dataset, version: int | str | None):
    """The dataset version a number, a digit string or a tag names (None: the latest); 400 naming `version`."""
    ref = "" if version is None else str(version).strip()
    as_number = ref.isascii() and ref.isdigit()
    try:
        if as_number or not ref:
            return dataset_version_resolve(dataset=dataset, version=int(ref) if ref else None), ref
        return dataset_version_resolve(dataset=dataset, tag=ref), ref
    except ApplicationError as exc:
        messages = [m for ms in exc.fields.values() for m in ms] or [exc.message]
        raise ApplicationError(exc.message, fields={"version": messages}, status=400) from None


@transaction.atomic
def experiment_create(
    *,
    project: Project,
    dataset: Dataset,
    name: str,
    version: int | str | None = None,
    description: str = "",
    metadata: dict | None = None,
    user=None,
    actor: Any = None,
) -> Experiment:
    """A new experiment on `dataset` pinned to the version `version` names (a number or a tag such as
    `prod`; None: the latest), resolved now and stored, so later dataset changes never alter it."""
    if dataset.project_id != project.pk:
        raise ApplicationError("Unknown dataset.", fields={"dataset": ["Not a dataset of this project."]})
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Name the experiment.", fields={"name": ["This field is required."]})
    if metadata is not None and not isinstance(metadata, dict):
        raise ApplicationError("Metadata must be an object.", fields={"metadata": ["Expected a JSON object."]})
    dataset_version, ref = _version_of(dataset, version)
    if Experiment.objects.filter(project=project, name=name).exists():
        raise ApplicationError("An experiment of this name exists.", fields={"name": ["Already used in this project."]})
    experiment = Experiment.objects.create(
        project=project,
        dataset=dataset,
        dataset_version=dataset_version,
        version_number=dataset_version.number,
        version_ref=ref[:64],
        name=name[:200],
        description=description or "",
        metadata=value_clean(metadata or {}, field="metadata"),
        record_count=dataset_version.record_count,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    audit_record(
        actor=actor if actor is not None else user,
        action="experiment.create",
        obj=experiment,
        after={"dataset": dataset.pk, "version": dataset_version.number},
    )
    return experiment


# ---------------------------------------------------------------- results


@dataclass
class ResultsBatch:
    accepted: int = 0
    rejected: list[dict] = field(default_factory=list)  # [{"index": i, "fields": {"field": ["message"]}}]


def _derived_id(experiment: Experiment, record_id: str, kind: str) -> str:
    """A stable id for the span Assay creates: a retry upserts the same span."""
    digest = hashlib.sha256(f"{experiment.pk}:{record_id}".encode()).hexdigest()
    return f"exp{experiment.pk}-{kind}-{digest[:32]}"


def results_write(*, experiment: Experiment, rows: list[tuple]) -> None:
    """Upsert result rows (`result_rows.RESULT_COLUMNS` order, JSON as text) by (experiment, record_id)."""
    for start in range(0, len(rows), LOOKUP_CHUNK):
        result_rows_upsert(experiment_id=experiment.pk, rows=rows[start : start + LOOKUP_CHUNK])


def traces_mark_experiment(*, trace_pks) -> None:
    """Experiment traces stay out of the production lists (`Trace.origin`)."""
    pks = sorted(set(trace_pks))
    for start in range(0, len(pks), LOOKUP_CHUNK):
        Trace.objects.filter(pk__in=pks[start : start + LOOKUP_CHUNK]).exclude(origin=TraceOrigin.EXPERIMENT).update(
            origin=TraceOrigin.EXPERIMENT
        )


def _linked_spans(project: Project, results: list[CleanResult]) -> dict[str, tuple[int, int, str]]:
    """{record_id: (span pk, trace pk, trace_id)} of results naming a span (or a trace) the project has."""
    by_span = {r.span_id: r for r in results if r.span_id}
    by_trace = {r.trace_id: r for r in results if r.trace_id and not r.span_id}
    found: dict[str, tuple[int, int, str]] = {}
    span_ids = sorted(by_span)
    for start in range(0, len(span_ids), LOOKUP_CHUNK):
        spans = Span.objects.filter(project=project, span_id__in=span_ids[start : start + LOOKUP_CHUNK])
        for span_id, pk, trace_pk, trace_id in spans.values_list("span_id", "pk", "trace_id", "trace__trace_id"):
            found[by_span[span_id].record_id] = (pk, trace_pk, trace_id)
    trace_ids = sorted(by_trace)
    for start in range(0, len(trace_ids), LOOKUP_CHUNK):
        traces = Trace.objects.filter(project=project, trace_id__in=trace_ids[start : start + LOOKUP_CHUNK])
        for trace_id, pk, root_pk in traces.annotate(root=trace_root_span_pk()).values_list("trace_id", "pk", "root"):
            if root_pk is not None:
                found[by_trace[trace_id].record_id] = (root_pk, pk, trace_id)
    return found


def _fragment(text: str | None) -> Any:
    """Stored JSON text inside a value orjson serialises, copied as is (no parse)."""
    return None if text is None else orjson.Fragment(text)


def _span_item(experiment: Experiment, result: CleanResult, record: tuple[Any, Any], now: float) -> dict:
    metrics = {k: getattr(result, k) for k in ("input_tokens", "output_tokens", "total_tokens", "cost")}
    latency = result.latency_ms
    return {
        "trace_id": result.trace_id or _derived_id(experiment, result.record_id, "t"),
        "span_id": result.span_id or _derived_id(experiment, result.record_id, "s"),
        "name": experiment.name,
        "type": "task",
        "start_time": now - latency / 1000.0 if latency is not None and latency / 1000.0 < now else now,
        "end_time": now,
        "input": _fragment(record[0]),
        "output": _fragment(result.output_text),
        "expected": _fragment(record[1]),
        "metadata": {**result.metadata, "experiment": experiment.pk, "record_id": result.record_id},
        "metrics": {k: v for k, v in metrics.items() if v is not None},
        "error": result.error or None,
    }


def _result_row(result: CleanResult, record: tuple[Any, Any], span_pk: int | None, trace_id: str) -> tuple:
    return (
        result.record_id,
        record[0],
        record[1],
        result.output_text,
        result.error,
        result.latency_ms,
        result.input_tokens,
        result.output_tokens,
        result.total_tokens,
        result.cost,
        result.metadata_text,
        span_pk,
        trace_id,
    )


def _clean_batch(experiment: Experiment, items: list[Any], batch: ResultsBatch):
    """Valid results by record_id (the last of duplicates wins), their item indexes, their records."""
    latest: dict[str, tuple[int, CleanResult]] = {}
    indexes: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        result, errors = result_item_clean(item)
        if result is None:
            batch.rejected.append({"index": index, "fields": errors})
            continue
        latest[result.record_id] = (index, result)
        indexes.setdefault(result.record_id, []).append(index)
    records = experiment_records_by_id(experiment=experiment, record_ids=latest)
    for record_id in [r for r in latest if r not in records]:
        for index in indexes[record_id]:
            batch.rejected.append({"index": index, "fields": {"record_id": [NOT_IN_VERSION]}})
        del latest[record_id]
    return latest, indexes, records


def experiment_results_upsert(*, experiment: Experiment, items: list[Any]) -> ResultsBatch:
    """Validate, then upsert results by (experiment, record_id); good items are kept, bad ones listed.

    A result naming an existing span (`span_id`, or `trace_id` for its root span) of the project is
    linked to it; any other gets a one-span trace through the ingest service (`Trace.origin =
    experiment`) holding the record's input and expected and the result's output.
    """
    batch = ResultsBatch()
    if len(items) > MAX_BATCH_RESULTS:
        raise ApplicationError(
            f"At most {MAX_BATCH_RESULTS} results a request; send smaller batches.",
            fields={"results": [f"At most {MAX_BATCH_RESULTS} items."]},
            status=413,
        )
    latest, indexes, records = _clean_batch(experiment, items, batch)
    project = experiment.project
    with transaction.atomic():
        linked = _linked_spans(project, [r for _, r in latest.values()])
        for record_id, (_, result) in list(latest.items()):
            if record_id in linked and result.span_id and result.trace_id and linked[record_id][2] != result.trace_id:
                for index in indexes[record_id]:
                    batch.rejected.append({"index": index, "fields": {"trace_id": [SPAN_OF_OTHER_TRACE]}})
                del latest[record_id], linked[record_id]
        created = [(record_id, r) for record_id, (_, r) in latest.items() if record_id not in linked]
        if created:
            now = time.time()
            items_in = [_span_item(experiment, r, records[record_id], now) for record_id, r in created]
            ingested = span_batch_ingest(project=project, items=items_in)
            for refused in ingested.rejected:
                record_id = created[refused["index"]][0]
                for index in indexes[record_id]:
                    batch.rejected.append({"index": index, "fields": refused["fields"]})
                del latest[record_id]
            refs = [
                r._replace(trace_id=i["trace_id"], span_id=i["span_id"])
                for (_, r), i in zip(created, items_in, strict=True)
            ]
            linked.update(_linked_spans(project, [r for r in refs if r.record_id in latest]))
        traces_mark_experiment(trace_pks=[linked[record_id][1] for record_id in latest])
        rows = [
            _result_row(result, records[record_id], linked[record_id][0], linked[record_id][2])
            for record_id, (_, result) in latest.items()
        ]
        results_write(experiment=experiment, rows=rows)
    batch.accepted = len(items) - len(batch.rejected)
    batch.rejected.sort(key=lambda entry: entry["index"])
    return batch
