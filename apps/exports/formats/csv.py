"""CSV: nested objects flattened to dotted columns, lists kept as JSON text, formula cells neutralised.

The rows are the "flat" layout of the source (sources.JobSource): one `score.<config>` column per
score config (the mean), `latest_comment`, `expected` (the correction) and, when asked
(`options.reviewer_scores`), `score.<config>.<reviewer>`; no JSON list of scores or comments.

The header must list every column, and a later row may bring a new metadata key, so rows are
spooled to a local temporary file, already as CSV rows of the columns known so far (a new column
goes after them), while the column set is collected; `close()` writes the header and copies the
spool, padding the rows written before a column appeared (re-read with `csv.reader`) only when one
did. Cells are made column by column (comprehensions per column kind, `orjson` for the JSON ones)
and rows written with `csv.writer.writerows`: a Python call per cell made CSV the slowest export
(docs/performance.md).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from dataclasses import replace

import orjson

from ..storage import temp_dir
from .base import Batch, Column, Writer, dumps_json

# Cells a spreadsheet would treat as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # numbers are data, never formulas: -5 stays -5
    if isinstance(value, str):
        return neutralise(value)
    return neutralise(dumps_json(value))  # lists and empty dicts


def _flat_cells(prefix: str, value: dict, out: dict) -> dict:
    """A non-empty dict as dotted cells (`{prefix}.{key}`, nested dicts further dotted), each leaf as its cell text."""
    for key, inner in value.items():
        name = f"{prefix}.{key}"
        if isinstance(inner, dict) and inner:
            _flat_cells(name, inner, out)
        else:
            out[name] = cell_text(inner)
    return out


def _nested_cells(spec: Column, values) -> list:
    """A JSON column's cells: per row a cell text, a dict of dotted cells, or None (no cell)."""
    name, optional = spec.name, spec.optional
    if spec.as_text:
        return [
            None if optional and v is None else cell_text(v if v is None or isinstance(v, str) else dumps_json(v))
            for v in values
        ]
    if spec.spread:
        return [_flat_cells(name, v, {}) if isinstance(v, dict) and v else None for v in values]
    return [
        None if optional and v is None else _flat_cells(name, v, {}) if isinstance(v, dict) and v else cell_text(v)
        for v in values
    ]


BOOL_CELLS = {True: "true", False: "false", None: ""}


def column_cells(spec: Column, column) -> list:
    """One column of a batch as cells (see `_nested_cells`), by its kind."""
    kind = spec.kind
    if kind == "str":
        cells = ["" if v is None else "'" + v if v.startswith(FORMULA_PREFIXES) else v for v in column]
    elif kind in ("int", "float"):
        cells = ["" if v is None else repr(v) for v in column]
    elif kind == "bool":
        cells = list(map(BOOL_CELLS.__getitem__, column))
    elif kind == "timestamp":  # ISO 8601 text from the database: starts with a digit
        cells = ["" if v is None else v for v in column]
    elif kind == "datetime":
        cells = ["" if v is None else v.isoformat() for v in column]
    elif kind == "rawjson":
        return _nested_cells(spec, [None if v is None else orjson.loads(v) for v in column])
    else:
        return _nested_cells(spec, column)
    if spec.optional:
        return [None if v is None else c for v, c in zip(column, cells, strict=True)]
    return cells


class CSVWriter(Writer):
    extension = "csv"
    content_type = "text/csv"
    layout = "flat"
    # Spans on PostgreSQL: the database renders each span's columns as one JSON object, parsed here by
    # one `orjson.loads` a row (its JSON columns parsed with it); reading 25 columns a row through the
    # ORM was most of a CSV export's time.
    accepts_json_lines = True

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.names = [c.name for c in meta.columns]
        self.header: dict[str, None] = {}  # ordered set
        self.columns: list[str] = []  # the header as a list
        self.short_rows = False  # a column appeared after rows were spooled without it
        fd, self.spool_path = tempfile.mkstemp(prefix="assay-csv-", suffix=".spool", dir=temp_dir())
        self.spool = io.TextIOWrapper(
            os.fdopen(fd, "wb", buffering=1 << 20), encoding="utf-8", errors="surrogatepass", newline=""
        )
        self.csv = csv.writer(self.spool)

    def _grow(self, flat: dict, *, spooled: int) -> None:
        """New columns after the known ones; the `spooled` rows already written lack them."""
        for key in flat:
            if key not in self.header:
                self.header[key] = None
        self.short_rows = self.short_rows or spooled > 0
        self.columns = list(self.header)

    def lines_options(self, source) -> dict:
        """A line's own columns come parsed: JSON columns as values, timestamps as their JSON text."""
        count = len(self.meta.columns) - len(source.tail_default)
        self.line_specs = [
            replace(c, kind="json") if c.kind == "rawjson" else c for c in self.meta.columns[:count]
        ] + list(self.meta.columns[count:])
        return {}

    def write_batch(self, batch: Batch) -> None:
        if not batch.rows:
            return
        specs, rows = self.meta.columns, batch.rows
        if batch.lines is not None:
            specs, loads = self.line_specs, orjson.loads
            rows = [(*loads(line).values(), *tail) for line, tail in zip(batch.lines, rows, strict=True)]
        pieces = [column_cells(spec, column) for spec, column in zip(specs, zip(*rows, strict=True), strict=True)]
        names, header = self.names, self.header.keys()
        out = []
        for parts in zip(*pieces, strict=True):
            flat: dict = {}
            for name, part in zip(names, parts, strict=True):
                if part.__class__ is str:
                    flat[name] = part
                elif part is not None:
                    flat.update(part)
            if not flat.keys() <= header:
                self._grow(flat, spooled=self.rows_written + len(out))
            get = flat.get
            out.append([get(c, "") for c in self.columns])
        self.csv.writerows(out)
        self.rows_written += len(batch.rows)

    def close(self) -> None:
        self.spool.close()
        try:
            head = io.StringIO()
            writer = csv.writer(head)
            writer.writerow([neutralise(c) for c in self.columns])
            self.fh.write(head.getvalue().encode("utf-8", "surrogatepass"))
            if self.short_rows:
                self._write_padded()
            else:
                with open(self.spool_path, "rb") as spool:
                    shutil.copyfileobj(spool, self.fh, 1 << 20)
        finally:
            os.remove(self.spool_path)

    def _write_padded(self) -> None:
        """The spool's rows, each padded with empty cells to the final header."""
        width = len(self.columns)
        text = io.TextIOWrapper(self.fh, encoding="utf-8", errors="surrogatepass", newline="")
        try:
            writer = csv.writer(text)
            with open(self.spool_path, encoding="utf-8", errors="surrogatepass", newline="") as spool:
                for row in csv.reader(spool):
                    writer.writerow(row + [""] * (width - len(row)))
            text.flush()
        finally:
            text.detach()  # leave fh open: the caller owns it

    def abort(self) -> None:
        self.spool.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.spool_path)
