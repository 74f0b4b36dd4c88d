"""Readers: what an export job reads, as batches of rows with declared column kinds.

Spans and dataset records stream from one query with `.iterator(chunk_size=…)` (a server-side
cursor on PostgreSQL, `fetchmany` on SQLite) in primary-key / record-id order. JSON columns are
read as their JSON text (`Cast(..., TextField())`) so the fast formats copy them without parsing.
Annotations are fetched once per chunk for the chunk's spans. Traces (`trace_rows`) carry their
spans nested; scores (`score_rows`) are one row per score; reading ahead is `prefetch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from django.db import connections
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast

from apps.core.exceptions import ApplicationError
from apps.core.filters import filterset_errors
from apps.traces.models import Span, Trace

from .columns import provided_values, providers_for
from .formats.base import Batch, Column, SourceMeta
from .models import ExportJob, ExportSource
from .span_columns import span_fields
from .windows import changed_in_window


def _raw(name: str):
    return Cast(name, TextField())


class IsoTimestamp(Func):
    """A UTC timestamp as ISO 8601 text, formatted by the database (Python datetime parsing is slow)."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]" text on SQLite.
        return self.as_sql(compiler, connection, template="(replace(%(expressions)s, ' ', 'T') || '+00:00')", **extra)


class JSONPlainText(Func):
    """PostgreSQL: a jsonb value as plain text: a JSON string as the string itself, else its JSON text."""

    output_field = TextField()
    template = (
        "CASE jsonb_typeof(%(expressions)s) WHEN 'string' THEN %(expressions)s #>> '{}' ELSE %(expressions)s::text END"
    )


class JSONObjectText(Func):
    """PostgreSQL: `json_build_object('name', expr, …)::text` over (name, kind, expr, nullable) fields."""

    function = "json_build_object"
    output_field = TextField()

    def __init__(self, fields, text_columns=()):
        pairs = []
        for name, kind, expr, _nullable in fields:
            if kind == "rawjson" and name in text_columns:
                expr = JSONPlainText(F(name))
            elif kind == "rawjson":  # the jsonb column itself, embedded as JSON (not its text)
                expr = F(name)
            elif kind == "timestamp":  # JSON renders timestamptz as ISO 8601 in the session zone (UTC)
                expr = F(name)
            pairs += [Value(name), F(expr) if isinstance(expr, str) else expr]
        super().__init__(*pairs)

    def as_sql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, **extra)
        return f"({sql})::text", params


NULLABLE = True
NOT_NULL = False

# (column, kind, expression in values_list, nullable)
SPAN_FIELDS: list[tuple[str, str, Any, bool]] = span_fields(timestamp=IsoTimestamp, raw=_raw)
# Added per chunk from apps.reviews.selectors.span_annotations_bulk: column -> key in its answer.
# `tags` above are the names; `tag_details` says who added each and when.
ANNOTATIONS = {"scores": "scores", "tag_details": "tags", "comments": "comments", "corrections": "corrections"}
ANNOTATION_COLUMNS = tuple(ANNOTATIONS)
# Gold values of adjudicated review items (apps.queues.gold.span_gold), per chunk, in every layout:
# `gold` maps each config name to its gold value (CSV: gold.<config> columns), `gold_expected` is the
# gold Expected (CSV: gold_expected.<key> columns for an object).
GOLD_COLUMNS = ("gold", "gold_expected")
NO_GOLD = (None, None)

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

DATASET_FIELDS: list[tuple[str, str, Any, bool]] = [
    ("record_id", "str", "record_id", NOT_NULL),
    ("input", "rawjson", _raw("input"), NULLABLE),
    ("expected", "rawjson", _raw("expected"), NULLABLE),
    ("metadata", "rawjson", _raw("metadata"), NOT_NULL),
    ("tags", "rawjson", _raw("tags"), NOT_NULL),
    ("splits", "rawjson", _raw("splits"), NOT_NULL),
    ("origin", "str", "origin", NOT_NULL),
    ("source_span_id", "str", "source_span__span_id", NULLABLE),
    ("version_from", "int", "version_from", NOT_NULL),
    ("created_at", "timestamp", IsoTimestamp("created_at"), NOT_NULL),
]

SELECTION_COUNT_LIMIT = 5000  # SQLite allows ~32k bound parameters; counting bigger selections is not worth it

SPAN_META = SourceMeta(
    columns=tuple(Column(n, k, nullable) for n, k, _, nullable in SPAN_FIELDS)
    + tuple(Column(n, "json") for n in ANNOTATION_COLUMNS),
    id_column="span_id",
)
DATASET_META = SourceMeta(
    columns=tuple(Column(n, k, nullable) for n, k, _, nullable in DATASET_FIELDS), id_column="record_id"
)


# --- filters -----------------------------------------------------------------------------------


