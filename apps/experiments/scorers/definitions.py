"""Validating scorer definitions, hashing them, and turning a ratio into the score config's kind.

Deterministic: `{"type": "exact_match"|"json_equal"|"contains"|"regex"|"numeric_tolerance"|"edit_distance"|
"json_schema", "params": {...}}`. LLM judge: `{"rubric": str, "model": str, "parameters": {...},
"examples": [{"input", "output", "expected", "value", "label", "reason"}...]}`. Errors name
`definition.<path>` so a client sees which key is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jsonschema

from apps.core.exceptions import ApplicationError
from apps.core.llm import PASS_THROUGH
from apps.core.parsing import value_clean
from apps.reviews.models import ScoreConfig, ScoreKind
from apps.reviews.services.scores import score_value_clean
from apps.reviews.services.validation import FieldErrors

from ..models import ScorerKind
from .deterministic import _NESTED_QUANTIFIER, PATTERN_MAX, SCHEMA_MAX_CHARS, TYPES

DEFINITION_MAX_CHARS = 200_000
RUBRIC_MAX = 20_000
EXAMPLES_MAX = 50
KINDS_FOR = {
    ScorerKind.DETERMINISTIC: (ScoreKind.BOOLEAN, ScoreKind.CONTINUOUS),
    ScorerKind.LLM_JUDGE: (ScoreKind.BOOLEAN, ScoreKind.CONTINUOUS, ScoreKind.CATEGORICAL),
}
_COMMON = {"output_path": str, "expected_path": str, "threshold": float, "case_sensitive": bool, "strip": bool}
_PARAMS: dict[str, dict[str, type]] = {
    "exact_match": {},
    "json_equal": {},
    "contains": {"value": str},
    "regex": {"pattern": str, "flags": str, "full_match": bool},
    "numeric_tolerance": {"tolerance": float, "relative": float},
    "edit_distance": {},
    "json_schema": {"schema": dict},
}
_REQUIRED = {"regex": ("pattern",), "json_schema": ("schema",)}
EXAMPLE_KEYS = {"input", "output", "expected", "value", "label", "reason"}


def definition_hash(definition: dict) -> str:
    """sha256 of the canonical JSON (keys sorted, no spaces): equal definitions hash equally."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_check(*, kind: str, config: ScoreConfig, project_id: int) -> None:
    """The score config a scorer writes: this project's, not archived, of a kind the scorer can answer."""
    if config.project_id != project_id:
        raise ApplicationError("Score config not found.", fields={"config": ["Unknown score config."]}, status=400)
    if config.is_archived:
        raise ApplicationError("Archived config.", fields={"config": ["This score config is archived."]})
    allowed = KINDS_FOR[kind]
    if config.kind not in allowed or (config.kind == ScoreKind.CATEGORICAL and config.multi_select):
        kinds = ", ".join(allowed)
        raise ApplicationError(
            "This scorer cannot write that config.", fields={"config": [f"A {kind} scorer writes {kinds} configs."]}
        )


def _typed(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, expected)


def _params_clean(kind: str, params: dict, errors: FieldErrors) -> None:
    allowed = {**_COMMON, **_PARAMS[kind]}
    for key, value in params.items():
        name = f"definition.params.{key}"
        if key not in allowed:
            errors.add(name, f"Unknown parameter for {kind}: choose from {', '.join(sorted(allowed))}.")
        elif not _typed(value, allowed[key]):
            errors.add(name, f"Expected {allowed[key].__name__.replace('float', 'a number')}.")
        elif allowed[key] is float and (value < 0 or (key == "threshold" and value > 1)):
            errors.add(name, "Out of range." if key == "threshold" else "Must not be negative.")
    for key in _REQUIRED.get(kind, ()):
        if key not in params:
            errors.add(f"definition.params.{key}", "This parameter is required.")
    if kind == "regex" and isinstance(params.get("pattern"), str):
        _pattern_check(params, errors)
    if kind == "json_schema" and isinstance(params.get("schema"), dict):
        _schema_check(params["schema"], errors)


