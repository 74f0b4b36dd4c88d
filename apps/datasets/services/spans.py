"""Records from spans (logs and end-user feedback): the mapping of a span to a record, and adding spans."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from ..gold import gold_expected, record_gold_metadata, spans_gold
from ..models import (
    Dataset,
    DatasetVersion,
    RecordOrigin,
)
from .records import _labels, dataset_records_upsert

EXPECTED_SOURCES = ("auto", "gold", "output", "correction", "none")
METADATA_KEY_MAX = 200


@dataclass
class SpanMapping:
    """How a span becomes a record."""

    input_path: str = ""  # JSONPath into the span's input; empty: the whole input
    expected_source: str = "auto"  # auto: the gold Expected if any, else the correction, else the output
    expected_path: str = ""  # JSONPath into the output, when expected comes from the output
    metadata_keys: list[str] = field(default_factory=list)  # span metadata keys to keep; "*" keeps all
    carry_annotations: bool = False  # scores, tags, comments → metadata["annotations"]
    tags: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jsonpath(expression: str, name: str, errors: dict[str, list[str]]):
    if not expression:
        return None
    from jsonpath_ng.ext import parse

    try:
        return parse(expression)
    except Exception as exc:  # jsonpath-ng raises several parser error types
        errors[name] = [f"Not a valid JSONPath: {exc}"]
        return None


def span_mapping_clean(data: Any) -> SpanMapping:
    """A SpanMapping from user input (a dict); ApplicationError naming `mapping.<field>` otherwise."""
    if data is None:
        data = {}
    if isinstance(data, SpanMapping):
        data = data.as_dict()
    if not isinstance(data, dict):
        raise ApplicationError("Invalid mapping.", fields={"mapping": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    known = set(SpanMapping.__dataclass_fields__)
    for key in sorted(set(data) - known):
        errors[f"mapping.{key}"] = ["Unknown field."]
    out = SpanMapping()
    for key in ("input_path", "expected_path"):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value) > 500:
            errors[f"mapping.{key}"] = ["Must be a JSONPath string (at most 500 characters)."]
            continue
        setattr(out, key, value.strip())
        _jsonpath(value.strip(), f"mapping.{key}", errors)
    source = data.get("expected_source") or "auto"
    if source not in EXPECTED_SOURCES:
        errors["mapping.expected_source"] = [f"Choose one of {', '.join(EXPECTED_SOURCES)}."]
    out.expected_source = source
    keys = data.get("metadata_keys") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list) or not all(isinstance(k, str) and 0 < len(k) <= METADATA_KEY_MAX for k in keys):
        errors["mapping.metadata_keys"] = ["Must be a list of metadata keys."]
    else:
        out.metadata_keys = keys
    out.carry_annotations = bool(data.get("carry_annotations", False))
    for key in ("tags", "splits"):
        labels, msg = _labels(data.get(key), kind=key)
        if msg:
            errors[f"mapping.{key}"] = [msg]
        else:
            setattr(out, key, labels)
    if errors:
        raise ApplicationError("Invalid mapping.", fields=errors)
    return out


def _extract(value: Any, expression) -> Any:
    if expression is None:
        return value
    matches = [m.value for m in expression.find(value)] if value is not None else []
    if not matches:
        return None
    return matches[0] if len(matches) == 1 else matches


def _span_annotations(span_pks: list[int]) -> dict[int, dict[str, Any]]:
    from apps.reviews import selectors as review_selectors

    bulk = review_selectors.span_annotations_bulk(span_pks)
    return {pk: _jsonable(value) for pk, value in bulk.items()}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def span_to_record(
    span,
    mapping: SpanMapping,
    *,
    annotations: dict[str, Any] | None = None,
    input_expr=None,
    expected_expr=None,
    gold: dict | None = None,
) -> dict[str, Any]:
    """The record a span becomes under `mapping` (record_id `span:<span_id>`, so re-adding updates it);
    `gold`: the span's gold (apps/datasets/gold.py)."""
    output = _extract(span.output, expected_expr)
    has_gold, gold_value = gold_expected(gold)
    from_gold = mapping.expected_source == "gold" or (mapping.expected_source == "auto" and has_gold)
    if from_gold:
        expected = gold_value
    elif mapping.expected_source == "auto":
        expected = span.expected if span.expected is not None else output
    elif mapping.expected_source == "output":
        expected = output
    elif mapping.expected_source == "correction":
        expected = span.expected
    else:
        expected = None
    span_metadata = span.metadata if isinstance(span.metadata, dict) else {}
    if "*" in mapping.metadata_keys:
        metadata = dict(span_metadata)
    else:
        metadata = {k: span_metadata[k] for k in mapping.metadata_keys if k in span_metadata}
    metadata["source"] = {"span_id": span.span_id, "trace_id": span.trace.trace_id, "span_name": span.name}
    if annotations is not None:
        metadata["annotations"] = annotations
    if gold is not None:
        metadata["assay"] = record_gold_metadata(gold, expected_from_gold=has_gold and from_gold)
    return {
        "record_id": f"span:{span.span_id}",
        "input": _extract(span.input, input_expr),
        "expected": expected,
        "metadata": metadata,
        "tags": list(mapping.tags),
        "splits": list(mapping.splits),
        "source_span_id": span.pk,
    }


