"""The `spans` source: every span column, then its annotation lists, gold values and (tabular
formats) the computed columns.

On PostgreSQL, for JSONL and Parquet, the database renders each span's columns as one JSON object
(`json_lines_sql`); its closing brace is replaced by the writer's encoding of the columns that
follow as they are for a span without annotations or gold, and a chunk names only the rows that
differ (`Batch.changed`), which the writer re-renders. Annotations and gold are read once per chunk (`annotations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections

from .annotations import (
    ANNOTATION_COLUMNS,
    ANNOTATIONS,
    GOLD_COLUMNS,
    NO_GOLD,
    chunk_annotations,
    chunk_gold,
    project_has_gold,
)
from .columns import provided_values, providers_for
from .expressions import IsoTimestamp, json_lines_sql, raw
from .formats.base import Batch, Column, SourceMeta
from .models import ExportJob, ExportSource
from .readers import _ObservedSource
from .span_columns import span_fields

# (column, kind, expression in values_list, nullable)
SPAN_FIELDS: list[tuple[str, str, Any, bool]] = span_fields(timestamp=IsoTimestamp, raw=raw)

LOW, HIGH = -(2**62) + 7, -(2**62) + 11  # placeholders of a chunk's bounds in its compiled statement

SPAN_META = SourceMeta(
    columns=tuple(Column(n, k, nullable) for n, k, _, nullable in SPAN_FIELDS)
    + tuple(Column(n, "json") for n in ANNOTATION_COLUMNS),
    id_column="span_id",
)


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
        self.keys = tuple(ANNOTATIONS.values()) if self.lists else ()
        # The columns after the span's own, for a span without annotations or gold.
        self.tail_default = tuple([] for _ in self.keys) + NO_GOLD
        if self.providers:
            self.tail_default += provided_values(self.providers, [[]], {})[0]

    def batches(self, *, json_lines: bool = False, text_columns=(), suffix: str = "}\n") -> Iterator[Batch]:
        """With `json_lines` (JSONL and Parquet on PostgreSQL) each row's span columns come as one
        database-rendered JSON line ending in `suffix` (`text_columns` as plain text); `rows` then
        hold only the columns after them (see `json_lines_sql` and `Batch.changed`)."""
        qs = self.queryset()
        if json_lines and connections[qs.db].vendor == "postgresql":
            yield from self._line_batches(qs, text_columns=text_columns, suffix=suffix)
            return
        for rows in self.pk_chunks(qs, [expr for _, _, expr, _ in SPAN_FIELDS]):
            yield self._batch(rows, using=qs.db)

    def _line_batches(self, qs, *, text_columns, suffix: str) -> Iterator[Batch]:
        """The lines of one statement through a server-side cursor (one snapshot), or of each slice of
        the admin selection."""
        if self.job.selected_pks is not None:
            keys, render = self.line_chunks(text_columns=text_columns, suffix=suffix)
            yield from map(render, keys())
            return
        sql, params = json_lines_sql(qs, SPAN_FIELDS, text_columns=text_columns)
        connection = connections[qs.db]
        connection.ensure_connection()
        with connection.connection.cursor(name="export_lines", withhold=connection.autocommit) as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(self.chunk_size):
                yield self._batch(rows, using=qs.db, suffix=suffix)

    def line_chunks(self, *, text_columns=(), suffix: str = "}\n") -> tuple[Callable, Callable]:
        """PostgreSQL, for `parallel_read`: the chunks' keys ((first pk, last pk) in pk order, read by
        a pk-only cursor; or the pks of a slice of the admin selection) and the renderer of one chunk
        as a Batch of database-rendered lines (`batches(json_lines=True)` reads the same, in line).
        A range's statement is compiled once; each chunk only binds its bounds."""
        qs = self.queryset().order_by("pk")
        sql, params = json_lines_sql(qs.filter(pk__gte=LOW, pk__lte=HIGH), SPAN_FIELDS, text_columns=text_columns)
        low_at, high_at = params.index(LOW), params.index(HIGH)

        def keys() -> Iterator:
            if self.job.selected_pks is not None:
                pks = sorted({int(pk) for pk in self.job.selected_pks})
                yield from (pks[i : i + self.chunk_size] for i in range(0, len(pks), self.chunk_size))
                return
            ids_sql, ids_params = qs.values_list("pk").query.sql_with_params()
            with connections[qs.db].connection.cursor(name="export_chunk_keys") as cursor:
                cursor.execute(ids_sql, ids_params)
                while ids := cursor.fetchmany(self.chunk_size):
                    yield (ids[0][0], ids[-1][0])

        def render(key) -> Batch:
            if isinstance(key, list):
                statement, bound = json_lines_sql(qs.filter(pk__in=key), SPAN_FIELDS, text_columns=text_columns)
            else:
                statement, bound = sql, params.copy()
                bound[low_at], bound[high_at] = key
            with connections[qs.db].cursor() as cursor:
                cursor.execute(statement, bound)
                rows = cursor.fetchall()
            return self._batch(rows, using=qs.db, suffix=suffix)

        return keys, render

    def sample(self) -> Batch:
        """The first chunk as plain rows (one LIMIT query), for a writer that infers its schema."""
        qs = self.queryset().order_by("pk")
        if self.job.selected_pks is not None:
            qs = qs.filter(pk__in=sorted({int(pk) for pk in self.job.selected_pks})[: self.chunk_size])
        rows = list(qs.values_list("pk", *[expr for _, _, expr, _ in SPAN_FIELDS])[: self.chunk_size])
        return self._batch(rows, using=qs.db)

    def _tails(self, pks: list[int], using: str) -> dict[int, tuple]:
        """span pk -> the columns after the span's own, for the spans whose differ from `tail_default`."""
        annotations = chunk_annotations(pks, using=using)
        if self.has_gold is None:
            self.has_gold = project_has_gold(self.job.project)
        golds = chunk_gold(pks, project_has_gold=self.has_gold)
        touched = [pk for pk in pks if pk in annotations or pk in golds]
        provided = provided_values(self.providers, [[pk] for pk in touched], annotations) if self.providers else None
        empty = tuple([] for _ in self.keys)
        tails = {}
        for i, pk in enumerate(touched):
            found = annotations.get(pk)
            tail = (tuple(found.get(key) or [] for key in self.keys) if found else empty) + golds.get(pk, NO_GOLD)
            tails[pk] = tail + provided[i] if provided is not None else tail
        return tails

    def _batch(self, rows: list[tuple], *, using: str, suffix: str | None = None) -> Batch:
        """Plain rows, or (`suffix` given) (pk, JSON object) rows as lines ending in `suffix`."""
        pks = [row[0] for row in rows]
        tails = self._tails(pks, using) if rows else {}
        default = self.tail_default
        if suffix is None:
            return Batch(rows=[row[1:] + tails.get(row[0], default) for row in rows])
        changed = [i for i, pk in enumerate(pks) if pk in tails] if tails else []
        out = [default] * len(rows)
        for i in changed:
            out[i] = tails[pks[i]]
        return Batch(rows=out, lines=[row[1][:-1] + suffix for row in rows], changed=changed)