def _pattern_check(params: dict, errors: FieldErrors) -> None:
    pattern = params["pattern"]
    name = "definition.params.pattern"
    if len(pattern) > PATTERN_MAX:
        errors.add(name, f"At most {PATTERN_MAX} characters.")
        return
    flags = params.get("flags", "")
    if isinstance(flags, str) and set(flags) - set("ims"):
        errors.add("definition.params.flags", "Flags are letters from i, m, s.")
        return
    if _NESTED_QUANTIFIER.search(pattern):
        errors.add(name, "Nested quantifiers such as (a+)+ can take exponential time; rewrite the pattern.")
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        errors.add(name, f"Not a valid regular expression: {exc}.")


def _schema_check(schema: dict, errors: FieldErrors) -> None:
    if len(json.dumps(schema)) > SCHEMA_MAX_CHARS:
        errors.add("definition.params.schema", f"At most {SCHEMA_MAX_CHARS} characters of JSON.")
        return
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        errors.add("definition.params.schema", f"Not a valid JSON Schema: {exc.message}.")


def _deterministic_clean(definition: dict, errors: FieldErrors) -> dict:
    extra = set(definition) - {"type", "params"}
    if extra:
        errors.add("definition", f"Unknown keys: {', '.join(sorted(extra))}.")
    kind = definition.get("type")
    params = definition.get("params", {})
    if kind not in TYPES:
        errors.add("definition.type", f"Choose one of {', '.join(TYPES)}.")
    elif not isinstance(params, dict):
        errors.add("definition.params", "Expected an object.")
    else:
        _params_clean(kind, params, errors)
    return {"type": kind, "params": params}


def _judge_clean(definition: dict, config: ScoreConfig, errors: FieldErrors) -> dict:
    extra = set(definition) - {"rubric", "model", "parameters", "examples"}
    if extra:
        errors.add("definition", f"Unknown keys: {', '.join(sorted(extra))}.")
    rubric, model = definition.get("rubric"), definition.get("model", "")
    parameters, examples = definition.get("parameters", {}), definition.get("examples", [])
    if not isinstance(rubric, str) or not rubric.strip() or len(rubric) > RUBRIC_MAX:
        errors.add("definition.rubric", f"A rubric is required: text of at most {RUBRIC_MAX} characters.")
    if not isinstance(model, str) or len(model) > 200:
        errors.add("definition.model", "A model name of at most 200 characters (empty: LLM_MODEL).")
    if not isinstance(parameters, dict):
        errors.add("definition.parameters", "Expected an object.")
    else:
        for key in set(parameters) - PASS_THROUGH - {"temperature"}:
            errors.add(f"definition.parameters.{key}", "Not a sampling parameter this server passes on.")
    if not isinstance(examples, list) or len(examples) > EXAMPLES_MAX:
        errors.add("definition.examples", f"A list of at most {EXAMPLES_MAX} examples.")
        examples = []
    for i, example in enumerate(examples):
        name = f"definition.examples[{i}]"
        if not isinstance(example, dict) or set(example) - EXAMPLE_KEYS:
            errors.add(name, f"An object with keys from {', '.join(sorted(EXAMPLE_KEYS))}.")
            continue
        raw = example.get("label", example.get("value"))
        score_value_clean(config=config, raw=raw, errors=errors, name=f"{name}.label")
    return {"rubric": rubric, "model": model, "parameters": parameters, "examples": examples}


def definition_clean(*, kind: str, definition: Any, config: ScoreConfig) -> dict:
    """The cleaned definition of a `kind` scorer writing `config`, or an ApplicationError naming the field."""
    if not isinstance(definition, dict):
        raise ApplicationError("Invalid definition.", fields={"definition": ["Expected an object."]})
    definition = value_clean(definition, field="definition")
    if len(json.dumps(definition)) > DEFINITION_MAX_CHARS:
        raise ApplicationError("Definition too large.", fields={"definition": ["At most 200,000 characters."]})
    errors = FieldErrors()
    if kind == ScorerKind.DETERMINISTIC:
        cleaned = _deterministic_clean(definition, errors)
    else:
        cleaned = _judge_clean(definition, config, errors)
    errors.raise_if_any("Invalid scorer definition.")
    return cleaned


def ratio_raw(ratio: float, *, config: ScoreConfig, params: dict) -> Any:
    """A deterministic ratio as the raw score the config takes: boolean (ratio ≥ threshold, default 0.5)
    or continuous (scaled to the config's min–max)."""
    if config.kind == ScoreKind.BOOLEAN:
        return ratio >= float(params.get("threshold", 0.5))
    return config.min_value + ratio * (config.max_value - config.min_value)