def span_records_preview(spans, mapping: SpanMapping | dict, *, limit: int = 3) -> list[dict[str, Any]]:
    """The records the first `limit` spans (by pk) would become under `mapping`, nothing written."""
    mapping = span_mapping_clean(mapping)
    errors: dict[str, list[str]] = {}
    input_expr = _jsonpath(mapping.input_path, "input_path", errors)
    expected_expr = _jsonpath(mapping.expected_path, "expected_path", errors)
    shown = list(spans.select_related("trace").order_by("pk")[:limit])
    golds = spans_gold([s.pk for s in shown])
    return [
        span_to_record(span, mapping, input_expr=input_expr, expected_expr=expected_expr, gold=golds.get(span.pk))
        for span in shown
    ]


@dataclass
class AddSpansResult:
    version: DatasetVersion | None
    spans: int = 0
    skipped: list[str] = field(default_factory=list)  # span ids whose mapped input was empty


def _span_chunks(dataset: Dataset, spans_queryset, span_pks: list[int] | None, size: int = 500):
    from apps.traces.models import Span

    if span_pks is not None:
        for i in range(0, len(span_pks), size):
            yield list(
                Span.objects.filter(project_id=dataset.project_id, pk__in=span_pks[i : i + size])
                .select_related("trace")
                .order_by("pk")
            )
        return
    chunk: list = []
    for span in (
        spans_queryset.filter(project_id=dataset.project_id)
        .select_related("trace")
        .order_by("pk")
        .iterator(chunk_size=size)
    ):
        chunk.append(span)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def dataset_add_spans(
    *,
    dataset: Dataset,
    spans_queryset=None,
    mapping: SpanMapping | dict,
    author=None,
    message: str = "",
    origin: str = RecordOrigin.LOG,
    progress=None,
    span_pks: list[int] | None = None,
) -> AddSpansResult:
    """Add (or update) one record per span of `spans_queryset` (or `span_pks`) in the dataset's project,
    as ONE version.

    Spans are read in chunks; `progress(done, total)` is called after each chunk. Spans whose mapped
    input is empty are skipped and reported.
    """
    mapping = span_mapping_clean(mapping)
    errors: dict[str, list[str]] = {}
    input_expr = _jsonpath(mapping.input_path, "mapping.input_path", errors)
    expected_expr = _jsonpath(mapping.expected_path, "mapping.expected_path", errors)
    if span_pks is not None:
        span_pks = sorted({int(pk) for pk in span_pks})
        total = len(span_pks)
    else:
        total = spans_queryset.filter(project_id=dataset.project_id).count()
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    done = 0
    for chunk in _span_chunks(dataset, spans_queryset, span_pks):
        notes = _span_annotations([s.pk for s in chunk]) if mapping.carry_annotations else {}
        golds = spans_gold([s.pk for s in chunk])
        for span in chunk:
            row = span_to_record(
                span,
                mapping,
                annotations=notes.get(span.pk, {}) if mapping.carry_annotations else None,
                input_expr=input_expr,
                expected_expr=expected_expr,
                gold=golds.get(span.pk),
            )
            if row["input"] is None:
                skipped.append(span.span_id)
            else:
                rows.append(row)
        done += len(chunk)
        if progress:
            progress(min(done, total), total)
    if not rows:
        return AddSpansResult(version=None, spans=done, skipped=skipped)
    version = dataset_records_upsert(
        dataset=dataset, records=rows, author=author, origin=origin, message=message or f"Add {len(rows)} span(s)"
    )
    return AddSpansResult(version=version, spans=done, skipped=skipped)


def feedback_spans(*, project: Project):
    """Spans with negative end-user feedback that carry a correction."""
    from apps.reviews import selectors as review_selectors

    return review_selectors.spans_with_negative_feedback(project).filter(expected__isnull=False)


def dataset_add_from_feedback(
    *,
    dataset: Dataset,
    author=None,
    spans_queryset=None,
    mapping: SpanMapping | dict | None = None,
    message: str = "",
    progress=None,
) -> AddSpansResult:
    """Turn spans with negative end-user feedback and a correction into records whose expected is it."""
    spans = feedback_spans(project=dataset.project)
    if spans_queryset is not None:
        spans = spans.filter(pk__in=spans_queryset.values("pk"))
    if not isinstance(mapping, SpanMapping):
        # Why the end user was unhappy (their scores and comments) is worth keeping by default.
        mapping = {"carry_annotations": True, **(mapping or {})}
    mapping = span_mapping_clean(mapping)
    mapping.expected_source = "correction"
    return dataset_add_spans(
        dataset=dataset,
        spans_queryset=spans,
        mapping=mapping,
        author=author,
        origin=RecordOrigin.FEEDBACK,
        message=message or "Add corrected negative feedback",
        progress=progress,
    )
