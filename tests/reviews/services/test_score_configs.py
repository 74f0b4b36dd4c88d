"""Score configs (apps/reviews/services/score_configs.py): validation, unique names, what a config with scores keeps, archive instead of delete."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.models import Score
from apps.reviews.services.score_configs import (
    score_config_archive,
    score_config_create,
    score_config_delete,
    score_config_restore,
    score_config_update,
)
from apps.reviews.services.scores import score_record
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "kind": "boolean"}, "name"),
        ({"name": "x", "kind": "stars"}, "kind"),
        ({"name": "x", "kind": "continuous", "min_value": 1, "max_value": 1}, "max_value"),
        ({"name": "x", "kind": "continuous", "min_value": "low"}, "min_value"),
        ({"name": "x", "kind": "categorical", "options": []}, "options"),
        (
            {"name": "x", "kind": "categorical", "options": [{"label": "a", "value": 1}, {"label": "a", "value": 0}]},
            "options.1.label",
        ),
        ({"name": "x", "kind": "categorical", "options": [{"label": "a", "value": "high"}]}, "options.0.value"),
        ({"name": "x", "kind": "text", "max_length": 0}, "max_length"),
    ],
)
def test_config_create_rejects_bad_settings_naming_the_field(project, data, field):
    with pytest.raises(ApplicationError) as exc:
        score_config_create(project=project, **data)
    assert field in exc.value.fields


def test_config_names_are_unique_per_project(project, other_project):
    score_config_create(project=project, name="helpful", kind="boolean")
    score_config_create(project=other_project, name="helpful", kind="boolean")
    with pytest.raises(ApplicationError) as exc:
        score_config_create(project=project, name="helpful", kind="text")
    assert "name" in exc.value.fields


def test_config_with_scores_keeps_its_kind_labels_and_range(project, span, member):
    user = member(project)
    cat = factories.ScoreConfigFactory(project=project, categorical=True)
    score_record(span=span, config=cat, label="partially", author=user)
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cat, kind="boolean")
    assert "kind" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cat, options=[{"label": "correct", "value": 1}])
    assert "partially" in exc.value.fields["options"][0]
    # Changing an option's value re-values the scores that picked it.
    score_config_update(
        config=cat,
        options=[
            {"label": "correct", "value": 1},
            {"label": "partially", "value": 0.25},
            {"label": "incorrect", "value": 0},
        ],
    )
    assert Score.objects.get(config=cat).value == 0.25
    cont = factories.ScoreConfigFactory(project=project, min_value=0, max_value=10)
    score_record(span=span, config=cont, value=8, author=user)
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cont, max_value=5)
    assert "min_value" in exc.value.fields


def test_config_with_scores_cannot_be_deleted_only_archived(project, span):
    config = factories.ScoreConfigFactory(project=project, boolean=True)
    score_record(span=span, config=config, value=True, source="api")
    with pytest.raises(ApplicationError, match="archive"):
        score_config_delete(config=config)
    score_config_archive(config=config)
    with pytest.raises(ApplicationError) as exc:
        score_record(span=span, config=config, value=False, source="api")
    assert "archived" in exc.value.fields[f"scores.{config.name}"][0]
    assert Score.objects.filter(config=config).count() == 1  # kept
    score_config_restore(config=config)
    score_record(span=span, config=config, value=False, source="api")
    assert Score.objects.filter(config=config).count() == 2
    empty = factories.ScoreConfigFactory(project=project)
    score_config_delete(config=empty)
    assert not type(empty).objects.filter(pk=empty.pk).exists()