def _filterset_class(source: str):
    from apps.traces.filters import SpanFilter, TraceFilter

    # A scores export picks the scores of the spans its span filters select.
    return {ExportSource.SPANS: SpanFilter, ExportSource.SCORES: SpanFilter, ExportSource.TRACES: TraceFilter}[source]


def filter_parameter_names(source: str) -> set[str]:
    """The parameters the source's FilterSet declares, less `project` (the job's project scopes everything)."""
    from apps.traces.filters import filter_parameter_names as declared

    return declared(_filterset_class(source)) - {"project"}


def filtered_queryset(*, source: str, project, filters: dict | None):
    """The project's spans or traces after the declared FilterSet; unknown or invalid filters → 400."""
    filters = filters or {}
    if not isinstance(filters, dict):
        raise ApplicationError("Filters must be an object.", fields={"filters": ["Give an object of filters."]})
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


# --- readers -----------------------------------------------------------------------------------


def _chunks(iterator: Iterator, size: int) -> Iterator[list]:
    while True:
        rows = list(islice(iterator, size))
        if not rows:
            return
        yield rows


def _stream(rows_qs, size: int, *, key: str) -> Iterator[list[tuple]]:
    """Chunks of a values_list ordered by `key` (its first column).

    PostgreSQL: one query through a server-side cursor. SQLite: keyset pages (`key > last`), because
    a statement left open between chunks keeps SQLite's implicit transaction open, which would hold
    back the job's own progress/heartbeat writes (and block a cancel) until the end."""
    if connections[rows_qs.db].vendor == "postgresql":
        yield from _chunks(rows_qs.iterator(chunk_size=size), size)
        return
    last = None
    while True:
        page = rows_qs if last is None else rows_qs.filter(**{f"{key}__gt": last})
        rows = list(page[:size])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _annotated_among(span_pks: list[int]) -> list[int]:
    """The spans of a chunk that carry any score, tag, comment or correction. Asked by pk range (the
    chunk is in pk order), one indexed probe per kind in one UNION query, so an unannotated chunk costs
    one round trip of empty index scans."""
    from apps.reviews.models import Comment, Correction, Score
    from apps.traces.models import SpanTag

    low, high = min(span_pks), max(span_pks)
    probes = [
        model.objects.filter(span_id__gte=low, span_id__lte=high).order_by().values_list("span_id", flat=True)
        for model in (Score, SpanTag, Comment, Correction)
    ]
    found = set(probes[0].union(*probes[1:]))  # one round trip
    return sorted(found.intersection(span_pks))


def _gold(span_pks: list[int], *, project_has_gold: bool = True) -> dict[int, tuple]:
    """span pk -> (gold scores by config, gold Expected or None), for spans with gold only.
    `project_has_gold` False (asked once per job, `project_has_gold`): no query per chunk."""
    if not project_has_gold or not span_pks:
        return {}
    from apps.queues.gold import span_gold

    return {pk: (g["scores"] or None, g.get("expected")) for pk, g in span_gold(span_pks).items()}


def project_has_gold(project) -> bool:
    from apps.queues.models import GoldValue

    return GoldValue.objects.filter(project=project).exists()


def _annotations(span_pks: list[int]) -> dict[int, dict]:
    from apps.reviews.selectors import span_annotations_bulk

    annotated = _annotated_among(span_pks) if span_pks else []
    return span_annotations_bulk(annotated) if annotated else {}


class JobSource:
    """`layout` is the writer's (formats.base.Writer.layout): "nested" rows keep the annotation lists;
    "table" adds the computed columns (apps.exports.columns); "flat" has them instead of the lists."""

    meta: SourceMeta

    def __init__(self, job: ExportJob, *, chunk_size: int):
        from .formats import writer_for

        self.job = job
        self.chunk_size = chunk_size
        self.layout = writer_for(job.format).layout
        self.options = job.options or {}

    def count(self) -> int:
        raise NotImplementedError

    def batches(self) -> Iterator[Batch]:
        raise NotImplementedError


class _ObservedSource(JobSource):
    """Spans or traces: FilterSet, optional admin selection, optional incremental window."""

    source = ExportSource.SPANS
    has_gold: bool | None = None  # whether the project has any gold value (asked at the first chunk)

    def queryset(self):
        qs = filtered_queryset(source=self.source, project=self.job.project, filters=self.job.filters)
        return changed_in_window(qs, source=self.source, start=self.job.window_start, end=self.job.window_end)

    def count(self) -> int:
        """Rows to export, for the progress bar (a large admin selection counts as its size)."""
        selected = self.job.selected_pks
        if selected is not None and len(selected) > SELECTION_COUNT_LIMIT:
            return len(selected)
        qs = self.queryset()
        return (qs.filter(pk__in=selected) if selected is not None else qs).count()

    def pk_chunks(self, qs, fields: list) -> Iterator[list[tuple]]:
        """Rows (pk first) in pk order: one streamed query, or slices of the admin selection."""
        qs = qs.order_by("pk")
        if self.job.selected_pks is None:
            yield from _stream(qs.values_list("pk", *fields), self.chunk_size, key="pk")
            return
        pks = sorted({int(pk) for pk in self.job.selected_pks})
        for start in range(0, len(pks), self.chunk_size):
            rows = list(qs.filter(pk__in=pks[start : start + self.chunk_size]).values_list("pk", *fields))
            if rows:
                yield rows


