"""LLM judges: a rubric, few-shot examples and the item (input, output, expected) sent to the one LLM client
(`apps.core.llm`); the answer must be a JSON object in the shape the score config asks for, and is validated by
the reviews app's score validation. Anything else is a ScorerError, recorded as a ScorerFailure by the caller.
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.exceptions import ApplicationError
from apps.core.llm import json_from_reply, llm_completion
from apps.reviews.models import ScoreConfig, ScoreKind
from apps.reviews.services.comments import MAX_COMMENT_LENGTH
from apps.reviews.services.scores import CleanScore, score_value_clean
from apps.reviews.services.validation import FieldErrors

from .deterministic import ScorerError

ITEM_CHARS_MAX = 30_000  # per field shown to the judge; longer is cut with a marker
ANSWER_PREVIEW = 200


def answer_shape(config: ScoreConfig) -> str:
    """The JSON object the judge must answer with, in words."""
    if config.kind == ScoreKind.CATEGORICAL:
        labels = ", ".join(json.dumps(label) for label in config.option_labels)
        return f'{{"label": one of [{labels}], "reason": "<one or two sentences>"}}'
    if config.kind == ScoreKind.BOOLEAN:
        return '{"value": true or false, "reason": "<one or two sentences>"}'
    return (
        f'{{"value": a number from {config.min_value:g} to {config.max_value:g}, "reason": "<one or two sentences>"}}'
    )


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= ITEM_CHARS_MAX else text[:ITEM_CHARS_MAX] + " …[cut]"


def _item(input: Any, output: Any, expected: Any) -> str:
    parts = [f"## Input\n{_shown(input)}", f"## Output\n{_shown(output)}"]
    if expected is not None:
        parts.append(f"## Expected\n{_shown(expected)}")
    return "\n\n".join(parts)


def _example_answer(example: dict, config: ScoreConfig) -> str:
    key = "label" if config.kind == ScoreKind.CATEGORICAL else "value"
    value = example.get("label", example.get("value"))
    return json.dumps({key: value, "reason": example.get("reason", "")})


def judge_messages(definition: dict, config: ScoreConfig, *, input: Any, output: Any, expected: Any) -> list[dict]:
    """System: rubric and answer shape; then each example as a user/assistant pair; then the item."""
    system = (
        "You are an evaluator. Judge the output of an AI application by this rubric.\n\n"
        f"# Rubric\n{definition['rubric']}\n\n"
        f"Answer with one JSON object and nothing else: {answer_shape(config)}"
    )
    messages = [{"role": "system", "content": system}]
    for example in definition.get("examples") or []:
        messages.append(
            {"role": "user", "content": _item(example.get("input"), example.get("output"), example.get("expected"))}
        )
        messages.append({"role": "assistant", "content": _example_answer(example, config)})
    messages.append({"role": "user", "content": _item(input, output, expected)})
    return messages


def judge_answer_clean(answer: Any, config: ScoreConfig) -> CleanScore:
    """The judge's JSON answer as a validated score, or a ScorerError quoting what it said."""
    said = json.dumps(answer, ensure_ascii=False)[:ANSWER_PREVIEW]
    key = "label" if config.kind == ScoreKind.CATEGORICAL else "value"
    if not isinstance(answer, dict) or key not in answer:
        raise ScorerError(f"The judge's answer has no {key!r}: {said}")
    reason = answer.get("reason", "")
    if not isinstance(reason, str):
        raise ScorerError(f"The judge's reason is not text: {said}")
    errors = FieldErrors()
    clean = score_value_clean(
        config=config, raw={key: answer[key], "comment": reason[:MAX_COMMENT_LENGTH]}, errors=errors, name=key
    )
    if clean is None:
        problem = "; ".join(m for messages in errors.fields.values() for m in messages)
        raise ScorerError(f"The judge's answer is not a valid {config.kind} score ({problem}): {said}")
    return clean


def judge_score(definition: dict, config: ScoreConfig, *, input: Any, output: Any, expected: Any) -> CleanScore:
    """Ask the judge about one item."""
    messages = judge_messages(definition, config, input=input, output=output, expected=expected)
    parameters = dict(definition.get("parameters") or {})
    temperature = parameters.pop("temperature", 0.0)
    try:
        completion = llm_completion(
            messages,
            model=definition.get("model") or None,
            temperature=temperature,
            parameters=parameters,
            json_mode=True,
        )
    except ApplicationError as exc:
        raise ScorerError(exc.message) from None
    content = completion.content
    if isinstance(content, str):
        try:
            content = json_from_reply(content)
        except ValueError:
            raise ScorerError(f"The judge did not answer with JSON: {content[:ANSWER_PREVIEW]!r}") from None
    return judge_answer_clean(content, config)
