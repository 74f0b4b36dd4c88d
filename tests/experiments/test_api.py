"""The experiments API: lists and reads, bulk results (partial failure, hostile input, links to
existing spans, concurrency), project isolation, and experiment traces kept out of production lists."""

from __future__ import annotations

import gzip
import json
import threading

import httpx
import pytest
from rest_framework.test import APIClient

from apps.experiments.models import ExperimentResult
from apps.projects.models import Role
from apps.traces.models import Span, Trace, TraceOrigin
from tests import factories
from tests.experiments.conftest import post_results, results_url

pytestmark = pytest.mark.django_db


def _raw_post(client, experiment, body: bytes, **headers):
    return client.generic("POST", results_url(experiment), body, content_type="application/json", **headers)


# ---------------------------------------------------------------- experiments


def test_list_and_read_experiments(client_a, experiment, project, dataset, author):
    from apps.experiments.services import experiment_create

    newer = experiment_create(project=project, dataset=dataset, version=2, name="candidate", user=author)
    listed = client_a.get("/api/v1/experiments/?page_size=1")
    assert listed.status_code == 200
    assert [e["name"] for e in listed.json()["results"]] == ["candidate"]
    assert [e["name"] for e in client_a.get(listed.json()["next"]).json()["results"]] == ["baseline"]
    detail = client_a.get(f"/api/v1/experiments/{newer.pk}/").json()
    assert (detail["dataset"], detail["version_number"], detail["record_count"]) == (dataset.pk, 2, 4)
    assert client_a.get(f"/api/v1/experiments/?dataset={dataset.pk}").json()["results"][0]["id"] == newer.pk
    assert client_a.get("/api/v1/experiments/?dataset=x").status_code == 400


def test_results_list_is_cursor_paginated_in_record_order(client_a, experiment):
    post_results(client_a, experiment, [{"record_id": r, "output": r} for r in ("r3", "r1", "r2")])
    page = client_a.get(f"{results_url(experiment)}?page_size=2").json()
    assert [r["record_id"] for r in page["results"]] == ["r1", "r2"]
    assert page["results"][0]["input"] == {"q": "refund?"} and page["results"][0]["span_id"]
    assert [r["record_id"] for r in client_a.get(page["next"]).json()["results"]] == ["r3"]


def test_a_viewer_reads_but_cannot_create_or_post(experiment, dataset, project):
    viewer = factories.UserFactory(username="viewer")
    project.memberships.create(user=viewer, role=Role.VIEWER)
    client = APIClient()
    client.force_login(viewer)
    assert client.get(f"/api/v1/experiments/{experiment.pk}/").status_code == 200
    assert client.post("/api/v1/experiments/", {"dataset": dataset.pk, "name": "x"}, format="json").status_code == 403
    assert post_results(client, experiment, [{"record_id": "r1"}]).status_code == 403
    assert not ExperimentResult.objects.exists()


def test_a_read_only_key_cannot_post_results(project, key_client, experiment):
    response = post_results(key_client(project, scopes=("read",)), experiment, [{"record_id": "r1"}])
    assert response.status_code == 403 and not ExperimentResult.objects.exists()


# ---------------------------------------------------------------- isolation


def test_another_projects_key_gets_404_on_every_experiment_url(client_b, experiment, dataset):
    missing = 999_999
    for pk in (experiment.pk, missing):
        assert client_b.get(f"/api/v1/experiments/{pk}/").status_code == 404
        assert client_b.get(f"/api/v1/experiments/{pk}/results/").status_code == 404
        posted = client_b.post(f"/api/v1/experiments/{pk}/results/", {"results": [{"record_id": "r1"}]}, format="json")
        assert posted.status_code == 404
    hidden = post_results(client_b, experiment, [{"record_id": "r1"}])
    gone = client_b.post(f"/api/v1/experiments/{missing}/results/", {"results": [{"record_id": "r1"}]}, format="json")
    assert hidden.status_code == gone.status_code == 404 and hidden.json() == gone.json()
    assert client_b.get("/api/v1/experiments/").json()["results"] == []
    created = client_b.post("/api/v1/experiments/", {"dataset": dataset.pk, "name": "x"}, format="json")
    assert created.status_code == 400 and list(created.json()["fields"]) == ["dataset"]
    assert not ExperimentResult.objects.exists()


