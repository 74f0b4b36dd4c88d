"""Experiment creation and version pinning, through the API a client uses (and the service where the
admin and the API share it)."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ApplicationError
from apps.datasets.services.records import dataset_records_delete, dataset_records_upsert
from apps.experiments.models import Experiment, ExperimentResult
from apps.experiments.services import experiment_create
from apps.traces.models import Span, Trace, TraceOrigin
from tests.experiments.conftest import post_results

pytestmark = pytest.mark.django_db


def _create(client, dataset, **body):
    return client.post("/api/v1/experiments/", {"dataset": dataset.pk, "name": "run", **body}, format="json")


@pytest.mark.parametrize(
    ("version", "number", "ref", "records"),
    [(1, 1, "1", 3), ("2", 2, "2", 4), ("prod", 1, "prod", 3), (None, 2, "", 4)],
)
def test_the_version_is_resolved_and_stored_at_creation(client_a, dataset, version, number, ref, records):
    body = {"version": version} if version is not None else {}
    response = _create(client_a, dataset, metadata={"model": "gpt-4o-mini", "prompt": "v3"}, **body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["version_number"], data["version_ref"], data["record_count"]) == (number, ref, records)
    experiment = Experiment.objects.get(pk=data["id"])
    assert experiment.dataset_version.number == number and experiment.metadata["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("version", [9, "9", "staging", 0])
def test_a_version_that_does_not_exist_is_a_400_naming_version(client_a, dataset, version):
    response = _create(client_a, dataset, version=version)
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["version"]
    assert not Experiment.objects.exists()


def test_bad_bodies_name_their_field(client_a, dataset, other_project):
    other = dataset.__class__.objects.create(project=other_project, name="theirs")
    assert list(_create(client_a, other).json()["fields"]) == ["dataset"]  # another project's dataset
    assert list(_create(client_a, dataset, version=[1]).json()["fields"]) == ["version"]
    assert list(_create(client_a, dataset, metadata=[1]).json()["fields"]) == ["metadata"]
    assert _create(client_a, dataset).status_code == 201
    duplicate = _create(client_a, dataset)
    assert duplicate.status_code == 400 and list(duplicate.json()["fields"]) == ["name"]


def test_a_dataset_without_versions_cannot_be_pinned(project, author):
    from tests import factories

    empty = factories.DatasetFactory(project=project)
    with pytest.raises(ApplicationError) as refused:
        experiment_create(project=project, dataset=empty, name="x", user=author)
    assert refused.value.status == 400 and "version" in refused.value.fields


def test_results_carry_the_pinned_versions_input_and_expected(client_a, experiment):
    assert experiment.version_number == 1
    response = post_results(client_a, experiment, [{"record_id": "r1", "output": {"a": "30 days"}}])
    assert response.status_code == 200
    result = ExperimentResult.objects.get(experiment=experiment, record_id="r1")
    assert result.input == {"q": "refund?"} and result.expected == {"a": "30 days"}  # v1, not v2's
    span = Span.objects.get(pk=result.span_id)
    assert span.input == {"q": "refund?"} and span.expected == {"a": "30 days"}
    assert span.output == {"a": "30 days"}
    assert span.metadata["experiment"] == experiment.pk and span.metadata["record_id"] == "r1"
    assert span.trace.origin == TraceOrigin.EXPERIMENT


def test_a_later_dataset_change_does_not_alter_a_running_or_finished_experiment(client_a, experiment, dataset, author):
    post_results(client_a, experiment, [{"record_id": "r1", "output": "first"}])
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "r2", "input": {"q": "v3"}}], author=author)
    dataset_records_delete(dataset=dataset, record_ids=["r3"], author=author)
    # Still running: records are read at version 1, whatever the dataset's latest version holds.
    answer = post_results(client_a, experiment, [{"record_id": "r2", "output": "x"}, {"record_id": "r3"}])
    assert answer.json() == {"accepted": 2, "rejected": []}
    r4 = post_results(client_a, experiment, [{"record_id": "r4", "output": "x"}])  # added in v2
    assert r4.status_code == 400 and r4.json()["rejected"][0]["fields"] == {
        "record_id": ["Not a record of the experiment's dataset version."]
    }
    experiment.refresh_from_db()
    assert (experiment.version_number, experiment.record_count) == (1, 3)
    results = {r.record_id: r for r in ExperimentResult.objects.filter(experiment=experiment)}
    assert results["r1"].input == {"q": "refund?"} and results["r2"].input == {"q": "late parcel?"}
    assert set(results) == {"r1", "r2", "r3"}


def test_retrying_a_batch_updates_instead_of_duplicating(client_a, experiment):
    batch = [{"record_id": f"r{n}", "output": f"try 1 of r{n}", "latency_ms": 10 * n} for n in (1, 2, 3)]
    for _ in range(3):
        assert post_results(client_a, experiment, batch).json() == {"accepted": 3, "rejected": []}
    batch[0]["output"] = "try 2"
    post_results(client_a, experiment, batch[:1])
    assert ExperimentResult.objects.filter(experiment=experiment).count() == 3
    assert Trace.objects.filter(origin=TraceOrigin.EXPERIMENT).count() == 3 and Span.objects.count() == 3
    result = ExperimentResult.objects.get(experiment=experiment, record_id="r1")
    assert result.output == "try 2" and Span.objects.get(pk=result.span_id).output == "try 2"


def test_the_last_of_duplicates_in_one_batch_wins(client_a, experiment):
    answer = post_results(
        client_a, experiment, [{"record_id": "r1", "output": "a"}, {"record_id": "r1", "output": "b"}]
    )
    assert answer.json() == {"accepted": 2, "rejected": []}
    assert list(ExperimentResult.objects.values_list("output", flat=True)) == ["b"]


def test_tokens_cost_and_errors_reach_the_result_and_its_trace(client_a, experiment):
    item = {"record_id": "r2", "output": None, "error": "timeout", "latency_ms": 1500.5}
    item |= {"input_tokens": 10, "output_tokens": 5, "cost": 0.002}
    post_results(client_a, experiment, [item])
    result = ExperimentResult.objects.get(record_id="r2")
    assert (result.total_tokens, result.cost, result.error, result.latency_ms) == (15, 0.002, "timeout", 1500.5)
    trace = Trace.objects.get(pk=Span.objects.get(pk=result.span_id).trace_id)
    assert trace.has_error and trace.total_tokens == 15 and trace.total_cost == pytest.approx(0.002)
    assert trace.duration_ms == pytest.approx(1500.5, abs=1)
