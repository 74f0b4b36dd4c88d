"""`GET /api/v1/scorers/{id}/alignment/` and `POST /api/v1/scorers/{id}/versions/from-labels/`: kappa and
alpha against hand-computed values, human labels (gold, agreed, excluded), intervals against a reference
bootstrap, versions side by side, few-shot examples, isolation and bad input."""

import hashlib
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score

from apps.experiments.models import ScorerVersion
from apps.projects.models import Role
from apps.queues.adjudication import gold_value_set
from apps.queues.services.filling import review_items_add
from apps.reviews.models import Score
from apps.reviews.services.score_configs import score_config_create
from apps.traces.models import Span
from tests import factories

from .compare_fixtures import judge, judge_version, judged_span

# Ten spans of a boolean config: judge vs human (by hand: p_o = 0.7, p_e = 0.5, kappa = 0.4).
JUDGE = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
HUMAN = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]


@pytest.fixture
def correct(project):
    return score_config_create(project=project, name="correct", kind="boolean")


@pytest.fixture
def people(member, project):
    return [member(project, Role.REVIEWER, username=n) for n in ("alice", "bob")]


@pytest.fixture
def lead(client_as, project):
    return client_as(Role.ADMIN, project)


def _url(scorer, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/scorers/{scorer.pk}/alignment/" + (f"?{query}" if query else "")


def _boolean_world(project, config, people):
    scorer, version = judge(project, config)
    alice, bob = people
    for i, (j, h) in enumerate(zip(JUDGE, HUMAN, strict=True)):
        humans = [(alice, float(h), "")] if i % 2 else [(alice, float(h), ""), (bob, float(h), "")]
        judged_span(project, version, float(j), humans=humans, name=f"s{i}")
    return scorer, version


def test_kappa_by_hand_with_confusion_matrix_and_disagreements(lead, project, correct, people):
    scorer, _ = _boolean_world(project, correct, people)
    response = lead.get(_url(scorer))
    assert response.status_code == 200, response.content
    (row,) = response.json()["versions"]
    assert row["measure"] == "cohen_kappa"
    assert row["value"] == pytest.approx(0.4)
    assert row["labelled"] == 10 and row["agreement_rate"] == pytest.approx(0.7)
    # human rows × judge columns, [no, yes]: human no/judge no 3, human no/judge yes 2, human yes/judge no 1
    assert row["confusion"] == {
        "labels": ["no", "yes"],
        "rows": "human",
        "columns": "judge",
        "matrix": [[3, 2], [1, 4]],
    }
    assert row["disagreement_count"] == 3
    names = {d["name"] for d in row["disagreements"]}
    assert names == {"s7", "s8", "s9"}
    first = row["disagreements"][0]
    assert first["trace_url"] == f"/admin/traces/trace/by-id/{first['trace_id']}/?span={first['span_id']}"


def test_interval_within_tolerance_of_a_reference_bootstrap(lead, project, correct, people):
    rng = np.random.default_rng(2)
    human = rng.integers(0, 2, 80)
    judge_values = np.where(rng.uniform(size=80) < 0.8, human, 1 - human)
    scorer, version = judge(project, correct)
    for h, j in zip(human, judge_values, strict=True):
        judged_span(project, version, float(j), humans=[(people[0], float(h), "")])
    (row,) = lead.get(_url(scorer)).json()["versions"]
    assert row["value"] == pytest.approx(cohen_kappa_score(human, judge_values))
    ref = scipy_stats.bootstrap(
        (human, judge_values),
        cohen_kappa_score,
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=3000,
        random_state=0,
    ).confidence_interval
    assert row["ci"][0] == pytest.approx(ref.low, abs=0.03) and row["ci"][1] == pytest.approx(ref.high, abs=0.03)


def test_gold_wins_agreement_counts_and_disagreement_is_left_out(lead, project, correct, people):
    scorer, version = judge(project, correct)
    alice, bob = people
    gold_span = judged_span(project, version, 1.0, humans=[(alice, 0.0, ""), (bob, 0.0, "")], name="gold")
    judged_span(project, version, 1.0, humans=[(alice, 1.0, ""), (bob, 0.0, "")], name="split")
    judged_span(project, version, 0.0, humans=[(alice, 0.0, "")], name="single")
    judged_span(project, version, 0.0, humans=[], name="unreviewed")
    queue = factories.ReviewQueueFactory(project=project)
    review_items_add(queue=queue, spans=Span.objects.filter(pk=gold_span.pk))
    gold_value_set(item=queue.items.get(), config=correct, fields={"value": 1.0}, actor=None)
    (row,) = lead.get(_url(scorer)).json()["versions"]
    assert (row["judged"], row["labelled"], row["from_gold"]) == (4, 2, 1)
    assert row["disagreement_count"] == 0  # the gold (yes) overrides the reviewers' agreed no


def test_alpha_for_a_continuous_config_by_hand(lead, project, people):
    quality = score_config_create(project=project, name="quality", kind="continuous", min_value=0, max_value=10)
    scorer, version = judge(project, quality)
    for j, h in zip([1, 2, 4, 4], [1, 2, 3, 4], strict=True):
        judged_span(project, version, float(j), humans=[(people[0], float(h), "")])
    (row,) = lead.get(_url(scorer)).json()["versions"]
    assert row["measure"] == "krippendorff_alpha_interval"
    # 8 values, mean 2.625, squared deviations 11.875, sum of squared differences 1: 1 - 7/(8*11.875)
    assert row["value"] == pytest.approx(1 - 7 / 95)
    assert row["confusion"] is None and row["mean_absolute_difference"] == pytest.approx(0.25)


def test_categorical_kappa_and_versions_side_by_side(lead, project, people):
    tone = factories.ScoreConfigFactory(project=project, name="tone", categorical=True)
    scorer, v1 = judge(project, tone)
    v2 = judge_version(scorer, tone, 2)
    pairs = [("correct", "correct"), ("incorrect", "incorrect"), ("partially", "correct"), ("correct", "correct")]
    for human, judged in pairs:
        span = judged_span(project, v1, None, judge_label=judged, humans=[(people[0], None, human)])
        Score.objects.create(
            project=project, span=span, config=tone, label=human, source="automated", scorer_version=v2
        )
    data = lead.get(_url(scorer, human_config="tone")).json()
    assert [v["version"] for v in data["versions"]] == [2, 1]
    v2_row, v1_row = data["versions"]
    assert v2_row["value"] == pytest.approx(1.0)
    expected = cohen_kappa_score([h for h, _ in pairs], [j for _, j in pairs])
    assert v1_row["value"] == pytest.approx(expected)
    assert v1_row["confusion"]["labels"] == ["correct", "partially", "incorrect"]


def test_isolation_bad_input_and_roles(lead, client_as, project, other_project, correct, people):
    scorer, _ = _boolean_world(project, correct, people)
    assert client_as(Role.REVIEWER, project).get(_url(scorer)).status_code == 403
    assert client_as(Role.CURATOR, project).get(_url(scorer)).status_code == 200
    other_scorer, _ = judge(other_project, factories.ScoreConfigFactory(project=other_project, boolean=True))
    assert lead.get(_url(other_scorer)).status_code == 404
    assert lead.get("/api/v1/scorers/999999/alignment/").status_code == 404
    response = lead.get(_url(scorer, human_config="nope"))
    assert response.status_code == 400 and "human_config" in response.json()["fields"]
    quality = score_config_create(project=project, name="quality", kind="continuous")
    response = lead.get(_url(scorer, human_config=quality.name))
    assert response.status_code == 400 and "human_config" in response.json()["fields"]


def test_new_judge_version_from_human_labels(lead, project, correct, people):
    scorer, version = _boolean_world(project, correct, people)
    response = lead.post(f"/api/v1/scorers/{scorer.pk}/versions/from-labels/", {"max_examples": 4}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 2
    examples = body["definition"]["examples"]
    assert len(examples) == 4
    assert sorted(e["label"] for e in examples) == ["no", "no", "yes", "yes"]  # balanced
    assert set(examples[0]) == {"input", "output", "expected", "value", "label"}
    assert body["definition"]["rubric"] == version.definition["rubric"]
    canonical = json.dumps(body["definition"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body["definition_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    stored = ScorerVersion.objects.get(pk=body["id"])
    assert stored.config == correct and stored.scorer.latest_version == 2
    assert [v["version"] for v in lead.get(_url(scorer)).json()["versions"]] == [2, 1]


def test_new_judge_version_refuses_bad_input_and_reviewers(lead, client_as, project, correct, people):
    scorer, _ = _boolean_world(project, correct, people)
    url = f"/api/v1/scorers/{scorer.pk}/versions/from-labels/"
    assert "max_examples" in lead.post(url, {"max_examples": 0}, format="json").json()["fields"]
    assert "human_config" in lead.post(url, {"human_config": "nope"}, format="json").json()["fields"]
    empty = score_config_create(project=project, name="empty", kind="boolean")
    assert "human_config" in lead.post(url, {"human_config": empty.name}, format="json").json()["fields"]
    reviewer = client_as(Role.REVIEWER, project)
    assert reviewer.post(url, {}, format="json").status_code == 403
    assert ScorerVersion.objects.filter(scorer=scorer).count() == 1
