"""`load_demo` adds two scored experiments on the demo dataset (deterministic scorers and a judge with a
reviewer's labels), so compare and judge alignment have something to show."""

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
        assert scores.exclude(scorer_version=None).count() == 3 * experiment.record_count  # 2 scorers and the judge
    assert Experiment.objects.first().project.scorers.filter(kind=ScorerKind.LLM_JUDGE).exists()
    call_command("load_demo", stdout=StringIO())  # again: nothing added
    assert Experiment.objects.count() == 2


def test_demo_judge_has_scores_and_human_labels_so_alignment_shows_agreement(admin_client):
    from sklearn.metrics import cohen_kappa_score

    from apps.experiments.demo import RUBRIC_NOTE

    call_command("load_demo", stdout=StringIO())
    judge = Experiment.objects.first().project.scorers.get(kind=ScorerKind.LLM_JUDGE)
    version = judge.versions.get()
    for experiment in Experiment.objects.all():
        judged = Score.objects.filter(span__experiment_results__experiment=experiment, scorer_version=version)
        assert judged.count() == experiment.record_count  # every result, written as the version's automated scores
        assert set(judged.values_list("source", "comment").distinct()) == {(ScoreSource.AUTOMATED, RUBRIC_NOTE)}
    human = Score.objects.filter(config=version.config, source=ScoreSource.HUMAN)
    assert human.count() > 10 and set(human.values_list("author__username", flat=True)) == {"demo-reviewer"}

    response = admin_client.get(f"/api/v1/scorers/{judge.pk}/alignment/")
    assert response.status_code == 200, response.content
    (row,) = response.json()["versions"]
    assert row["measure"] == "cohen_kappa" and row["labelled"] == human.count()
    assert 0 < row["disagreement_count"] < row["labelled"] and row["disagreements"]
    # The kappa the page shows, computed independently from the stored pairs.
    judge_by_span = dict(Score.objects.filter(scorer_version=version).values_list("span_id", "value"))
    pairs = [(h >= 0.5, judge_by_span[span] >= 0.5) for span, h in human.values_list("span_id", "value")]
    expected = cohen_kappa_score([h for h, _ in pairs], [j for _, j in pairs])
    assert row["value"] == pytest.approx(expected, abs=1e-9)
    assert sum(map(sum, row["confusion"]["matrix"])) == row["labelled"]

    # The compare page shows the judge's config with the judge's values (written after the labels).
    baseline, candidate = Experiment.objects.order_by("created_at")
    page = admin_client.get(f"/admin/experiments/experiment/compare/?ids={baseline.pk},{candidate.pk}")
    assert page.status_code == 200 and b"judge: helpful" in page.content
