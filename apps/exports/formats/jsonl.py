"""JSON Lines: one object per row, keys in column order. Raw JSON columns are copied, not re-encoded."""

from __future__ import annotations

import math
from itertools import repeat
from json.encoder import encode_basestring

from .base import Batch, Writer, dumps_json, iso_timestamp


def _str(v):
    return "null" if v is None else encode_basestring(v)


def _int(v):
    return "null" if v is None else str(int(v))


def _float(v):
    return "null" if v is None or not math.isfinite(v) else repr(float(v))


def _bool(v):
    return "null" if v is None else ("true" if v else "false")


def _datetime(v):
    return "null" if v is None else '"' + v.isoformat() + '"'


def _timestamp(v):
    return "null" if v is None else '"' + iso_timestamp(v) + '"'


def _rawjson(v):
    return "null" if v is None else v


def _json(v):
    return dumps_json(v)


ENCODERS = {"str": _str, "int": _int, "float": _float, "bool": _bool, "datetime": _datetime,
            "timestamp": _timestamp, "rawjson": _rawjson, "json": _json}


class JSONLWriter(Writer):
    extension = "jsonl"
    content_type = "application/x-ndjson"

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.encoders = [ENCODERS[c.kind] for c in meta.columns]
        names = [encode_basestring(c.name) for c in meta.columns]
        self.prefixes = ["{" + names[0] + ":"] + ["," + n + ":" for n in names[1:]]

    def write_batch(self, batch: Batch) -> None:
        if not batch.rows:
            return
        columns = list(zip(*batch.rows, strict=True))
        parts = []
        for prefix, encode, column in zip(self.prefixes, self.encoders, columns, strict=True):
            parts.append(repeat(prefix))
            parts.append(map(encode, column))
        parts.append(repeat("}\n"))
        text = "".join(map("".join, zip(*parts, strict=False)))  # zip stops at the shortest: the real columns
        self.fh.write(text.encode("utf-8", "surrogatepass"))
        self.rows_written += len(batch.rows)