def test_a_member_of_another_project_gets_404(experiment, other_project):
    outsider = factories.UserFactory(username="outsider")
    other_project.memberships.create(user=outsider, role=Role.ADMIN)
    client = APIClient()
    client.force_login(outsider)
    assert client.get(f"/api/v1/experiments/{experiment.pk}/").status_code == 404
    assert client.get(results_url(experiment)).status_code == 404
    assert post_results(client, experiment, [{"record_id": "r1"}]).status_code == 404


# ---------------------------------------------------------------- bulk results


def test_a_bad_item_never_costs_a_good_one(client_a, experiment):
    response = post_results(
        client_a,
        experiment,
        [
            {"record_id": "r1", "output": "fine"},
            {"record_id": "nope", "output": "x"},
            {"output": "no id"},
            "not an object",
            {"record_id": "r2", "latency_ms": -1, "input_tokens": "many", "cost": "free", "metadata": [1]},
            {"record_id": "r3", "total_tokens": 2**70, "trace_id": "t" * 200, "error": 5},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    fields = {entry["index"]: set(entry["fields"]) for entry in body["rejected"]}
    assert fields == {
        1: {"record_id"},
        2: {"record_id"},
        3: {"non_field_errors"},
        4: {"latency_ms", "input_tokens", "cost", "metadata"},
        5: {"total_tokens", "trace_id", "error"},
    }
    assert list(ExperimentResult.objects.values_list("record_id", flat=True)) == ["r1"]


def test_hostile_text_and_depth_are_refused_per_item(client_a, experiment):
    deep: object = "bottom"
    for _ in range(300):
        deep = {"d": deep}
    results = [
        {"record_id": "r1", "output": "nul\u0000gone", "metadata": {"k\u0000": "v"}},
        {"record_id": "r2", "output": deep},
        {"record_id": "r3", "output": {"text": "SURROGATE"}},
    ]
    body = json.dumps({"results": results}).replace("SURROGATE", "\\ud800").encode()
    response = _raw_post(client_a, experiment, body)
    assert response.status_code == 200, response.content
    rejected = {entry["index"]: entry["fields"] for entry in response.json()["rejected"]}
    assert set(rejected) == {1, 2} and set(rejected[1]) == {"output"} and set(rejected[2]) == {"output"}
    assert "surrogate" in rejected[2]["output"][0]
    result = ExperimentResult.objects.get()
    assert result.output == "nulgone" and result.metadata == {"k": "v"}


def test_every_item_rejected_is_a_400_and_limits_are_named(client_a, experiment, settings):
    response = post_results(client_a, experiment, [{"record_id": "nope"}])
    assert response.status_code == 400 and response.json()["fields"] == {"results": ["Every item was rejected."]}
    assert list(post_results(client_a, experiment, []).json()["fields"]) == ["results"]
    assert list(client_a.post(results_url(experiment), {"x": 1}, format="json").json()["fields"]) == ["results"]
    too_many = post_results(client_a, experiment, [{"record_id": "r1"}] * 5001)
    assert too_many.status_code == 413 and list(too_many.json()["fields"]) == ["results"]
    settings.INGEST_MAX_BODY_BYTES = 1000
    huge = post_results(client_a, experiment, [{"record_id": "r1", "output": "x" * 2000}])
    assert huge.status_code == 413 and list(huge.json()["fields"]) == ["body"]
    assert _raw_post(client_a, experiment, b'{"results": [1e400]}').status_code == 400
    assert not ExperimentResult.objects.exists()


def test_a_gzip_body_is_read(client_a, experiment):
    body = gzip.compress(json.dumps({"results": [{"record_id": "r1", "output": "zipped"}]}).encode())
    response = _raw_post(client_a, experiment, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.json() == {"accepted": 1, "rejected": []}


def test_results_link_an_existing_span_or_trace(client_a, experiment, project):
    spans = [
        {"trace_id": "app-t1", "span_id": "app-root", "name": "agent", "input": "q", "output": "a"},
        {"trace_id": "app-t1", "span_id": "app-llm", "parent_span_id": "app-root", "name": "llm"},
        {"trace_id": "app-t2", "span_id": "app-2", "name": "agent"},
    ]
    assert client_a.post("/api/v1/ingest/", {"spans": spans}, format="json").status_code == 200
    response = post_results(
        client_a,
        experiment,
        [
            {"record_id": "r1", "output": "a", "span_id": "app-llm", "trace_id": "app-t1"},
            {"record_id": "r2", "output": "b", "trace_id": "app-t2"},
            {"record_id": "r3", "output": "c", "span_id": "app-root", "trace_id": "app-t2"},
        ],
    )
    assert response.json()["rejected"] == [
        {"index": 2, "fields": {"trace_id": ["This span belongs to another trace."]}}
    ]
    results = {r.record_id: r for r in ExperimentResult.objects.select_related("span")}
    assert results["r1"].span.span_id == "app-llm" and results["r1"].trace_id == "app-t1"
    assert results["r2"].span.span_id == "app-2"
    assert Span.objects.count() == 3  # linked, not copied
    assert set(Trace.objects.values_list("origin", flat=True)) == {TraceOrigin.EXPERIMENT}


def test_a_named_trace_that_does_not_exist_yet_is_created_under_that_id(client_a, experiment):
    post_results(client_a, experiment, [{"record_id": "r1", "output": "a", "trace_id": "my-run-1"}])
    result = ExperimentResult.objects.select_related("span__trace").get()
    assert result.trace_id == "my-run-1" and result.span.trace.origin == TraceOrigin.EXPERIMENT


def test_experiment_traces_stay_out_of_the_production_trace_list(client_a, experiment):
    client_a.post("/api/v1/ingest/", {"spans": [{"trace_id": "prod-1", "span_id": "p1"}]}, format="json")
    post_results(client_a, experiment, [{"record_id": "r1", "output": "a"}])
    listed = [t["trace_id"] for t in client_a.get("/api/v1/traces/").json()["results"]]
    assert listed == ["prod-1"]
    experiment_traces = client_a.get("/api/v1/traces/?origin=experiment").json()["results"]
    assert [t["trace_id"] for t in experiment_traces] == [ExperimentResult.objects.get().trace_id]
    assert len(client_a.get("/api/v1/traces/?origin=all").json()["results"]) == 2
    assert list(client_a.get("/api/v1/traces/?origin=staging").json()["fields"]) == ["origin"]


# ---------------------------------------------------------------- concurrency


def test_concurrent_clients_posting_overlapping_batches_never_duplicate(live_server, client_a, experiment):
    batches = [
        [{"record_id": r, "output": f"{r} from {n}"} for r in (("r1", "r2", "r3") if n % 2 else ("r3", "r2"))]
        for n in range(8)
    ]
    barrier = threading.Barrier(len(batches))
    answers: list = []

    def client(batch):
        headers = {"Authorization": f"Bearer {client_a.raw_key}"}
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
            barrier.wait()
            for _ in range(3):  # a client retrying
                response = http.post(results_url(experiment), json={"results": batch})
                answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=client, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 24 and all(code == 200 and body["rejected"] == [] for code, body in answers), answers[:2]
    assert sorted(ExperimentResult.objects.values_list("record_id", flat=True)) == ["r1", "r2", "r3"]
    assert Trace.objects.filter(origin=TraceOrigin.EXPERIMENT).count() == 3
    assert Span.objects.count() == 3 and Trace.objects.count() == 3
    for result in ExperimentResult.objects.select_related("span"):
        assert result.span.output == result.output  # the span and the result tell the same story
