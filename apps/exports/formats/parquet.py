"""Parquet through pyarrow, with real types: timestamps, numbers, booleans, lists of strings, and the
nested columns (input, output, expected, metadata, …) as native structs or lists when their shape is
one Arrow type across the file, else as plain text (see `arrow_types`).

How a batch becomes a row group: every row is written as one JSON object (column-wise string
templates, as JSONL does) and the whole batch is parsed by Arrow's JSON reader against the file's
schema. No Python object per nested value, and no `pyarrow.array()` call, which imports pandas
when it is installed (~36 MB per worker).

The schema is decided from the first batch (a sample of `EXPORTS_CHUNK_SIZE` rows). Row groups
already written cannot change type, so when a later batch does not fit, the writer raises
`WriterRestart` with the widened types (struct fields merged, int → float) or TEXT for the columns
that disagreed, and the job writes the file again from the start. The third pass writes every
inferred column as text, so an export makes at most three passes and usually one.
pyarrow is imported when a Parquet export starts, so other exports and the web tier do not carry it.
"""

from __future__ import annotations

import contextlib
import re
from json.encoder import encode_basestring

from . import arrow_types
from .arrow_types import TEXT
from .base import Batch, Writer, WriterRestart
from .jsonl import encode_column, lines_tail, patched_lines

NESTED_KINDS = {"rawjson", "json"}
COLUMN_IN_ERROR = re.compile(r"Column\(/([^/)]+)")
MAX_PASSES = 3
ROW_GROUP_BYTES = 8 << 20  # Arrow bytes buffered per row group


