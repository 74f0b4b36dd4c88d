"""What every export reader shares: rows streamed in chunks, and the job source they come from.

Rows stream from one query with `.iterator(chunk_size=…)` (a server-side cursor on PostgreSQL,
keyset pages on SQLite) in primary-key / record-id order. The readers of each source live in
`sources` (datasets), `span_source`, `trace_rows` and `score_rows`; reading ahead is `prefetch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from django.db import connections

from .filtering import filtered_queryset
from .formats.base import Batch, SourceMeta
from .models import ExportJob, ExportSource
from .windows import changed_in_window

NULLABLE = True
NOT_NULL = False
SELECTION_COUNT_LIMIT = 5000  # SQLite allows ~32k bound parameters; counting bigger selections is not worth it


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
