"""The one layer that bounds every parsed request body (see docs/decisions.md, "Hostile input").

Every JSON body the API reads goes through `json_parse`: the DRF parser set as the default in
`REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]` and the two ingest endpoints, which read their (possibly
gzip) body themselves. The rules, one for each class of hostile input:

- **Size**: over the limit is a JSON 413 (`fields.body`), checked before the body is read.
- **Depth**: deeper than `JSON_DEPTH_MAX` levels is 400 naming where (`fields.<path>`); ingest
  allows deeper bodies and refuses the deep *field* as an item error (its own limit).
- **Lone surrogates** (`"\\ud800"`: valid JSON, not valid Unicode; PostgreSQL and orjson refuse
  them): 400 naming each field; on ingest an item error of the span that holds it.
- **U+0000**: stripped from every string and key (PostgreSQL text and jsonb cannot store it), the
  same on SQLite, so a value reads back the same on both databases.

Numbers are checked against their columns with `int_column_error`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from django.conf import settings
from django.db.backends.base.operations import BaseDatabaseOperations
from django.http import QueryDict
from rest_framework import parsers

# A module, not the name: DRF imports this parser while apps.core.exceptions is still loading.
from apps.core import exceptions

JSON_DEPTH_MAX = 100
# orjson's own parser limit: ingest bodies may nest this deep, their fields are bounded per item.
JSON_PARSE_DEPTH_MAX = 1024
PATHS_REPORTED = 20
SURROGATE_MESSAGE = "Contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode."
_SURROGATE = re.compile("[\ud800-\udfff]")


def too_large(limit: int) -> exceptions.ApplicationError:
    return exceptions.ApplicationError(
        f"The body is over the {limit} byte limit; send smaller batches.",
        fields={"body": [f"At most {limit} bytes."]},
        status=413,
    )


def _printable(key: str) -> str:
    # A key on the path may itself hold a surrogate: an answer that echoed it could not be encoded.
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", key) if _SURROGATE.search(key) else key


def _path(parts: tuple) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{_printable(part)}" if out else _printable(part))
    return out or "body"


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return False


def _deep_path(value: Any, limit: int) -> str:
    """Where `value` first nests deeper than `limit`, named by its first few keys."""
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        if len(parts) >= limit:
            return _path(parts[:3]) + ("…" if len(parts) > 3 else "")
        pairs = item.items() if type(item) is dict else enumerate(item)
        stack.extend((child, (*parts, key)) for key, child in pairs if type(child) in (dict, list))
    return "body"


def surrogate_paths(value: Any) -> list[str]:
    found: list[str] = []
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack and len(found) < PATHS_REPORTED:
        item, parts = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                found.append(_path(parts))
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    found.append(_path(parts) + " (a key)")
                stack.append((child, (*parts, key)))
        elif isinstance(item, list):
            stack.extend((child, (*parts, i)) for i, child in enumerate(item))
    return sorted(found)


def strip_nul(value: Any) -> Any:
    """The value with U+0000 removed from every string and key (iterative: depth is bounded anyway)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if not isinstance(value, dict | list):
        return value
    root: list = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        parent, key, item = stack.pop()
        if isinstance(item, dict):
            copy: Any = {}
            for k, v in item.items():
                k = k.replace("\x00", "")
                copy[k] = v
                stack.append((copy, k, v))
        elif isinstance(item, list):
            copy = list(item)
            stack.extend((copy, i, v) for i, v in enumerate(item))
        elif isinstance(item, str):
            copy = item.replace("\x00", "") if "\x00" in item else item
        else:
            continue
        parent[key] = copy
    return root[0]


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number is infinity when parsed as double: {text[:20]}")
    return number


def _int_like_orjson(text: str) -> int | float:
    number = int(text)
    return number if -(2**63) <= number < 2**64 else _finite_float(text)


