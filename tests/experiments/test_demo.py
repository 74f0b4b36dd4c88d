"""`load_demo` adds two scored experiments on the demo dataset, so compare has something to show."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.experiments.models import Experiment, ScorerKind
from apps.reviews.models import Score, ScoreSource

pytestmark = pytest.mark.django_db


def test_demo_has_two_scored_experiments_on_one_version():
    call_command("load_demo", stdout=StringIO())
    experiments = list(Experiment.objects.order_by("name"))
    assert [e.name for e in experiments] == ["baseline prompt", "concise prompt"]
    assert len({e.dataset_version_id for e in experiments}) == 1
    for experiment in experiments:
        assert experiment.results.count() == experiment.record_count > 0
        scores = Score.objects.filter(span__experiment_results__experiment=experiment, source=ScoreSource.AUTOMATED)
        assert scores.exclude(scorer_version=None).count() == 2 * experiment.record_count
    assert Experiment.objects.first().project.scorers.filter(kind=ScorerKind.LLM_JUDGE).exists()
    call_command("load_demo", stdout=StringIO())  # again: nothing added
    assert Experiment.objects.count() == 2
