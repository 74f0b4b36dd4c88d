"""Scores (apps/reviews/services/scores.py): validation per kind, and a human scoring again updates with history."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.models import Score, ScoreEvent
from apps.reviews.services.scores import score_record
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value, ok, stored",
    [
        (0, True, 0.0),
        (75, True, 75.0),
        (100, True, 100.0),
        (100.5, False, None),
        (-1, False, None),
        ("50", False, None),
        (True, False, None),
        (float("nan"), False, None),
    ],
)
def test_continuous_scores_within_range(project, span, value, ok, stored):
    config = factories.ScoreConfigFactory(project=project, min_value=0, max_value=100)
    if ok:
        assert score_record(span=span, config=config, value=value, source="api").value == stored
    else:
        with pytest.raises(ApplicationError) as exc:
            score_record(span=span, config=config, value=value, source="api")
        assert f"scores.{config.name}" in exc.value.fields


@pytest.mark.parametrize(
    "value, ok, stored",
    [
        (True, True, 1.0),
        (False, True, 0.0),
        (1, True, 1.0),
        (0, True, 0.0),
        (0.5, False, None),
        ("yes", False, None),
    ],
)
def test_boolean_scores(project, span, value, ok, stored):
    config = factories.ScoreConfigFactory(project=project, boolean=True)
    if ok:
        assert score_record(span=span, config=config, value=value, source="api").value == stored
    else:
        with pytest.raises(ApplicationError):
            score_record(span=span, config=config, value=value, source="api")


def test_categorical_scores_by_label_with_option_value(project, span):
    config = factories.ScoreConfigFactory(project=project, categorical=True)
    score = score_record(span=span, config=config, label="partially", source="api")
    assert (score.label, score.value) == ("partially", 0.5)
    with pytest.raises(ApplicationError, match="Unknown option 'wrong'"):
        score_record(span=span, config=config, label="wrong", source="api")
    with pytest.raises(ApplicationError, match="one option"):
        score_record(span=span, config=config, labels=["correct", "incorrect"], source="api")


def test_multi_select_scores_store_labels_and_mean(project, span):
    config = factories.ScoreConfigFactory(project=project, multi=True)
    score = score_record(span=span, config=config, labels=["tone", "too long"], source="api")
    assert score.labels == ["tone", "too long"] and score.value == 0.75
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, labels=["tone", "tone"], source="api")
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, labels=[], source="api")


def test_text_scores_respect_max_length(project, span):
    config = factories.ScoreConfigFactory(project=project, text=True)  # max 50
    assert score_record(span=span, config=config, text="fine", source="api").text == "fine"
    with pytest.raises(ApplicationError, match="At most 50"):
        score_record(span=span, config=config, text="x" * 51, source="api")
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, value=3, source="api")


def test_config_of_another_project_is_refused(project, other_project, span):
    config = factories.ScoreConfigFactory(project=other_project)
    with pytest.raises(ApplicationError) as exc:
        score_record(span=span, config=config, value=0.5, source="api")
    assert exc.value.status == 404


def test_human_scoring_again_updates_with_history(project, span, member):
    alice, bob = member(project), member(project)
    config = factories.ScoreConfigFactory(project=project)
    first = score_record(span=span, config=config, value=0.2, author=alice)
    second = score_record(span=span, config=config, value=0.9, author=alice, comment="better")
    assert first.pk == second.pk
    score_record(span=span, config=config, value=0.4, author=bob)
    score_record(span=span, config=config, value=1.0, source="api")
    score_record(span=span, config=config, value=0.0, source="end_user")
    score_record(span=span, config=config, value=0.0, source="end_user")
    assert Score.objects.filter(span=span, source="human").count() == 2
    assert Score.objects.filter(span=span).count() == 5
    history = list(ScoreEvent.objects.filter(score=first).values_list("action", "value", "comment"))
    assert history == [("create", 0.2, ""), ("update", 0.9, "better")]
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, value=0.5)  # human without author