def _no_constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def json_parse(body: bytes, *, max_depth: int = JSON_DEPTH_MAX, surrogates: str = "raise") -> tuple[Any, dict]:
    """Parse a JSON body under the rules above. Returns (value, {path: [message]}).

    `surrogates="raise"` answers 400 naming each field with a lone surrogate; `"collect"` returns
    them (with the value, surrogates left in) so ingest can refuse only the spans that hold them.
    """
    bad: dict[str, list[str]] = {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "depth limit" in message or "recursion" in message:
            raise exceptions.ApplicationError(
                f"The body nests more than {max_depth} levels deep.",
                fields={"body": [f"Nested more than {max_depth} levels deep."]},
            )
        if "surrogate" not in message:
            raise exceptions.ApplicationError("Malformed JSON.", fields={"body": [message]})
        try:  # valid JSON that is not valid Unicode: find where, to name the fields
            value = json.loads(
                body.decode("utf-8"), parse_float=_finite_float, parse_int=_int_like_orjson, parse_constant=_no_constant
            )
        except RecursionError:
            raise exceptions.ApplicationError(
                f"The body nests more than {max_depth} levels deep.",
                fields={"body": [f"Nested more than {max_depth} levels deep."]},
            )
        except ValueError as decode_error:
            raise exceptions.ApplicationError("Malformed JSON.", fields={"body": [str(decode_error)]})
        bad = {path: [SURROGATE_MESSAGE] for path in surrogate_paths(value)}
    if (
        max_depth < JSON_PARSE_DEPTH_MAX
        and (body.count(b"[") + body.count(b"{")) > max_depth
        and _deeper_than(value, max_depth)
    ):
        where = _deep_path(value, max_depth)
        raise exceptions.ApplicationError(
            f"The body nests more than {max_depth} levels deep.",
            fields={where: [f"Nested more than {max_depth} levels deep."]},
        )
    if bad and surrogates == "raise":
        raise exceptions.ApplicationError("Text with lone surrogates is not valid Unicode.", fields=bad)
    if b"\\u0000" in body:
        value = strip_nul(value)
    return value, bad


def _under(field: str, path: str) -> str:
    return field if path == "body" else f"{field}.{path}" if not path.startswith("[") else f"{field}{path}"


def value_clean(value: Any, *, field: str, max_depth: int = JSON_DEPTH_MAX) -> Any:
    """A value decoded elsewhere (a row of an imported file, a form field) under the same rules as a
    body: deeper than `max_depth` or holding a lone surrogate is refused naming `field`, U+0000 is
    stripped."""
    if isinstance(value, dict | list) and _deeper_than(value, max_depth):
        raise exceptions.ApplicationError(
            f"{field} nests more than {max_depth} levels deep.",
            fields={field: [f"Nested more than {max_depth} levels deep."]},
        )
    bad = surrogate_paths(value)
    if bad:
        raise exceptions.ApplicationError(
            "Text with lone surrogates is not valid Unicode.",
            fields={_under(field, path): [SURROGATE_MESSAGE] for path in bad},
        )
    return strip_nul(value)


def json_text_parse(text: str | bytes, *, field: str, max_depth: int = JSON_DEPTH_MAX) -> Any:
    """JSON typed into a form or read from a file, under the body rules; errors name `field`."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        value, _ = json_parse(data, max_depth=max_depth)
    except exceptions.ApplicationError as exc:
        raise exceptions.ApplicationError(
            exc.message, fields={_under(field, path): messages for path, messages in exc.fields.items()}
        ) from None
    return value


def read_bounded(stream, limit: int) -> bytes:
    """At most `limit` bytes of the stream; more is a 413."""
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(limit)
    return data


def body_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser through `json_parse`: bounded size, depth and text; no RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded(stream, body_limit())
        if not body.strip():
            raise exceptions.ApplicationError("Send a JSON body.", fields={"body": ["Empty body."]})
        return json_parse(body)[0]


class _NulFreeQueryDict:
    @staticmethod
    def clean(data: QueryDict) -> QueryDict:
        if not any(
            "\x00" in key or any("\x00" in v for v in values if isinstance(v, str)) for key, values in data.lists()
        ):
            return data
        clean = QueryDict(mutable=True)
        for key, values in data.lists():
            clean.setlist(key.replace("\x00", ""), [v.replace("\x00", "") if isinstance(v, str) else v for v in values])
        clean._mutable = False
        return clean


class BoundedFormParser(parsers.FormParser):
    """Form bodies: bounded size; U+0000 stripped from keys and values, as in JSON bodies."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        return _NulFreeQueryDict.clean(QueryDict(read_bounded(stream, body_limit()), encoding=encoding))


class BoundedMultiPartParser(parsers.MultiPartParser):
    """Multipart bodies (Django enforces the size limits); U+0000 stripped from the fields."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        return parsers.DataAndFiles(_NulFreeQueryDict.clean(parsed.data), parsed.files)


class RawBodyParser(parsers.BaseParser):
    """Any media type, as bytes within the ingest limit: the ingest views decode it themselves.

    Having a parser at all matters: session authentication's CSRF check reads `request.POST`,
    which without one answered 415 to every signed-in ingest.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return read_bounded(stream, settings.INGEST_MAX_BODY_BYTES)


def int_column_error(value: Any, model, field_name: str) -> str | None:
    """None if `value` is an integer its column stores, else the message naming the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be an integer."
    field = model._meta.get_field(field_name)
    # The portable ranges (SQLite stores any 64-bit integer): the same answer on every database.
    low, high = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
    if (low is not None and value < low) or (high is not None and value > high):
        return f"Must be between {low} and {high}."
    return None


def is_id(value: Any) -> bool:
    """Text naming a database id: ASCII digits (`"²".isdigit()` is true, `int("²")` fails) that fit a bigint."""
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) <= 18
