"""Scorers: deterministic comparisons and LLM judges, behind one call per scorer version.

`scorer_function(version)` answers a function (input, output, expected) -> CleanScore (the reviews app's
validated score for `version.config`), raising ScorerError for an item it cannot score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.reviews.services.scores import CleanScore, score_value_clean
from apps.reviews.services.validation import FieldErrors

from ..models import ScorerKind, ScorerVersion
from .definitions import ratio_raw
from .deterministic import ScorerError, deterministic_ratio
from .judge import judge_score

__all__ = ["ScorerError", "scorer_function"]


def scorer_function(version: ScorerVersion) -> Callable[[Any, Any, Any], CleanScore]:
    definition, config = version.definition, version.config
    if version.scorer.kind == ScorerKind.LLM_JUDGE:

        def judge(input: Any, output: Any, expected: Any) -> CleanScore:
            return judge_score(definition, config, input=input, output=output, expected=expected)

        return judge
    params = definition.get("params") or {}

    def deterministic(input: Any, output: Any, expected: Any) -> CleanScore:
        ratio = deterministic_ratio(definition, output=output, expected=expected)
        errors = FieldErrors()
        clean = score_value_clean(
            config=config, raw=ratio_raw(ratio, config=config, params=params), errors=errors, name="value"
        )
        if clean is None:
            raise ScorerError("; ".join(m for messages in errors.fields.values() for m in messages))
        return clean

    return deterministic
