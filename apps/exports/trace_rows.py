"""The `traces` source: a trace with its root span's input, output, expected and gold, and its span tree."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import F

from apps.traces.models import Span

from .annotations import ANNOTATIONS, GOLD_COLUMNS, NO_GOLD, chunk_annotations, chunk_gold, project_has_gold
from .columns import provided_values, providers_for
from .formats.base import Batch, Column, SourceMeta
from .models import ExportJob, ExportSource
from .readers import _ObservedSource
from .span_source import SPAN_FIELDS

TRACE_FIELDS: list[tuple[str, str, str]] = [
    ("trace_id", "str", "trace_id"),
    ("name", "str", "name"),
    ("start_time", "datetime", "start_time"),
    ("end_time", "datetime", "end_time"),
    ("duration_ms", "float", "duration_ms"),
    ("span_count", "int", "span_count"),
    ("has_error", "bool", "has_error"),
    ("input_tokens", "int", "input_tokens"),
    ("output_tokens", "int", "output_tokens"),
    ("total_tokens", "int", "total_tokens"),
    ("total_cost", "float", "total_cost"),
    ("user_id", "str", "user_id"),
    ("session_id", "str", "session_id"),
    ("tags", "json", "tags"),
    ("review_status", "str", "review_status"),
    ("created_at", "datetime", "created_at"),
    ("updated_at", "datetime", "updated_at"),
]
# The trace-level input/output/expected (and metrics) come from the root span; then the span tree.


def _span_dict(span: dict, annotations: dict | None) -> dict:
    data = {key: span[key] for key in SPAN_DICT_KEYS}
    for key in ("start_time", "end_time", "created_at", "updated_at"):
        data[key] = data[key].isoformat() if data[key] is not None else None
    annotations = annotations or {}
    for column, key in ANNOTATIONS.items():
        data[column] = annotations.get(key) or []
    return data


SPAN_DICT_KEYS = [name for name, _, _, _ in SPAN_FIELDS if name != "trace_id"]


class TraceSource(_ObservedSource):
    """A trace with its root span's input, output and expected, and its span tree. In the flat layout
    (CSV) the root's input/output are text cells and its metrics columns, and the span tree (a JSON
    blob in a spreadsheet) is left out unless `options.spans_column` asks for it."""

    source = ExportSource.TRACES

    def __init__(self, job: ExportJob, *, chunk_size: int):
        super().__init__(job, chunk_size=chunk_size)
        flat = self.layout == "flat"
        self.providers = [] if self.layout == "nested" else providers_for(job.project, self.source, self.options)
        self.with_metrics = self.layout != "nested"
        self.with_spans = not flat or bool(self.options.get("spans_column"))
        columns = [Column(n, k) for n, k, _ in TRACE_FIELDS]
        columns += [Column(n, "json", as_text=flat) for n in ("input", "output", "expected")]
        columns += [Column(n, "json", optional=True) for n in GOLD_COLUMNS]  # the root span's gold
        columns += [Column("metrics", "json")] if self.with_metrics else []
        columns += [Column("spans", "json", as_text=flat)] if self.with_spans else []
        columns += [c for p in self.providers for c in p.columns]
        self.meta = SourceMeta(columns=tuple(columns), id_column="trace_id")

    def batches(self) -> Iterator[Batch]:
        fields = [expr for _, _, expr in TRACE_FIELDS] + ["root_span_id"]
        span_values = [name for name in SPAN_DICT_KEYS] + ["trace_pk"]
        original_chunk = self.chunk_size
        # A trace carries all its spans: read fewer traces per chunk.
        self.chunk_size = max(20, original_chunk // 20)
        try:
            for rows in self.pk_chunks(self.queryset(), fields):
                trace_pks = [row[0] for row in rows]
                spans = list(
                    Span.objects.filter(trace_id__in=trace_pks)
                    .annotate(trace_pk=F("trace_id"))
                    .order_by("trace_id", "start_time", "id")
                    .values("pk", *span_values)
                )
                annotations = chunk_annotations([s["pk"] for s in spans])
                roots = {row[-1] for row in rows}
                if self.has_gold is None:
                    self.has_gold = project_has_gold(self.job.project)
                golds = chunk_gold(
                    [s["pk"] for s in spans if s["span_id"] in roots or not s["parent_span_id"]],
                    project_has_gold=self.has_gold,
                )
                by_trace: dict[int, list[dict]] = {}
                for span in spans:
                    by_trace.setdefault(span["trace_pk"], []).append(span)
                trees = [by_trace.get(row[0], []) for row in rows]
                provided = (
                    provided_values(self.providers, [[s["pk"] for s in tree] for tree in trees], annotations)
                    if self.providers
                    else None
                )
                out = []
                for i, (row, tree) in enumerate(zip(rows, trees, strict=True)):
                    root_span_id = row[-1]
                    root = next((s for s in tree if s["span_id"] == root_span_id), None) or next(
                        (s for s in tree if not s["parent_span_id"]), None
                    )
                    extra = (
                        root["input"] if root else None,
                        root["output"] if root else None,
                        root["expected"] if root else None,
                        *(golds.get(root["pk"], NO_GOLD) if root else NO_GOLD),
                    )
                    if self.with_metrics:
                        extra += (root["metrics"] if root else None,)
                    if self.with_spans:
                        extra += ([_span_dict(s, annotations.get(s["pk"])) for s in tree],)
                    if provided is not None:
                        extra += provided[i]
                    out.append(row[1:-1] + extra)
                yield Batch(rows=out)
        finally:
            self.chunk_size = original_chunk
