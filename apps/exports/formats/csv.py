"""CSV: nested objects flattened to dotted columns, lists kept as JSON text, formula cells neutralised.

The rows are the "flat" layout of the source (sources.JobSource): one `score.<config>` column per
score config (the mean), `latest_comment`, `expected` (the correction) and, when asked
(`options.reviewer_scores`), `score.<config>.<reviewer>`; no JSON list of scores or comments.

The header must list every column, and a later row may bring a new metadata key, so rows are
spooled (flattened, one JSON line each) to a local temporary file while the column set is
collected; `close()` writes the header and then streams the spool. Memory stays flat; the cost is
one extra local read and write.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile

import orjson

from ..storage import temp_dir
from .base import Batch, Writer, dumps_json, python_value

# Cells a spreadsheet would treat as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def flatten(prefix: str, value, out: dict) -> None:
    """Dicts become dotted keys; lists and scalars stay one cell."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


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


class CSVWriter(Writer):
    extension = "csv"
    content_type = "text/csv"
    layout = "flat"

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.names = [c.name for c in meta.columns]
        self.converters = [python_value(c.kind) for c in meta.columns]
        self.as_text = [c.as_text for c in meta.columns]
        self.spread = [c.spread for c in meta.columns]
        self.optional = [c.optional for c in meta.columns]
        self.header: dict[str, None] = {}  # ordered set
        fd, self.spool_path = tempfile.mkstemp(prefix="assay-csv-", suffix=".spool", dir=temp_dir())
        self.spool = os.fdopen(fd, "wb", buffering=1 << 20)

    def write_batch(self, batch: Batch) -> None:
        header = self.header
        lines = []
        for row in batch.rows:
            flat: dict = {}
            for name, convert, as_text, spread, optional, value in zip(
                self.names, self.converters, self.as_text, self.spread, self.optional, row, strict=True
            ):
                value = convert(value)
                if optional and value is None:
                    continue
                if as_text:
                    flat[name] = value if value is None or isinstance(value, str) else dumps_json(value)
                elif not spread or isinstance(value, dict) and value:
                    flatten(name, value, flat)
            for key in flat:
                if key not in header:
                    header[key] = None
            lines.append(orjson.dumps(flat, default=str, option=orjson.OPT_NON_STR_KEYS))
        self.spool.write(b"\n".join(lines) + b"\n" if lines else b"")
        self.rows_written += len(batch.rows)

    def close(self) -> None:
        self.spool.close()
        columns = list(self.header)
        text = io.TextIOWrapper(self.fh, encoding="utf-8", newline="", write_through=True)
        try:
            writer = csv.writer(text)
            writer.writerow([neutralise(c) for c in columns])
            with open(self.spool_path, "rb") as spool:
                for line in spool:
                    flat = orjson.loads(line)
                    writer.writerow([cell_text(flat.get(c)) for c in columns])
            text.flush()
        finally:
            text.detach()  # leave fh open: the caller owns it
            os.remove(self.spool_path)

    def abort(self) -> None:
        self.spool.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.spool_path)
