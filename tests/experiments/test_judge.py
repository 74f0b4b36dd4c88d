"""LLM judges against the loopback stub: the prompt they send, valid answers as scores, invalid ones recorded."""

from __future__ import annotations

import json

import pytest

from apps.core.exceptions import ApplicationError
from apps.experiments.models import ScorerFailure
from apps.experiments.scoring import results_score
from apps.reviews.models import Score
from tests.llm_stub import StubLLM

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import results_add, scorer_make

pytestmark = pytest.mark.django_db

RUBRIC = "Is the answer correct given the expected answer? Partial credit for incomplete answers."
EXAMPLE = {
    "input": {"question": "Capital of France?"},
    "output": "Paris",
    "expected": "Paris",
    "label": "correct",
    "reason": "Same city.",
}


def _judge(project, config, **definition):
    return scorer_make(
        project, config, {"rubric": RUBRIC, "model": "judge-1", **definition}, kind="llm_judge", name="judge"
    )


def test_categorical_judge_writes_the_label_with_its_reason(project, settings, qa_experiment, categorical_config):
    version = _judge(project, categorical_config, examples=[EXAMPLE], parameters={"max_tokens": 50})
    results = results_add(qa_experiment, {"q1": "30 days"})
    with StubLLM(answer={"label": "correct", "reason": "Matches the policy."}) as stub:
        stub.configure(settings, "sk-judge")
        outcome = results_score(version=version, results=results)
    assert (outcome.scored, outcome.failed) == (1, 0)
    score = Score.objects.get(scorer_version=version)
    assert (score.label, score.value, score.comment, score.source) == (
        "correct",
        1.0,
        "Matches the policy.",
        "automated",
    )
    body = stub.requests[0]["body"]
    assert body["model"] == "judge-1" and body["max_tokens"] == 50
    assert body["response_format"] == {"type": "json_object"}
    system, example_in, example_out, item = body["messages"]
    assert RUBRIC in system["content"] and '"correct", "partially", "incorrect"' in system["content"]
    assert "Capital of France?" in example_in["content"]
    assert json.loads(example_out["content"]) == {"label": "correct", "reason": "Same city."}
    assert "Refund window?" in item["content"] and "30 days" in item["content"]
    assert "## Expected\n30 days" in item["content"]


def test_boolean_and_continuous_judges(project, settings, qa_experiment, boolean_config, ratio_config):
    results = results_add(qa_experiment, {"q1": "30 days", "q2": "Free"})
    yes_no = _judge(project, boolean_config)
    graded = scorer_make(project, ratio_config, {"rubric": RUBRIC}, kind="llm_judge", name="grader")
    with StubLLM(answer={"value": True, "reason": "ok"}) as stub:
        stub.configure(settings, "sk")
        results_score(version=yes_no, results=results)
    with StubLLM(replies=['```json\n{"value": 7.5, "reason": "close"}\n```'], answer={"value": 10}) as stub:
        stub.configure(settings, "sk")
        results_score(version=graded, results=results)
    assert sorted(Score.objects.filter(scorer_version=yes_no).values_list("value", flat=True)) == [1.0, 1.0]
    assert sorted(Score.objects.filter(scorer_version=graded).values_list("value", flat=True)) == [7.5, 10.0]
    assert stub.requests[0]["body"]["model"] == "stub-model"  # no model in the definition: LLM_MODEL


@pytest.mark.parametrize(
    "reply, message",
    [
        (json.dumps({"label": "maybe", "reason": "unsure"}), "Unknown option 'maybe'"),
        (json.dumps({"verdict": "correct"}), "has no 'label'"),
        ("I think it is correct.", "did not answer with JSON"),
        (json.dumps({"label": "correct", "reason": 5}), "reason is not text"),
        ((503, {"Retry-After": "0"}), "HTTP 503"),
    ],
)
def test_an_invalid_answer_is_a_recorded_failure(project, settings, qa_experiment, categorical_config, reply, message):
    version = _judge(project, categorical_config)
    results = results_add(qa_experiment, {"q1": "30 days"})
    with StubLLM(replies=[reply] * 3) as stub:
        stub.configure(settings, "sk")
        outcome = results_score(version=version, results=results)
    assert (outcome.scored, outcome.failed) == (0, 1)
    assert not Score.objects.filter(scorer_version=version).exists()
    failure = ScorerFailure.objects.get(scorer_version=version)
    assert failure.result == results[0] and failure.span_id == results[0].span_id
    assert message in failure.error


def test_out_of_range_value_is_a_failure_not_a_clamped_score(project, settings, qa_experiment, ratio_config):
    version = _judge(project, ratio_config)
    results = results_add(qa_experiment, {"q1": "30 days"})
    with StubLLM(answer={"value": 11, "reason": "great"}) as stub:
        stub.configure(settings, "sk")
        results_score(version=version, results=results)
    assert "out of range" in ScorerFailure.objects.get(scorer_version=version).error


def test_rescoring_after_a_failure_replaces_the_failure(project, settings, qa_experiment, boolean_config):
    version = _judge(project, boolean_config)
    results = results_add(qa_experiment, {"q1": "30 days"})
    with StubLLM(replies=["nonsense"], answer={"value": False}) as stub:
        stub.configure(settings, "sk")
        results_score(version=version, results=results)
        assert ScorerFailure.objects.filter(scorer_version=version).count() == 1
        results_score(version=version, results=results)
    assert not ScorerFailure.objects.filter(scorer_version=version).exists()
    assert Score.objects.get(scorer_version=version).value == 0.0


@pytest.mark.parametrize(
    "definition, field",
    [
        ({"rubric": ""}, "definition.rubric"),
        ({"rubric": "x", "examples": [{**EXAMPLE, "label": "maybe"}]}, "definition.examples[0].label"),
        ({"rubric": "x", "examples": [{"input": 1, "grade": 2}]}, "definition.examples[0]"),
        ({"rubric": "x", "parameters": {"base_url": "http://evil"}}, "definition.parameters.base_url"),
        ({"rubric": "x", "prompt": "y"}, "definition"),
    ],
)
def test_bad_judge_definitions_name_the_field(project, categorical_config, definition, field):
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, categorical_config, definition, kind="llm_judge")
    assert field in exc.value.fields


def test_judges_do_not_write_text_configs(project):
    from tests import factories

    config = factories.ScoreConfigFactory(project=project, text=True)
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, config, {"rubric": "x"}, kind="llm_judge")
    assert "config" in exc.value.fields
