"""Exports on a real Celery worker on Redis: end to end, cancel, and a worker killed mid-export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from apps.exports import storage
from apps.exports.models import ExportJob
from apps.exports.services import export_job_create, export_job_run, export_jobs_reap_stale
from tests import factories

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


def _job(job_id) -> ExportJob:
    return ExportJob.objects.get(pk=job_id)


def _spans(project, n):
    trace = factories.TraceFactory(project=project)
    factories.SpanFactory.create_batch(n, trace=trace)


def test_export_runs_on_a_real_worker(celery_worker, project, member, client):
    _spans(project, 5)
    user = member(project, role="curator")
    client.force_login(user)
    response = client.post(
        "/api/v1/exports/", {"project": "acme", "source": "spans", "format": "csv"}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    job = _wait_for(lambda: (j := _job(job_id)).is_finished and j)
    assert job.status == "succeeded", job.error
    assert job.row_count == 5 and storage.exists(job.storage_key)
    body = client.get(f"/api/v1/exports/{job_id}/download/")
    assert b"".join(body.streaming_content).decode().count("\n") == 6  # header + 5 rows


def test_cancel_a_running_export_on_the_worker(celery_worker, project, member, client, settings, slow_chunks):
    settings.EXPORTS_CHUNK_SIZE = 2
    slow_chunks(0.3)
    _spans(project, 30)
    client.force_login(member(project, role="curator"))
    job_id = client.post(
        "/api/v1/exports/", {"project": "acme", "source": "spans", "format": "jsonl"}, content_type="application/json"
    ).json()["id"]
    _wait_for(lambda: _job(job_id).row_count >= 2)
    response = client.post(f"/api/v1/exports/{job_id}/cancel/")
    assert response.status_code == 200
    time.sleep(1.0)  # the worker notices at its next chunk
    job = _job(job_id)
    assert job.status == "cancelled" and 0 < job.row_count < 30
    assert not storage.exists(job.storage_key)


def _database_url_of_this_process() -> str:
    """The test database, for a worker subprocess to connect to (a file on SQLite)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_worker_killed_mid_export_leaves_no_file_and_the_job_is_retried(redis_broker, project, settings, tmp_path):
    settings.EXPORTS_STALE_AFTER_SECONDS = 2
    settings.EXPORTS_MAX_ATTEMPTS = 2
    _spans(project, 40)
    export_root = django_settings.STORAGES["exports"]["OPTIONS"]["location"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.exports.worker_settings",
        "DATABASE_URL": _database_url_of_this_process(),
        "REDIS_URL": redis_broker,
        "EXPORTS_LOCAL_ROOT": export_root,
        "EXPORTS_TMP_DIR": str(tmp_path / "worker-tmp"),
        "EXPORTS_CHUNK_SIZE": "2",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.exports.slow_worker",
            "0.4",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=str(django_settings.BASE_DIR),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        job = export_job_create(project=project, source="spans", format="jsonl")  # dispatched on commit
        _wait_for(lambda: _job(job.pk).row_count >= 4, timeout=90)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    job = _job(job.pk)
    assert job.status == "running" and 4 <= job.row_count < 40
    assert not storage.exists(job.storage_key)  # nothing half-written at the final key
    assert any(name.endswith(".part") for name in os.listdir(tmp_path / "worker-tmp"))

    time.sleep(2.5)  # the heartbeat goes stale
    assert export_jobs_reap_stale()["requeued"] == 1
    job = _job(job.pk)
    assert job.status == "queued" and "stopped responding" in job.error
    export_job_run(job_id=job.pk)  # the retry (any worker): overwrites its own key only
    job = _job(job.pk)
    assert job.status == "succeeded" and job.attempts == 2 and job.row_count == 40
    with storage.open_for_download(job.storage_key) as fh:
        assert fh.read().count(b"\n") == 40
