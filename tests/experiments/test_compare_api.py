"""`GET /api/v1/experiments/compare/`: figures checked by hand, change filters, keyset pages, the cache,
isolation and bad input."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats as scipy_stats

from apps.experiments.models import ComparisonRecord, ExperimentComparison
from apps.projects.models import Role
from apps.reviews.models import Score
from tests import factories

from .compare_fixtures import dataset_version, experiment, result, scored_pair

URL = "/api/v1/experiments/compare/"
BASE = [0.0, 1.0, 1.0, 0.0, 1.0]
OTHER = [1.0, 1.0, 0.0, 1.0, 1.0]


@pytest.fixture
def config(project):
    return factories.ScoreConfigFactory(project=project, name="correct")


@pytest.fixture
def viewer(client_as, project):
    return client_as(Role.VIEWER, project)


def _get(client, ids, **params):
    return client.get(URL, {"ids": ",".join(map(str, ids)), **params})


def test_means_deltas_and_counts_by_hand(viewer, project, config):
    a, b = scored_pair(project, config, BASE, OTHER)
    response = _get(viewer, [a.pk, b.pk])
    assert response.status_code == 200, response.content
    summary = response.json()["summary"]
    (row,) = summary["configs"]
    assert row["config"] == "correct"
    means = {m["experiment"]: m for m in row["means"]}
    assert means[a.pk]["mean"] == pytest.approx(0.6) and means[a.pk]["n"] == 5
    assert means[b.pk]["mean"] == pytest.approx(0.8)
    (delta,) = row["deltas"]
    assert delta["delta"] == pytest.approx(0.2)
    assert (delta["regressed"], delta["improved"], delta["unchanged"]) == (1, 2, 2)
    assert [r["record_id"] for r in delta["top_regressions"]] == ["r02"]
    assert [r["record_id"] for r in delta["top_improvements"]] == ["r00", "r03"]
    assert summary["experiments"][0] == {"id": a.pk, "name": "baseline", "results": 5}


def test_delta_interval_within_tolerance_of_a_reference_paired_bootstrap(viewer, project, config):
    rng = np.random.default_rng(11)
    base = rng.uniform(0, 1, 60).round(2)
    other = np.clip(base + rng.normal(0.05, 0.2, 60), 0, 1).round(2)
    a, b = scored_pair(project, config, base.tolist(), other.tolist())
    (row,) = _get(viewer, [a.pk, b.pk]).json()["summary"]["configs"]
    low, high = row["deltas"][0]["ci"]
    ref = scipy_stats.bootstrap(
        (other - base,), np.mean, method="percentile", n_resamples=20000, random_state=0
    ).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.01) and high == pytest.approx(ref.high, abs=0.01)
    assert low < row["deltas"][0]["delta"] < high
    mean_low, mean_high = row["means"][0]["ci"]
    ref_mean = scipy_stats.bootstrap(
        (base,), np.mean, method="percentile", n_resamples=20000, random_state=0
    ).confidence_interval
    assert mean_low == pytest.approx(ref_mean.low, abs=0.01) and mean_high == pytest.approx(ref_mean.high, abs=0.01)


def test_records_side_by_side_with_diff_trace_link_and_change(viewer, project, config):
    a, b = scored_pair(project, config, BASE, OTHER)
    records = _get(viewer, [a.pk, b.pk]).json()["records"]
    assert [r["record_id"] for r in records] == ["r00", "r01", "r02", "r03", "r04"]
    first = records[0]
    assert first["input"] == '{\n  "q": "r00"\n}'
    base_cell, other_cell = first["experiments"]
    assert base_cell["output"] == "answer 0" and base_cell["diff"] is None
    assert other_cell["same_as_baseline"] is False
    assert {"op": "insert", "text": " changed"} in other_cell["diff"]
    assert other_cell["scores"] == [{"config": "correct", "value": 1.0, "change": "improved"}]
    assert other_cell["trace_url"] == f"/admin/traces/trace/by-id/t-{b.pk}-r00/?span=s-{b.pk}-r00"
    assert records[1]["experiments"][1]["scores"][0]["change"] == "unchanged"


@pytest.mark.parametrize(
    ("change", "expected"), [("regressed", ["r02"]), ("improved", ["r00", "r03"]), ("unchanged", ["r01", "r04"])]
)
def test_filter_by_score_change(viewer, project, config, change, expected):
    a, b = scored_pair(project, config, BASE, OTHER)
    response = _get(viewer, [a.pk, b.pk], config="correct", change=change)
    assert [r["record_id"] for r in response.json()["records"]] == expected
    assert response.json()["filter"] == {"config": "correct", "change": change, "against": b.pk}


def test_keyset_pages_walk_every_record_once(viewer, project, config):
    a, b = scored_pair(project, config, [0.5] * 7, [0.5] * 7)
    seen, url, params = [], URL, {"ids": f"{a.pk},{b.pk}", "page_size": 3}
    while url:
        data = viewer.get(url, params).json()
        seen += [r["record_id"] for r in data["records"]]
        url, params = data["next"], None
    assert seen == [f"r{i:02d}" for i in range(7)]


def test_three_experiments_against_a_chosen_one(viewer, project, config):
    a, b = scored_pair(project, config, BASE, OTHER)
    c = experiment(project, a.dataset_version, "third")
    for i, value in enumerate([0.0, 0.0, 1.0, 0.0, 0.0]):
        result(c, f"r{i:02d}", "x", scores={config: value})
    data = _get(viewer, [a.pk, b.pk, c.pk], config="correct", change="regressed", against=c.pk).json()
    assert [r["record_id"] for r in data["records"]] == ["r01", "r04"]
    assert len(data["records"][0]["experiments"]) == 3
    assert [d["experiment"] for d in data["summary"]["configs"][0]["deltas"]] == [b.pk, c.pk]


def test_summary_is_cached_until_a_score_changes(viewer, project, config):
    a, b = scored_pair(project, config, BASE, OTHER)
    first = _get(viewer, [a.pk, b.pk]).json()["summary"]["computed_at"]
    assert _get(viewer, [a.pk, b.pk]).json()["summary"]["computed_at"] == first
    assert ComparisonRecord.objects.count() == 5
    score = Score.objects.get(span__experiment_results__experiment=b, span__experiment_results__record_id="r02")
    score.value = 1.0
    score.save()
    data = _get(viewer, [a.pk, b.pk]).json()
    assert data["summary"]["computed_at"] != first
    assert data["summary"]["configs"][0]["deltas"][0]["regressed"] == 0
    assert ExperimentComparison.objects.count() == 1 and ComparisonRecord.objects.count() == 5


def test_query_count_does_not_grow_with_the_experiments(viewer, project, config):
    small = scored_pair(project, config, [0.0] * 3, [1.0] * 3)
    version = dataset_version(project)
    big = (experiment(project, version, "big-a"), experiment(project, version, "big-b"))
    for i in range(40):
        result(big[0], f"r{i:02d}", "a", scores={config: 0.0})
        result(big[1], f"r{i:02d}", "b", scores={config: float(i % 2)})
    counts = []
    for pair in (small, big):
        _get(viewer, [e.pk for e in pair], page_size=3)  # warms the cache
        for params in ({}, {"config": "correct", "change": "improved"}):
            with CaptureQueriesContext(connection) as ctx:
                assert _get(viewer, [e.pk for e in pair], page_size=3, **params).status_code == 200
            counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[2] and counts[1] == counts[3]


def test_another_projects_experiment_is_not_found(viewer, project, other_project, config):
    a, _ = scored_pair(project, config, BASE, OTHER)
    other_config = factories.ScoreConfigFactory(project=other_project, name="correct")
    x, _ = scored_pair(other_project, other_config, BASE, OTHER)
    assert _get(viewer, [a.pk, x.pk]).status_code == 404
    assert _get(viewer, [a.pk, 999_999]).status_code == 404


def test_a_key_of_the_project_may_compare(key_client, project, other_project, config):
    a, b = scored_pair(project, config, BASE, OTHER)
    assert _get(key_client(project, scopes=("read",)), [a.pk, b.pk]).status_code == 200
    assert _get(key_client(other_project, scopes=("read",)), [a.pk, b.pk]).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ids": "1"}, "ids"),
        ({"ids": "a,b"}, "ids"),
        ({"ids": ""}, "ids"),
        ({"config": "nope"}, "config"),
        ({"change": "regressed"}, "config"),
        ({"config": "correct", "change": "worse"}, "change"),
        ({"against": "1"}, "against"),
        ({"cursor": "!!"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_input_names_the_field(viewer, project, config, params, field):
    a, b = scored_pair(project, config, BASE, OTHER)
    query = {"ids": f"{a.pk},{b.pk}", **params}
    response = viewer.get(URL, query)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_different_dataset_versions_are_refused(viewer, project, config):
    a, _ = scored_pair(project, config, BASE, OTHER)
    later = experiment(project, dataset_version(project, number=2, dataset=a.dataset), "later")
    response = _get(viewer, [a.pk, later.pk])
    assert response.status_code == 400 and "ids" in response.json()["fields"]
