"""JSON Lines: one object per row, keys in column order. Raw JSON columns are copied, not re-encoded."""

from __future__ import annotations

import math
from json.encoder import encode_basestring

from .base import Batch, Writer, dumps_json

NULL = "null"
BOOLS = {True: "true", False: "false", None: NULL}  # 1 and 0 hash like True and False
QUOTED = '"{}"'.format


def encode_column(kind: str, nullable: bool, column) -> list | tuple:
    """One column of JSON texts. Comprehensions and C functions, no Python call per cell."""
    if kind == "rawjson":
        return [NULL if v is None else v for v in column] if nullable else column
    if kind == "str":
        return (
            [NULL if v is None else encode_basestring(v) for v in column]
            if nullable
            else list(map(encode_basestring, column))
        )
    if kind == "timestamp":  # already ISO 8601 text from the database
        return [NULL if v is None else QUOTED(v) for v in column] if nullable else list(map(QUOTED, column))
    if kind == "int":
        return [NULL if v is None else str(v) for v in column] if nullable else list(map(str, column))
    if kind == "bool":
        return list(map(BOOLS.__getitem__, column))
    if kind == "float":
        return [NULL if v is None or not math.isfinite(v) else repr(float(v)) for v in column]
    if kind == "datetime":
        return [NULL if v is None else '"' + v.isoformat() + '"' for v in column]
    return ["[]" if v == [] else dumps_json(v) for v in column]  # most spans carry no annotations


def lines_tail(columns) -> str:
    """A %-template of the columns after a database-rendered line: ',"scores":%s,…}\n'."""
    return "".join(f",{encode_basestring(c.name).replace('%', '%%')}:%s" for c in columns) + "}\n"


def patched_lines(batch: Batch, cut: int, tails) -> list[str]:
    """The batch's lines with the changed rows' default suffix (`cut` characters) replaced by `tails`."""
    lines = batch.lines
    if batch.changed:
        lines = list(lines)
        for i, tail in zip(batch.changed, tails, strict=True):
            lines[i] = lines[i][:-cut] + tail
    return lines


class JSONLWriter(Writer):
    extension = "jsonl"
    content_type = "application/x-ndjson"
    accepts_json_lines = True

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.kinds = [(c.kind, c.nullable) for c in meta.columns]
        # One %-template a row: '{"span_id":%s,"trace_id":%s,…}\n' (keys escaped, '%' doubled).
        keys = [encode_basestring(c.name).replace("%", "%%") for c in meta.columns]
        self.template = "{" + ",".join(f"{k}:%s" for k in keys) + "}\n"
        self.suffix = "}\n"

    def lines_options(self, source) -> dict:
        """The columns after the database-rendered ones (annotations, gold) at their defaults."""
        tail = self.meta.columns[len(self.meta.columns) - len(source.tail_default) :]
        self.tail_kinds = [(c.kind, c.nullable) for c in tail]
        self.tail_template = lines_tail(tail)
        self.suffix = self._tails([source.tail_default])[0] if tail else "}\n"
        return {"suffix": self.suffix}

    def _tails(self, rows: list[tuple]) -> list[str]:
        encoded = [
            encode_column(kind, nullable, column)
            for (kind, nullable), column in zip(self.tail_kinds, zip(*rows, strict=True), strict=True)
        ]
        return list(map(self.tail_template.__mod__, zip(*encoded, strict=True)))

    def _write_lines(self, batch: Batch) -> None:
        tails = self._tails([batch.rows[i] for i in batch.changed]) if batch.changed else ()
        lines = patched_lines(batch, len(self.suffix), tails)
        self.fh.write("".join(lines).encode("utf-8", "surrogatepass"))
        self.rows_written += len(lines)

    def write_batch(self, batch: Batch) -> None:
        if batch.lines is not None:
            self._write_lines(batch)
            return
        if not batch.rows:
            return
        columns = zip(*batch.rows, strict=True)
        encoded = [
            encode_column(kind, nullable, column) for (kind, nullable), column in zip(self.kinds, columns, strict=True)
        ]
        text = "".join(map(self.template.__mod__, zip(*encoded, strict=True)))
        self.fh.write(text.encode("utf-8", "surrogatepass"))
        self.rows_written += len(batch.rows)
