"""Job lifecycle: sources, cancel, idempotent re-runs, the stale-heartbeat reaper, validation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.exports import storage
from apps.exports.models import ExportJob
from apps.exports.services import (
    export_job_cancel,
    export_job_create,
    export_job_run,
    export_jobs_reap_stale,
)
from tests import factories
from tests.exports.conftest import read_file, run

pytestmark = pytest.mark.django_db


def test_filters_are_applied_through_the_filterset(project, annotated_spans):
    job = run(project, filters={"has_expected": True})
    ids = [json.loads(line)["span_id"] for line in read_file(job).decode().splitlines()]
    assert ids == ["s-1", "s-2"]
    job = run(project, filters={"tags": ["golden"]})
    assert job.row_count == 1


def test_unknown_or_invalid_filters_are_refused_naming_the_field(project):
    with pytest.raises(ApplicationError) as caught:
        export_job_create(project=project, source="spans", format="jsonl", filters={"id__gt": 0}, dispatch=False)
    assert list(caught.value.fields) == ["filters.id__gt"]
    with pytest.raises(ApplicationError) as caught:
        export_job_create(project=project, source="spans", format="jsonl", filters={"type": ["robot"]}, dispatch=False)
    assert "filters.type" in caught.value.fields
    with pytest.raises(ApplicationError):
        export_job_create(project=project, source="spans", format="jsonl", filters={"project": "other"}, dispatch=False)


def test_only_the_projects_rows_are_exported(project, other_project, annotated_spans):
    factories.SpanFactory(trace=factories.TraceFactory(project=other_project), span_id="foreign")
    job = run(project)
    assert job.row_count == 3
    assert b"foreign" not in read_file(job)


def test_admin_selection_is_intersected_with_the_project(project, other_project, annotated_spans):
    foreign = factories.SpanFactory(trace=factories.TraceFactory(project=other_project))
    job = run(project, selected_pks=[annotated_spans[0].pk, annotated_spans[2].pk, foreign.pk])
    ids = [json.loads(line)["span_id"] for line in read_file(job).decode().splitlines()]
    assert ids == ["s-1", "s-3"]


def test_traces_carry_their_annotated_span_tree(project, annotated_spans):
    job = run(project, source="traces")
    assert job.status == "succeeded", job.error
    (trace,) = [json.loads(line) for line in read_file(job).decode().splitlines()]
    assert trace["trace_id"] == "trace-a"
    assert trace["input"] == [{"role": "user", "content": "What is the refund window?"}]
    assert trace["expected"] == "30 days from delivery."
    assert [s["span_id"] for s in trace["spans"]] == ["s-1", "s-2", "s-3"]
    assert trace["spans"][0]["scores"][0]["config"] == "helpful"
    job = run(project, source="traces", format="openai_chat")
    assert job.row_count == 1


def test_dataset_source_at_version_tag_and_split(project):
    from apps.datasets.services.datasets import dataset_create
    from apps.datasets.services.records import dataset_records_upsert
    from apps.datasets.services.versions import dataset_version_tag_set

    dataset = dataset_create(project=project, name="refunds")
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "r1", "input": "Refund window?", "expected": "30 days", "splits": ["train"]},
            {"record_id": "r2", "input": [{"role": "user", "content": "Hi"}], "expected": "Hello", "splits": ["test"]},
        ],
    )
    dataset_version_tag_set(dataset=dataset, name="prod", version=1)
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "r3", "input": "New?", "expected": None}])

    def ids(job):
        return [json.loads(line)["record_id"] for line in read_file(job).decode().splitlines()]

    latest = run(project, source="dataset", dataset=dataset)
    assert latest.dataset_version == 2 and ids(latest) == ["r1", "r2", "r3"]
    tagged = run(project, source="dataset", dataset=dataset, tag="prod")
    assert tagged.dataset_version == 1 and ids(tagged) == ["r1", "r2"]
    split = run(project, source="dataset", dataset=dataset, version=2, split="train")
    assert ids(split) == ["r1"]
    chat = run(project, source="dataset", dataset=dataset, format="openai_chat")
    assert chat.row_count == 2 and chat.problems == [{"record": "r3", "reason": chat.problems[0]["reason"]}]
    with pytest.raises(ApplicationError) as caught:
        export_job_create(
            project=project, source="dataset", dataset=dataset, tag="nope", format="jsonl", dispatch=False
        )
    assert caught.value.status == 400 and "tag" in caught.value.fields


def test_cancel_a_queued_job_never_runs_it(project, annotated_spans):
    job = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    export_job_cancel(job=job)
    assert export_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "cancelled" and not storage.exists(job.storage_key)
    with pytest.raises(ApplicationError) as caught:
        export_job_cancel(job=job)
    assert caught.value.status == 409


def test_cancel_while_running_stops_between_chunks_and_leaves_no_file(project, settings, monkeypatch):
    settings.EXPORTS_CHUNK_SIZE = 2
    trace = factories.TraceFactory(project=project)
    factories.SpanFactory.create_batch(7, trace=trace)
    job = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    from apps.exports import services

    seen = []
    real = services._heartbeat

    def heartbeat_then_cancel(job_id, token, *, rows, total):
        seen.append(rows)
        if rows == 4:  # someone presses Cancel while the third chunk is being read
            ExportJob.objects.filter(pk=job_id).update(status="cancelled")
        return real(job_id, token, rows=rows, total=total)

    monkeypatch.setattr(services, "_heartbeat", heartbeat_then_cancel)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert seen == [2, 4] and job.status == "cancelled"
    assert not storage.exists(job.storage_key)


def test_a_second_run_of_a_finished_job_does_nothing(project, annotated_spans):
    job = run(project)
    before = read_file(job)
    assert export_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1 and read_file(job) == before


def test_reaper_requeues_once_then_fails_and_a_retry_overwrites_only_its_own_key(project, annotated_spans, settings):
    settings.EXPORTS_STALE_AFTER_SECONDS = 60
    settings.EXPORTS_MAX_ATTEMPTS = 2
    other = run(project)
    job = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    # A worker claimed it and died: running, heartbeat long ago.
    long_ago = timezone.now() - timedelta(minutes=30)
    ExportJob.objects.filter(pk=job.pk).update(status="running", attempts=1, heartbeat_at=long_ago, run_token="dead")
    assert export_jobs_reap_stale()["requeued"] == 1
    job.refresh_from_db()
    assert job.status == "queued" and "stopped responding" in job.error
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.row_count == 3
    assert job.storage_key != other.storage_key and read_file(other).count(b"\n") == 3

    dying = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    ExportJob.objects.filter(pk=dying.pk).update(status="running", attempts=2, heartbeat_at=long_ago)
    assert export_jobs_reap_stale()["failed"] == 1
    dying.refresh_from_db()
    assert dying.status == "failed" and dying.finished_at is not None
    assert not storage.exists(dying.storage_key)


def test_reaper_leaves_live_jobs_alone(project, settings):
    settings.EXPORTS_STALE_AFTER_SECONDS = 60
    job = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    ExportJob.objects.filter(pk=job.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now(), dispatched_at=timezone.now()
    )
    assert export_jobs_reap_stale() == {"requeued": 0, "failed": 0, "resent": 0}


def test_a_failing_export_records_the_error(project, annotated_spans, monkeypatch):
    from apps.exports.formats import jsonl

    def explode(self, batch):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jsonl.JSONLWriter, "write_batch", explode)
    job = run(project)
    assert job.status == "failed" and "disk full" in job.error and job.finished_at
    assert not storage.exists(job.storage_key)


def test_dispatch_with_the_broker_down_leaves_the_job_queued(project, monkeypatch, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    from apps.exports import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.export_job_run_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(project=project, source="spans", format="jsonl")
    job.refresh_from_db()
    # Not run inside the request: still queued, never started, and the reaper will send it again.
    assert job.status == "queued" and job.started_at is None and "unreachable" in job.error
