"""The server-side runner through the API and the worker's entry point, against the loopback LLM stub:
progress, retries, cancel, a failing endpoint recorded per result, and bad templates refused."""

from __future__ import annotations

import pytest
from django.db import connections

from apps.experiments.models import ExperimentResult, RunJob
from apps.experiments.runner import run_job_execute
from apps.projects.models import Role
from apps.traces.models import Trace
from tests.llm_stub import StubLLM

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import experiment_make

MESSAGES = [
    {"role": "system", "content": "Answer from the policy."},
    {"role": "user", "content": "Q: {{input.question}} (ctx {{ input.ctx }})"},
]
FAST_ERROR = (500, {"Retry-After": "0"})


def _echo(body):
    return {
        "choices": [{"message": {"role": "assistant", "content": "A: " + body["messages"][-1]["content"]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        "model": "stub-model-2026",
    }


@pytest.fixture
def experiment(project):
    return experiment_make(
        project,
        [
            {"record_id": f"q{i}", "input": {"question": f"question {i}", "ctx": {"n": i}}, "expected": f"a{i}"}
            for i in (1, 2, 3)
        ],
    )


@pytest.fixture
def curator(client_as, project):
    return client_as(Role.CURATOR, project)


def _start(client, experiment, **params):
    response = client.post(
        f"/api/v1/experiments/{experiment.pk}/runs/", {"messages": MESSAGES, **params}, format="json"
    )
    assert response.status_code == 202, response.content
    return response.json()


@pytest.mark.django_db
def test_run_writes_one_result_a_record_backed_by_experiment_spans(settings, curator, experiment):
    job = _start(curator, experiment, parameters={"max_tokens": 20, "temperature": 0.2}, concurrency=3)
    assert (job["status"], job["total"], job["done"]) == ("created", 3, 0)
    with StubLLM(replies=[_echo] * 3) as stub:
        stub.configure(settings, "sk-run")
        run_job_execute(job_id=job["id"])
    polled = curator.get(f"/api/v1/experiments/{experiment.pk}/runs/{job['id']}/").json()
    assert (polled["status"], polled["done"], polled["failed"]) == ("completed", 3, 0)
    results = {r.record_id: r for r in ExperimentResult.objects.filter(experiment=experiment)}
    assert results["q2"].output == 'A: Q: question 2 (ctx {"n": 2})'
    assert results["q2"].expected == "a2" and results["q2"].error == ""
    assert (results["q2"].input_tokens, results["q2"].output_tokens, results["q2"].total_tokens) == (12, 3, 15)
    span = results["q2"].span
    assert span.input[1]["content"] == 'Q: question 2 (ctx {"n": 2})'
    assert span.metadata["assay.dataset_record_id"] == "q2"
    assert Trace.objects.get(pk=span.trace_id).origin == "experiment"
    bodies = [r["body"] for r in stub.requests]
    assert all(b["max_tokens"] == 20 and b["temperature"] == 0.2 for b in bodies)
    assert stub.requests[0]["auth"] == "Bearer sk-run"


@pytest.mark.django_db
def test_running_again_upserts_results_by_record_id(settings, curator, experiment):
    for _ in range(2):
        job = _start(curator, experiment, concurrency=1)
        with StubLLM(replies=[_echo] * 3) as stub:
            stub.configure(settings, "sk")
            run_job_execute(job_id=job["id"])
    assert ExperimentResult.objects.filter(experiment=experiment).count() == 3
    assert Trace.objects.filter(project=experiment.project).count() == 3


@pytest.mark.django_db
def test_rate_limits_are_retried_with_backoff(settings, curator, experiment):
    job = _start(curator, experiment, concurrency=1, retries=2)
    with StubLLM(replies=[(429, {"Retry-After": "0"}), _echo, FAST_ERROR, _echo, _echo]) as stub:
        stub.configure(settings, "sk")
        done = run_job_execute(job_id=job["id"])
    assert (done.status, done.done, done.failed) == ("completed", 3, 0)
    assert len(stub.requests) == 5


@pytest.mark.django_db
def test_a_failing_endpoint_is_recorded_on_the_result_and_the_run_goes_on(settings, curator, experiment):
    job = _start(curator, experiment, concurrency=1, retries=1)
    with StubLLM(replies=[_echo, FAST_ERROR, FAST_ERROR, _echo]) as stub:
        stub.configure(settings, "sk")
        done = run_job_execute(job_id=job["id"])
    assert (done.status, done.done, done.failed) == ("completed", 3, 1)
    failed = ExperimentResult.objects.get(experiment=experiment, record_id="q2")
    assert failed.output is None and failed.error == "The LLM endpoint answered HTTP 500."
    assert failed.span.error and ExperimentResult.objects.get(experiment=experiment, record_id="q3").output


@pytest.mark.django_db
def test_cancel_before_the_worker_starts(settings, curator, experiment):
    job = _start(curator, experiment)
    answer = curator.post(f"/api/v1/experiments/{experiment.pk}/runs/{job['id']}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    with StubLLM() as stub:
        stub.configure(settings, "sk")
        run_job_execute(job_id=job["id"])
    assert stub.requests == [] and not ExperimentResult.objects.filter(experiment=experiment).exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_during_a_run_stops_after_the_chunk_in_flight(settings, project, client_as, memory_broker):
    # transaction=True: the start really sends the job (on commit), so the broker is declared, not inherited
    experiment = experiment_make(
        project, [{"record_id": f"r{i}", "input": {"question": str(i), "ctx": 0}} for i in range(6)]
    )
    client = client_as(Role.CURATOR, project)
    job = _start(client, experiment, concurrency=1)

    def cancel_then_echo(body):  # the user presses cancel while the first record is with the model
        try:
            RunJob.objects.filter(pk=job["id"]).update(cancel_requested=True)
        finally:
            connections.close_all()
        return _echo(body)

    with StubLLM(replies=[cancel_then_echo], answer={"ok": 1}) as stub:
        stub.configure(settings, "sk")
        done = run_job_execute(job_id=job["id"])
    assert (done.status, done.done) == ("cancelled", 2), done.error  # one chunk: concurrency x 2
    assert len(stub.requests) == 2
    assert ExperimentResult.objects.filter(experiment=experiment).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"messages": [{"role": "user", "content": "{{input.answer}}"}]}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        ({"messages": MESSAGES, "concurrency": 99}, "concurrency"),
        ({"messages": MESSAGES, "parameters": {"api_key": "x"}}, "parameters"),
        ({"messages": MESSAGES, "retries": "many"}, "retries"),
    ],
)
def test_bad_runs_are_400_naming_the_field(curator, experiment, params, field):
    response = curator.post(f"/api/v1/experiments/{experiment.pk}/runs/", params, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    if params["messages"] and "{{input.answer}}" in params["messages"][0]["content"]:
        assert "record 'q1'" in response.json()["fields"]["messages"][0]
    assert not RunJob.objects.exists()


@pytest.mark.django_db
def test_runs_of_another_projects_experiment_are_404(client_as, other_project, experiment, curator):
    job = _start(curator, experiment)
    outsider = client_as(Role.ADMIN, other_project)
    assert outsider.get(f"/api/v1/experiments/{experiment.pk}/runs/").status_code == 404
    assert outsider.get(f"/api/v1/experiments/{experiment.pk}/runs/{job['id']}/").status_code == 404
    response = outsider.post(f"/api/v1/experiments/{experiment.pk}/runs/", {"messages": MESSAGES}, format="json")
    assert response.status_code == 404
    assert outsider.post(f"/api/v1/experiments/{experiment.pk}/runs/{job['id']}/cancel/").status_code == 404


@pytest.mark.django_db
def test_a_reviewer_may_not_start_runs(client_as, project, experiment):
    reviewer = client_as(Role.REVIEWER, project)
    response = reviewer.post(f"/api/v1/experiments/{experiment.pk}/runs/", {"messages": MESSAGES}, format="json")
    assert response.status_code == 403
    assert reviewer.get(f"/api/v1/experiments/{experiment.pk}/runs/").status_code == 200
