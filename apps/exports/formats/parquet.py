"""Parquet through pyarrow: one record batch (row group) per chunk with a fixed schema.

Nested values (input, output, metadata, annotations) are JSON text columns: every row of a span
export may carry a differently shaped input, which a struct column cannot hold without a schema
per file; pandas and pyarrow read strings back cleanly (`json.loads` a cell to get the value).
Column statistics are written for scalar columns only: min/max of JSON text is useless, and the
writer keeps every row group's statistics in memory until the footer.
pyarrow is imported when a Parquet export starts, so other exports and the web tier do not carry it.
"""

from __future__ import annotations

import contextlib

from .base import Batch, Writer, dumps_json

UTC_SUFFIX = r"\+00:00$"  # ISO text in UTC from the database (sources.IsoTimestamp)
TEXT_KINDS = {"rawjson", "json"}


def arrow_type(kind: str):
    import pyarrow as pa

    return {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "rawjson": pa.string(),
        "json": pa.string(),
    }[kind]


class ParquetWriter(Writer):
    extension = "parquet"
    content_type = "application/vnd.apache.parquet"
    supports_gzip = False  # Parquet compresses its pages itself (zstd)

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = pa.schema([pa.field(c.name, arrow_type(c.kind)) for c in meta.columns])
        self.kinds = [c.kind for c in meta.columns]
        self.writer = pq.ParquetWriter(
            fh, self.schema, compression="zstd", compression_level=1,
            write_statistics=[c.name for c in meta.columns if c.kind not in TEXT_KINDS],
        )

    def write_batch(self, batch: Batch) -> None:
        if not batch.rows:
            return
        import pyarrow.compute as pc

        pa = self.pa
        arrays = []
        for kind, field, column in zip(self.kinds, self.schema, zip(*batch.rows, strict=True), strict=True):
            if kind == "json":
                column = [dumps_json(v) for v in column]
            elif kind == "timestamp":  # ISO text → Arrow's C parser, not Python datetimes
                text = pc.replace_substring_regex(pa.array(column, type=pa.string()), UTC_SUFFIX, "")
                arrays.append(text.cast(pa.timestamp("us")).cast(field.type))
                continue
            arrays.append(pa.array(column, type=field.type))
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.rows_written += len(batch.rows)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
