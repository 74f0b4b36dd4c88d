"""Scoring and running an experiment on a real Celery worker on Redis, started through the API."""

from __future__ import annotations

import time

import pytest

from apps.experiments.models import ExperimentResult, RunJob, ScoringJob
from apps.projects.models import Role
from apps.reviews.models import Score
from tests.llm_stub import StubLLM

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import results_add, scorer_make

pytestmark = pytest.mark.celery_worker


def _wait_for(predicate, timeout=60.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


@pytest.fixture(autouse=True)
def fresh_broker_pools():
    """Stopping a test worker closes the app's producer pools; give each test open ones."""
    import kombu.pools

    from config.celery import app

    def reset():
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset()
    yield
    reset()


def _finished(model, pk):
    job = model.objects.get(pk=pk)
    return job if job.status in ("completed", "failed", "cancelled") else None


def test_scoring_and_running_on_a_real_worker(
    celery_worker, settings, client_as, project, qa_experiment, boolean_config
):
    results_add(qa_experiment, {"q1": "30 days", "q2": "no", "q3": "9 to 5"})
    version = scorer_make(project, boolean_config, {"type": "exact_match"})
    client = client_as(Role.CURATOR, project)
    response = client.post(
        f"/api/v1/experiments/{qa_experiment.pk}/score/", {"scorer": version.scorer_id}, format="json"
    )
    assert response.status_code == 202, response.content
    job = _wait_for(lambda: _finished(ScoringJob, response.json()["id"]))
    assert (job.status, job.done, job.failed) == ("completed", 3, 0), job.error
    assert sorted(Score.objects.filter(scorer_version=version).values_list("value", flat=True)) == [0.0, 1.0, 1.0]

    with StubLLM(answer={"answer": "ok"}) as stub:
        stub.configure(settings, "sk")
        messages = [{"role": "user", "content": "{{input.question}}"}]
        started = client.post(f"/api/v1/experiments/{qa_experiment.pk}/runs/", {"messages": messages}, format="json")
        assert started.status_code == 202, started.content
        run = _wait_for(lambda: _finished(RunJob, started.json()["id"]))
    assert (run.status, run.done, run.failed) == ("completed", 3, 0), run.error
    assert len(stub.requests) == 3
    assert set(ExperimentResult.objects.filter(experiment=qa_experiment).values_list("output", flat=True)) == {
        '{"answer": "ok"}'
    }
