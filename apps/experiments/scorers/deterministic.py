"""Deterministic scorers: each compares an output with the expected value (and its params) into a ratio 0–1.

A definition is `{"type": <one of TYPES>, "params": {...}}`. `deterministic_clean` validates it once, when a
version is made (a bad regex or schema is a 400 then, never a failure per result); `deterministic_ratio`
scores one pair and raises `ScorerError` for a pair it cannot score (recorded as a ScorerFailure).

Inputs are untrusted and may be large: text compared by a regex or an edit distance is bounded by
TEXT_MAX characters (longer is a failure, not a slow worker), patterns by PATTERN_MAX and by refusing
nested quantifiers, the classic catastrophic-backtracking shape.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import jsonschema
from rapidfuzz.distance import Levenshtein

TEXT_MAX = 100_000
PATTERN_MAX = 1_000
SCHEMA_MAX_CHARS = 50_000
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
# A group holding a quantifier that is itself quantified: (a+)+, (\w*)*, (x+){2,}.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\})(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,)")


class ScorerError(Exception):
    """This output (or expected) cannot be scored by this scorer; the message says why."""


def _path_get(value: Any, path: str) -> Any:
    """`a.b.0.c` into nested objects and lists; a missing step is a ScorerError."""
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise ScorerError(f"No {step!r} at path {path!r}.")
    return value


def as_text(value: Any) -> str:
    """Text of a value: a string as is, anything else as canonical JSON (keys sorted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _bounded_text(value: Any, what: str) -> str:
    text = as_text(value)
    if len(text) > TEXT_MAX:
        raise ScorerError(f"The {what} is {len(text)} characters; this scorer compares at most {TEXT_MAX}.")
    return text


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _normal(value: Any) -> Any:
    """A comparable form: object key order ignored, 1 == 1.0, but true is not 1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((str(k), _normal(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_normal(v) for v in value))
    return ("other", repr(value))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ScorerError(f"The {what} is not a number.")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ScorerError(f"The {what} is not a number: {value[:40]!r}.") from None
    else:
        raise ScorerError(f"The {what} is not a number.")
    if not math.isfinite(number):
        raise ScorerError(f"The {what} is not a finite number.")
    return number


def _fold(text: str, params: dict) -> str:
    return text if params.get("case_sensitive", True) else text.casefold()


# ------------------------------------------------------------------------------------------ the scorers


def exact_match(output: Any, expected: Any, params: dict) -> float:
    a, b = as_text(output), as_text(expected)
    if params.get("strip", True):
        a, b = a.strip(), b.strip()
    return 1.0 if _fold(a, params) == _fold(b, params) else 0.0


def json_equal(output: Any, expected: Any, params: dict) -> float:
    return 1.0 if _normal(_as_json(output)) == _normal(_as_json(expected)) else 0.0


def contains(output: Any, expected: Any, params: dict) -> float:
    needle = params["value"] if "value" in params else as_text(expected)
    return 1.0 if _fold(needle, params) in _fold(_bounded_text(output, "output"), params) else 0.0


def regex(output: Any, expected: Any, params: dict) -> float:
    pattern = _compiled(params)
    text = _bounded_text(output, "output")
    found = pattern.fullmatch(text) if params.get("full_match") else pattern.search(text)
    return 1.0 if found else 0.0


def numeric_tolerance(output: Any, expected: Any, params: dict) -> float:
    a, b = _number(output, "output"), _number(expected, "expected value")
    allowed = max(float(params.get("tolerance", 0.0)), float(params.get("relative", 0.0)) * abs(b))
    return 1.0 if abs(a - b) <= allowed else 0.0


def edit_distance(output: Any, expected: Any, params: dict) -> float:
    a = _fold(_bounded_text(output, "output"), params)
    b = _fold(_bounded_text(expected, "expected value"), params)
    return float(Levenshtein.normalized_similarity(a, b))


def json_schema(output: Any, expected: Any, params: dict) -> float:
    validator = _validator(params)
    return 1.0 if validator.is_valid(_as_json(output)) else 0.0


TYPES: dict[str, Callable[[Any, Any, dict], float]] = {
    "exact_match": exact_match,
    "json_equal": json_equal,
    "contains": contains,
    "regex": regex,
    "numeric_tolerance": numeric_tolerance,
    "edit_distance": edit_distance,
    "json_schema": json_schema,
}

# Compiled patterns and validators, keyed by the params' canonical JSON: a worker compiles each once.
_compiled_cache: dict[str, Any] = {}


def _cache_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def _compiled(params: dict) -> re.Pattern:
    key = _cache_key(params)
    if key not in _compiled_cache:
        flags = 0
        for flag in params.get("flags", ""):
            flags |= _FLAGS[flag]
        _compiled_cache[key] = re.compile(params["pattern"], flags)
    return _compiled_cache[key]


def _validator(params: dict):
    key = _cache_key(params)
    if key not in _compiled_cache:
        schema = params["schema"]
        _compiled_cache[key] = jsonschema.validators.validator_for(schema)(schema)
    return _compiled_cache[key]


def deterministic_ratio(definition: dict, *, output: Any, expected: Any) -> float:
    """The ratio 0–1 of one (output, expected) pair under a cleaned definition."""
    params = definition.get("params") or {}
    if params.get("output_path"):
        output = _path_get(output, params["output_path"])
    if params.get("expected_path"):
        expected = _path_get(expected, params["expected_path"])
    return TYPES[definition["type"]](output, expected, params)
