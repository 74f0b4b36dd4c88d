"""Each deterministic scorer scoring experiment results: the Score rows a user sees on the results' spans."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ApplicationError
from apps.experiments.models import ScorerFailure
from apps.experiments.scoring import results_score
from apps.reviews.models import Score
from tests import factories

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import experiment_make, results_add, scorer_make

pytestmark = pytest.mark.django_db


def _scores(version) -> dict[str, float]:
    rows = Score.objects.filter(scorer_version=version).values_list("span__experiment_results__record_id", "value")
    return dict(rows)


def _run(project, config, definition, records, outputs):
    experiment = experiment_make(project, records)
    results = results_add(experiment, outputs)
    version = scorer_make(project, config, definition)
    outcome = results_score(version=version, results=results)
    return version, outcome


def test_exact_match_writes_boolean_automated_scores(project, qa_experiment, boolean_config):
    results = results_add(qa_experiment, {"q1": "30 days", "q2": " Free\n", "q3": "9 to 6"})
    version = scorer_make(project, boolean_config, {"type": "exact_match", "params": {}})
    outcome = results_score(version=version, results=results)
    assert (outcome.scored, outcome.failed) == (3, 0)
    assert _scores(version) == {"q1": 1.0, "q2": 1.0, "q3": 0.0}
    score = Score.objects.filter(scorer_version=version).first()
    assert score.source == "automated" and score.config == boolean_config and score.author is None


def test_exact_match_case_insensitive(project, boolean_config):
    records = [{"record_id": "a", "input": "x", "expected": "Paris"}]
    version, _ = _run(
        project, boolean_config, {"type": "exact_match", "params": {"case_sensitive": False}}, records, {"a": "PARIS"}
    )
    assert _scores(version) == {"a": 1.0}


def test_json_equal_ignores_key_order_but_not_types(project, boolean_config):
    records = [
        {"record_id": "a", "input": "x", "expected": {"city": "Paris", "n": [1, 2]}},
        {"record_id": "b", "input": "x", "expected": {"ok": True}},
        {"record_id": "c", "input": "x", "expected": {"n": 1}},
    ]
    outputs = {"a": '{"n": [1, 2], "city": "Paris"}', "b": {"ok": 1}, "c": {"n": 1.0}}
    version, _ = _run(project, boolean_config, {"type": "json_equal"}, records, outputs)
    assert _scores(version) == {"a": 1.0, "b": 0.0, "c": 1.0}


def test_contains_a_fixed_value_or_the_expected(project, boolean_config):
    records = [
        {"record_id": "a", "input": "x", "expected": "30 days"},
        {"record_id": "b", "input": "x", "expected": "30 days"},
    ]
    outputs = {"a": "You have 30 days to return it.", "b": "Thirty days."}
    version, _ = _run(project, boolean_config, {"type": "contains"}, records, outputs)
    assert _scores(version) == {"a": 1.0, "b": 0.0}
    config2 = factories.ScoreConfigFactory(project=project, name="polite", boolean=True)
    version2, _ = _run(
        project, config2, {"type": "contains", "params": {"value": "THANK", "case_sensitive": False}},
        records, {"a": "Thank you!", "b": "No."},
    )  # fmt: skip
    assert _scores(version2) == {"a": 1.0, "b": 0.0}


def test_regex_search_and_full_match(project, boolean_config):
    records = [{"record_id": "a", "input": "x", "expected": None}, {"record_id": "b", "input": "x", "expected": None}]
    outputs = {"a": "Order #12345 shipped", "b": "no order"}
    version, _ = _run(project, boolean_config, {"type": "regex", "params": {"pattern": r"#\d{5}\b"}}, records, outputs)
    assert _scores(version) == {"a": 1.0, "b": 0.0}
    config2 = factories.ScoreConfigFactory(project=project, name="shape", boolean=True)
    version2, _ = _run(
        project, config2, {"type": "regex", "params": {"pattern": "order.*", "full_match": True, "flags": "i"}},
        records, outputs,
    )  # fmt: skip
    assert _scores(version2) == {"a": 1.0, "b": 0.0}  # "no order" contains a match but is not one


def test_regex_on_oversized_output_is_a_recorded_failure(project, boolean_config):
    records = [{"record_id": "a", "input": "x", "expected": None}]
    version, outcome = _run(
        project, boolean_config, {"type": "regex", "params": {"pattern": "x"}}, records, {"a": "y" * 100_001}
    )
    assert outcome.failed == 1 and _scores(version) == {}
    assert "at most 100000" in ScorerFailure.objects.get(scorer_version=version).error


@pytest.mark.parametrize(
    "params, message",
    [
        ({"pattern": "(unclosed"}, "Not a valid regular expression"),
        ({"pattern": "(a+)+$"}, "Nested quantifiers"),
        ({"pattern": "x" * 1001}, "At most 1000"),
        ({}, "required"),
    ],
)
def test_bad_patterns_are_refused_when_defined(project, boolean_config, params, message):
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, boolean_config, {"type": "regex", "params": params})
    assert exc.value.status == 400
    assert message in " ".join(exc.value.fields["definition.params.pattern"])


def test_numeric_tolerance_absolute_relative_and_not_a_number(project, boolean_config):
    records = [
        {"record_id": "a", "input": "x", "expected": 100},
        {"record_id": "b", "input": "x", "expected": 100},
        {"record_id": "c", "input": "x", "expected": "100"},
        {"record_id": "d", "input": "x", "expected": 100},
    ]
    outputs = {"a": 100.4, "b": "104", "c": 95, "d": "about a hundred"}
    version, outcome = _run(
        project, boolean_config, {"type": "numeric_tolerance", "params": {"tolerance": 0.5, "relative": 0.02}},
        records, outputs,
    )  # fmt: skip
    assert _scores(version) == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert outcome.failed == 1
    failure = ScorerFailure.objects.get(scorer_version=version)
    assert failure.result.record_id == "d" and "not a number" in failure.error


def test_edit_distance_ratio_scaled_to_the_config_range(project, ratio_config):
    records = [
        {"record_id": "a", "input": "x", "expected": "kitten"},
        {"record_id": "b", "input": "x", "expected": "abc"},
    ]
    version, _ = _run(project, ratio_config, {"type": "edit_distance"}, records, {"a": "sitting", "b": "abc"})
    scores = _scores(version)
    # Levenshtein(kitten, sitting) = 3 over max length 7: similarity 4/7, on a 0–10 config.
    assert scores["a"] == pytest.approx(10 * 4 / 7)
    assert scores["b"] == 10.0


def test_edit_distance_on_a_boolean_config_uses_the_threshold(project, boolean_config):
    records = [
        {"record_id": "a", "input": "x", "expected": "kitten"},
        {"record_id": "b", "input": "x", "expected": "k"},
    ]
    version, _ = _run(
        project, boolean_config, {"type": "edit_distance", "params": {"threshold": 0.5}}, records,
        {"a": "sitting", "b": "zzzz"},
    )  # fmt: skip
    assert _scores(version) == {"a": 1.0, "b": 0.0}


def test_json_schema_validity(project, boolean_config):
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
    records = [{"record_id": k, "input": "x", "expected": None} for k in "abc"]
    outputs = {"a": {"answer": "yes"}, "b": '{"answer": 3}', "c": "not json"}
    version, _ = _run(project, boolean_config, {"type": "json_schema", "params": {"schema": schema}}, records, outputs)
    assert _scores(version) == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_invalid_schema_is_refused(project, boolean_config):
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, boolean_config, {"type": "json_schema", "params": {"schema": {"type": "nonsense"}}})
    assert "definition.params.schema" in exc.value.fields


def test_output_path_reads_inside_the_output(project, boolean_config):
    records = [{"record_id": "a", "input": "x", "expected": "30 days"}]
    version, _ = _run(
        project, boolean_config, {"type": "exact_match", "params": {"output_path": "choices.0.text"}}, records,
        {"a": {"choices": [{"text": "30 days"}]}},
    )  # fmt: skip
    assert _scores(version) == {"a": 1.0}


def test_rescoring_the_same_version_replaces_its_scores(project, qa_experiment, boolean_config):
    results = results_add(qa_experiment, {"q1": "30 days", "q2": "Free", "q3": "x"})
    version = scorer_make(project, boolean_config, {"type": "exact_match"})
    results_score(version=version, results=results)
    results[2].output = "9 to 5"
    results[2].save()
    results_score(version=version, results=results)
    assert Score.objects.filter(scorer_version=version).count() == 3
    assert _scores(version) == {"q1": 1.0, "q2": 1.0, "q3": 1.0}


def test_a_result_without_a_span_is_a_recorded_failure(project, qa_experiment, boolean_config):
    results = results_add(qa_experiment, {"q1": "30 days"}, span=False)
    version = scorer_make(project, boolean_config, {"type": "exact_match"})
    outcome = results_score(version=version, results=results)
    assert outcome.failed == 1
    assert ScorerFailure.objects.get(result=results[0]).error == "The result has no span to carry a score."


@pytest.mark.parametrize(
    "definition, field",
    [
        ({"type": "levenshtein"}, "definition.type"),
        ({"type": "contains", "params": {"needle": "x"}}, "definition.params.needle"),
        ({"type": "numeric_tolerance", "params": {"tolerance": -1}}, "definition.params.tolerance"),
        ({"type": "exact_match", "extra": 1}, "definition"),
        ("exact_match", "definition"),
    ],
)
def test_bad_definitions_name_the_field(project, boolean_config, definition, field):
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, boolean_config, definition)
    assert field in exc.value.fields


def test_deterministic_scorers_do_not_write_categorical_configs(project):
    config = factories.ScoreConfigFactory(project=project, categorical=True)
    with pytest.raises(ApplicationError) as exc:
        scorer_make(project, config, {"type": "exact_match"})
    assert "config" in exc.value.fields
