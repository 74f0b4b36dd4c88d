"""Arrow types for the nested columns of a Parquet export: fixed where Assay defines the shape,
inferred from a sample where the data does (input, output, expected, metadata…).

Inference parses a column's JSON texts with Arrow's own JSON reader (C++, no Python object per
value). A column gets a native type only when every sampled value fits one Arrow type that says
something: no all-null leaves, no empty structs (Parquet cannot store `struct<>`). Otherwise it is
TEXT: a string value as the string itself, anything else as its JSON text.
"""

from __future__ import annotations

import io
from json.encoder import encode_basestring

import orjson

TEXT = "text"  # the fallback "type": plain text


def _pa():
    import pyarrow as pa

    return pa


def fixed_types() -> dict:
    """Columns whose shape Assay itself defines (reviews.selectors.span_annotations_bulk, tags, splits)."""
    pa = _pa()
    ts = pa.timestamp("us", tz="UTC")
    strings = pa.list_(pa.string())
    score = pa.struct(
        [
            ("id", pa.int64()),
            ("config", pa.string()),
            ("config_id", pa.int64()),
            ("kind", pa.string()),
            ("value", pa.float64()),
            ("label", pa.string()),
            ("labels", strings),
            ("text", pa.string()),
            ("comment", pa.string()),
            ("author", pa.string()),
            ("source", pa.string()),
            ("created_at", ts),
            ("updated_at", ts),
        ]
    )
    tag = pa.struct(
        [
            ("name", pa.string()),
            ("colour", pa.string()),
            ("added_by", pa.string()),
            ("source", pa.string()),
            ("added_at", ts),
        ]
    )
    comment = pa.struct(
        [
            ("id", pa.int64()),
            ("text", pa.string()),
            ("author", pa.string()),
            ("source", pa.string()),
            ("created_at", ts),
        ]
    )
    # A correction's value is any JSON: text (see ParquetWriter._prepare_corrections).
    correction = pa.struct(
        [
            ("id", pa.int64()),
            ("value", pa.string()),
            ("author", pa.string()),
            ("source", pa.string()),
            ("created_at", ts),
        ]
    )
    return {
        "tags": strings,
        "splits": strings,
        "labels": strings,
        "scores": pa.list_(score),
        "tag_details": pa.list_(tag),
        "comments": pa.list_(comment),
        "corrections": pa.list_(correction),
    }


def informative(type_) -> bool:
    """False for types that hold no information or that Parquet cannot write."""
    pa = _pa()
    if pa.types.is_null(type_):
        return False
    if pa.types.is_struct(type_):
        return type_.num_fields > 0 and all(informative(type_.field(i).type) for i in range(type_.num_fields))
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return informative(type_.value_type)
    return True


def _lines(texts) -> bytes:
    return "".join('{"v":' + ("null" if t is None else t) + "}\n" for t in texts).encode("utf-8", "surrogatepass")


def memory_pool():
    """The allocator of a Parquet export's Arrow buffers: malloc, which gives large buffers back to
    the system when they are freed. Arrow's default (mimalloc) keeps per-thread heaps, and tables
    parsed in the reading threads and freed in the job's thread kept a worker ~20 MB larger."""
    return _pa().system_memory_pool()


def read_lines(data: bytes, schema=None, *, unexpected: str = "error"):
    import pyarrow.json as pajson

    parse = (
        pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
        if schema is not None
        else pajson.ParseOptions()
    )
    read = pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(data) + 1))
    return pajson.read_json(io.BytesIO(data), read_options=read, parse_options=parse, memory_pool=memory_pool())


def infer(texts) -> object:
    """The Arrow type of these JSON texts (None = SQL NULL), or TEXT."""
    pa = _pa()
    try:
        inferred = read_lines(_lines(texts)).schema.field("v").type
    except (pa.ArrowInvalid, KeyError):
        return TEXT
    return inferred if informative(inferred) else TEXT


def fits(texts, type_) -> bool:
    pa = _pa()
    try:
        read_lines(_lines(texts), pa.schema([("v", type_)]))
    except pa.ArrowInvalid:
        return False
    return True


def unify(current, new) -> object:
    """A type that holds both (struct fields merged, int widened to float), or TEXT."""
    pa = _pa()
    if current is TEXT or new is TEXT:
        return TEXT
    try:
        merged = (
            pa.unify_schemas([pa.schema([("v", current)]), pa.schema([("v", new)])], promote_options="permissive")
            .field("v")
            .type
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return TEXT
    return merged if informative(merged) else TEXT


def as_text(raw: str | None) -> str:
    """One JSON text → the JSON string literal of its plain text: a string as itself, else its JSON."""
    if raw is None:
        return "null"
    if raw.startswith('"'):
        return raw  # already a JSON string literal: Arrow decodes it to the string itself
    return encode_basestring(raw)


def value_text(value) -> str | None:
    """A Python value as plain text (a string as itself, else its JSON)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