def scalar_type(kind: str):
    import pyarrow as pa

    return {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[kind]


def _text_column(column) -> list[str]:
    return [arrow_types.as_text(v) for v in column]


def _corrections(column) -> list:
    """A correction's value is any JSON: written as text inside the typed list of corrections."""
    return [v if not v else [{**c, "value": arrow_types.value_text(c.get("value"))} for c in v] for v in column]


class ParquetWriter(Writer):
    extension = "parquet"
    content_type = "application/vnd.apache.parquet"
    supports_gzip = False  # Parquet compresses its pages itself (zstd)
    layout = "table"
    accepts_json_lines = True
    # One reading thread; the job's thread parses its lines while the reader fetches the next chunk.
    # Two readers, each parsing its chunks (Arrow releases the GIL), gained nothing measurable on two
    # shared cores and held two more chunks and their tables: ~20 MB more peak RSS, against a limit
    # of 250 MB (docs/performance.md).
    max_readers = 1

    def __init__(self, fh, meta, *, hints: dict | None = None, attempt: int = 1):
        super().__init__(fh, meta)
        import pyarrow as pa

        self.pa = pa
        self.hints = dict(hints or {})
        self.attempt = attempt
        self.fixed = arrow_types.fixed_types()
        self.columns = list(meta.columns)
        keys = [encode_basestring(c.name).replace("%", "%%") for c in self.columns]
        self.template = "{" + ",".join(f"{k}:%s" for k in keys) + "}\n"
        self.types: dict[str, object] | None = None  # decided on the first batch
        self.schema = None
        self.writer = None
        self.pending: list = []  # parsed batches not yet written (one row group per ROW_GROUP_BYTES)
        self.pending_bytes = 0

    # --- schema ---------------------------------------------------------------------------------

    def _nested_texts(self, index: int, column) -> list:
        kind = self.columns[index].kind
        if kind == "rawjson":
            return list(column)
        return [None if v is None else encode_column("json", True, [v])[0] for v in column]

    def _decide(self, columns: list) -> None:
        types: dict[str, object] = {}
        for i, c in enumerate(self.columns):
            if c.kind not in NESTED_KINDS:
                types[c.name] = scalar_type(c.kind)
            elif c.name in self.fixed:
                types[c.name] = self.fixed[c.name]
            elif c.name in self.hints:
                types[c.name] = self.hints[c.name] if self.attempt < MAX_PASSES else TEXT
            elif self.attempt >= MAX_PASSES:
                types[c.name] = TEXT
            else:
                types[c.name] = arrow_types.infer(self._nested_texts(i, columns[i]))
        pa = self.pa
        self.types = types
        self.schema = pa.schema([pa.field(name, pa.string() if t is TEXT else t) for name, t in types.items()])
        import pyarrow.parquet as pq

        scalar = [c.name for c in self.columns if c.kind not in NESTED_KINDS]
        # Dictionaries and statistics pay off for scalar columns only (names, types, models); the nested
        # text is mostly unique, and the writer keeps every row group's statistics until the footer.
        self.writer = pq.ParquetWriter(
            self.fh,
            self.schema,
            compression="zstd",
            compression_level=1,
            write_statistics=scalar,
            use_dictionary=scalar,
            memory_pool=arrow_types.memory_pool(),
        )

    def _restart(self, columns: list):
        """This batch does not fit the schema: find the columns that disagree, widen them or make them text."""
        hints = dict(self.hints)
        for i, c in enumerate(self.columns):
            current = self.types[c.name]
            if c.kind not in NESTED_KINDS or current is TEXT or c.name in self.fixed:
                continue
            texts = self._nested_texts(i, columns[i])
            if not arrow_types.fits(texts, current):
                hints[c.name] = arrow_types.unify(current, arrow_types.infer(texts))
        return WriterRestart(
            hints=hints, reason=f"column shapes changed: {', '.join(sorted(set(hints) - set(self.hints)))}"
        )

    # --- writing --------------------------------------------------------------------------------

    def lines_options(self, source) -> dict:
        """Database-rendered lines (PostgreSQL): decide the schema from the source's first chunk, then
        have the database render the text columns as plain text and end each line with the encoding
        of the columns after them at their defaults."""
        if self.types is None:
            sample = source.sample()
            self._decide(list(zip(*sample.rows, strict=True)) if sample.rows else [() for _ in self.columns])
        self.tail = self.columns[len(self.columns) - len(source.tail_default) :]
        self.tail_template = lines_tail(self.tail)
        self.suffix = self._tails([source.tail_default])[0] if self.tail else "}\n"
        return {
            "text_columns": tuple(c.name for c in self.columns if c.kind == "rawjson" and self.types[c.name] is TEXT),
            "suffix": self.suffix,
        }

    def _tails(self, rows: list[tuple]) -> list[str]:
        encoded = self._encode(list(zip(*rows, strict=True)), self.tail)
        return list(map(self.tail_template.__mod__, zip(*encoded, strict=True)))

    def _encode(self, columns: list, specs: list | None = None) -> list:
        encoded = []
        for c, column in zip(specs if specs is not None else self.columns, columns, strict=True):
            type_ = self.types[c.name]
            if c.name == "corrections" and c.kind == "json":
                column = _corrections(column)
            if c.kind in NESTED_KINDS and type_ is TEXT:
                texts = (
                    column
                    if c.kind == "rawjson"
                    else [None if v is None else arrow_types.value_text(v) for v in column]
                )
                if c.kind == "rawjson":
                    encoded.append(_text_column(texts))
                else:
                    encoded.append(["null" if t is None else encode_basestring(t) for t in texts])
            elif c.kind == "datetime":
                encoded.append(["null" if v is None else '"' + v.isoformat() + '"' for v in column])
            else:
                encoded.append(encode_column(c.kind, c.nullable if c.kind != "json" else True, column))
        return encoded

    def _lines_data(self, batch: Batch) -> bytes:
        """Database-rendered lines with the changed rows' columns after them (annotations, score
        columns) re-rendered."""
        tails = self._tails([batch.rows[i] for i in batch.changed]) if batch.changed else ()
        return "".join(patched_lines(batch, len(self.suffix), tails)).encode("utf-8", "surrogatepass")

    def _restart_from_lines(self, data: bytes):
        """As `_restart`, for lines: the batch's own inferred types, merged into the file's. When the batch
        cannot be inferred (a column changes shape inside it), Arrow names that column: it becomes text."""
        pa = self.pa
        hints = dict(self.hints)
        typed = [
            c
            for c in self.columns
            if c.kind in NESTED_KINDS and c.name not in self.fixed and self.types[c.name] is not TEXT
        ]
        try:
            inferred = arrow_types.read_lines(data).schema
        except pa.ArrowInvalid as exc:
            named = COLUMN_IN_ERROR.search(str(exc))
            for c in typed:
                if named and named.group(1) == c.name:
                    hints[c.name] = TEXT
            if hints == self.hints:  # not a column we can tell: every inferred column as text
                hints.update({c.name: TEXT for c in typed})
            return WriterRestart(hints=hints, reason=str(exc))
        for c in typed:
            current = self.types[c.name]
            found = inferred.field(c.name).type if c.name in inferred.names else current
            if pa.types.is_null(found):
                continue
            merged = arrow_types.unify(current, found)
            if merged is TEXT or not merged.equals(current):
                hints[c.name] = merged
        if hints == self.hints:
            hints.update({c.name: TEXT for c in typed})
        return WriterRestart(hints=hints, reason="column shapes changed")

    def prepare(self, batch: Batch) -> Batch:
        """In a reading thread (parallel_read): database-rendered lines parsed there into the Arrow
        table (Arrow parses without the GIL), so several chunks are parsed at once."""
        if batch.lines:
            data = self._lines_data(batch)
            batch.prepared = self._parse(data)
            batch.lines = None  # only the table is needed now
        return batch

    def _parse(self, data: bytes) -> tuple[bytes | None, object]:
        """(None, the table), or (the data, ArrowInvalid) when the data does not fit the schema."""
        try:
            return None, arrow_types.read_lines(data, self.schema)
        except self.pa.ArrowInvalid as exc:
            return data, exc

    def write_batch(self, batch: Batch) -> None:
        columns = None
        if batch.prepared is not None:
            data, table = batch.prepared
        elif batch.lines:
            data, table = self._parse(self._lines_data(batch))
        elif batch.rows and batch.lines is None:
            columns = list(zip(*batch.rows, strict=True))
            if self.types is None:
                self._decide(columns)
            encoded = zip(*self._encode(columns), strict=True)
            data, table = self._parse("".join(map(self.template.__mod__, encoded)).encode("utf-8", "surrogatepass"))
        else:
            return
        if isinstance(table, self.pa.ArrowInvalid):
            if self.attempt >= MAX_PASSES:
                raise table
            raise (self._restart(columns) if columns is not None else self._restart_from_lines(data)) from None
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        if self.pending_bytes >= ROW_GROUP_BYTES:
            self._flush()
        self.rows_written += table.num_rows

    def _flush(self) -> None:
        """One row group from the buffered batches: every row group's metadata stays in memory until the
        footer, so a million rows in 2,000-row groups grew the worker by ~50 MB."""
        if self.pending:
            table = self.pending[0] if len(self.pending) == 1 else self.pa.concat_tables(self.pending)
            self.writer.write_table(table, row_group_size=table.num_rows)
            self.pending, self.pending_bytes = [], 0

    def close(self) -> None:
        if self.writer is None:  # no rows: an empty file with the declared scalar columns, nested as text
            self._decide([() for _ in self.columns])
        self._flush()
        self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