class SpanSource(_ObservedSource):
    source = ExportSource.SPANS

    def __init__(self, job: ExportJob, *, chunk_size: int):
        super().__init__(job, chunk_size=chunk_size)
        self.providers = [] if self.layout == "nested" else providers_for(job.project, self.source, self.options)
        self.lists = self.layout != "flat"  # the annotation list columns
        columns = SPAN_META.columns if self.lists else SPAN_META.columns[: len(SPAN_FIELDS)]
        columns += tuple(Column(n, "json", optional=True) for n in GOLD_COLUMNS)
        self.meta = SourceMeta(
            columns=columns + tuple(c for p in self.providers for c in p.columns), id_column="span_id"
        )

    def batches(self, *, json_lines: bool = False, text_columns=()) -> Iterator[Batch]:
        """With `json_lines` (JSONL and Parquet on PostgreSQL) the database renders each span's columns
        as one JSON object (`json_build_object`, the work COPY's `row_to_json` does; `text_columns` as
        plain text); rows then hold only the columns after them, which the writer splices into the line."""
        lines = json_lines and connections[self.queryset().db].vendor == "postgresql"
        fields = [JSONObjectText(SPAN_FIELDS, text_columns)] if lines else [expr for _, _, expr, _ in SPAN_FIELDS]
        for rows in self.pk_chunks(self.queryset(), fields):
            yield self._batch(rows, lines=lines)

    def sample(self) -> Batch:
        """The first chunk as plain rows (one LIMIT query), for a writer that infers its schema."""
        qs = self.queryset().order_by("pk")
        if self.job.selected_pks is not None:
            qs = qs.filter(pk__in=sorted({int(pk) for pk in self.job.selected_pks})[: self.chunk_size])
        rows = list(qs.values_list("pk", *[expr for _, _, expr, _ in SPAN_FIELDS])[: self.chunk_size])
        return self._batch(rows, lines=False)

    def _batch(self, rows: list[tuple], *, lines: bool) -> Batch:
        keys = tuple(ANNOTATIONS.values()) if self.lists else ()
        empty = tuple([] for _ in keys)
        annotations = _annotations([row[0] for row in rows])
        if self.has_gold is None:
            self.has_gold = project_has_gold(self.job.project)
        golds = _gold([row[0] for row in rows], project_has_gold=self.has_gold)
        provided = provided_values(self.providers, [[row[0]] for row in rows], annotations) if self.providers else None
        out = []
        for i, row in enumerate(rows):
            found = annotations.get(row[0])
            extra = (tuple(found.get(key) or [] for key in keys) if found else empty) + golds.get(row[0], NO_GOLD)
            if provided is not None:
                extra += provided[i]
            out.append(extra if lines else row[1:] + extra)
        return Batch(rows=out, lines=[row[1] for row in rows] if lines else None)


class DatasetSource(JobSource):
    meta = DATASET_META

    def queryset(self):
        from apps.datasets.selectors import dataset_records_at_version

        if self.job.dataset is None or self.job.dataset.project_id != self.job.project_id:
            raise ApplicationError("The dataset of this export no longer exists.", fields={"dataset": ["Unknown."]})
        return dataset_records_at_version(
            dataset=self.job.dataset, version=self.job.dataset_version, split=self.job.dataset_split or None
        )

    def count(self) -> int:
        return self.queryset().count()

    def batches(self) -> Iterator[Batch]:
        fields = [expr for _, _, expr, _ in DATASET_FIELDS]  # record_id first: the stream's key
        for chunk in _stream(self.queryset().values_list(*fields), self.chunk_size, key="record_id"):
            yield Batch(rows=chunk)


SOURCES: dict[str, Callable[..., JobSource]] = {
    ExportSource.SPANS: SpanSource,
    ExportSource.DATASET: DatasetSource,
}


def _traces_source(job: ExportJob, *, chunk_size: int) -> JobSource:
    from .trace_rows import TraceSource

    return TraceSource(job, chunk_size=chunk_size)


def _scores_source(job: ExportJob, *, chunk_size: int) -> JobSource:
    from .score_rows import ScoreRowSource

    return ScoreRowSource(job, chunk_size=chunk_size)


SOURCES[ExportSource.TRACES] = _traces_source
SOURCES[ExportSource.SCORES] = _scores_source


def source_for(job: ExportJob, *, chunk_size: int) -> JobSource:
    return SOURCES[job.source](job, chunk_size=chunk_size)
