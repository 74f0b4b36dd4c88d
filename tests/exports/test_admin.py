"""The export admin: the changelist action, the exports page (status, cancel, download), new export
from a dataset version, and schedules."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from apps.exports.models import ExportJob, ExportSchedule
from apps.exports.services import export_job_create, export_job_run
from apps.projects.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def spans(project):
    trace = factories.TraceFactory(project=project)
    return {
        "llm": factories.SpanFactory.create_batch(2, trace=trace, type="llm"),
        "tool": factories.SpanFactory.create_batch(1, trace=trace, type="tool"),
    }


@pytest.fixture
def curator_client(client_as, project):
    return client_as(Role.CURATOR, project)


def test_span_action_select_across_honours_the_changelist_filter(curator_client, spans):
    url = "/admin/traces/span/?type__exact=llm"
    first = spans["llm"][0].pk
    response = curator_client.post(
        url, {"action": "export_spans", "select_across": "1", "index": "0", "_selected_action": [first]}
    )
    assert response.status_code == 200
    assert b"matching the changelist" in response.content
    response = curator_client.post(
        url,
        {
            "action": "export_spans",
            "select_across": "1",
            "index": "0",
            "_selected_action": [first],
            "export_confirm": "1",
            "format": "csv",
        },
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/exports/exportjob/{job.pk}/change/"
    assert sorted(job.selected_pks) == sorted(s.pk for s in spans["llm"])
    assert job.format == "csv" and job.source == "spans"


def test_trace_action_exports_the_ticked_rows(curator_client, project, spans):
    other = factories.TraceFactory(project=project)
    trace = spans["llm"][0].trace
    response = curator_client.post(
        "/admin/traces/trace/",
        {
            "action": "export_traces",
            "index": "0",
            "_selected_action": [trace.pk],
            "export_confirm": "1",
            "format": "jsonl",
            "gzip": "on",
        },
    )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.source == "traces" and job.selected_pks == [trace.pk] and job.gzip and other.pk not in job.selected_pks


def test_a_viewer_cannot_export(client, project, member, spans):
    client.force_login(member(project, role=Role.VIEWER))
    client.post(
        "/admin/traces/span/",
        {
            "action": "export_spans",
            "index": "0",
            "export_confirm": "1",
            "_selected_action": [spans["tool"][0].pk],
            "format": "jsonl",
        },
    )
    assert not ExportJob.objects.exists()


def test_exports_page_status_cancel_and_download(curator_client, project, other_project, spans):
    done = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)
    export_job_run(job_id=done.pk)
    waiting = export_job_create(project=project, source="spans", format="csv", dispatch=False)
    foreign = export_job_create(project=other_project, source="spans", format="csv", dispatch=False)

    page = curator_client.get("/admin/exports/exportjob/")
    assert page.status_code == 200
    assert f'data-export-id="{waiting.pk}"'.encode() in page.content
    assert b"exports/progress.js" in page.content and f"#{foreign.pk} ".encode() not in page.content

    status = curator_client.get(f"/admin/exports/exportjob/status/?ids={done.pk},{waiting.pk},{foreign.pk}")
    jobs = {j["id"]: j for j in status.json()["jobs"]}
    assert set(jobs) == {done.pk, waiting.pk}
    assert jobs[done.pk]["status"] == "succeeded" and jobs[done.pk]["progress"] == 1.0
    assert jobs[done.pk]["download_url"] == f"/admin/exports/exportjob/{done.pk}/download/"
    assert jobs[waiting.pk]["download_url"] is None

    detail = curator_client.get(f"/admin/exports/exportjob/{waiting.pk}/change/")
    assert detail.status_code == 200 and b"Cancel export" in detail.content
    assert curator_client.get(f"/admin/exports/exportjob/{waiting.pk}/cancel/").status_code == 405
    curator_client.post(f"/admin/exports/exportjob/{waiting.pk}/cancel/")
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
    assert curator_client.post(f"/admin/exports/exportjob/{foreign.pk}/cancel/").status_code == 404

    download = curator_client.get(f"/admin/exports/exportjob/{done.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{done.pk}.jsonl"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content).count(b"\n") == 3
    assert curator_client.get(f"/admin/exports/exportjob/{foreign.pk}/download/").status_code == 404


def test_new_export_from_a_dataset_version_link(curator_client, project):
    from apps.datasets.services.datasets import dataset_create
    from apps.datasets.services.records import dataset_records_upsert

    dataset = dataset_create(project=project, name="golden")
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "a", "input": "q", "expected": "a"}])
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "b", "input": "q2", "expected": "b"}])
    form = curator_client.get(f"/admin/exports/exportjob/add/?dataset={dataset.pk}&version=1")
    assert form.status_code == 200
    assert form.context["form"].initial["dataset"] == dataset.pk
    assert form.context["form"].initial["version"] == "1"
    response = curator_client.post(
        "/admin/exports/exportjob/new/",
        {
            "project": project.pk,
            "source": "dataset",
            "format": "openai_chat",
            "dataset": dataset.pk,
            "version": "1",
            "filters": "{}",
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    job = ExportJob.objects.get()
    assert job.source == "dataset" and job.dataset == dataset and job.dataset_version == 1
    bad = curator_client.post(
        "/admin/exports/exportjob/new/",
        {
            "project": project.pk,
            "source": "spans",
            "format": "jsonl",
            "filters": '{"nope": 1}',
        },
    )
    assert bad.status_code == 200 and "filters.nope" in str(bad.context["form"].errors)


def test_another_projects_dataset_link_is_404(curator_client, other_project):
    foreign = factories.DatasetFactory(project=other_project)
    assert curator_client.get(f"/admin/exports/exportjob/add/?dataset={foreign.pk}").status_code == 404


def test_schedule_admin_creates_the_periodic_task(client, project, member):
    client.force_login(member(project, role=Role.ADMIN))
    data = {
        "project": project.pk,
        "name": "nightly",
        "source": "spans",
        "filters": '{"has_expected": true}',
        "format": "jsonl",
        "mode": "incremental",
        "kind": "crontab",
        "every": "1",
        "period": "days",
        "cron": "0 3 * * *",
        "safety_lag_seconds": "300",
        "enabled": "on",
        "dataset_tag": "",
        "dataset_split": "",
    }
    response = client.post("/admin/exports/exportschedule/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    schedule = ExportSchedule.objects.get()
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.crontab.hour == "3" and task.enabled and schedule.filters == {"has_expected": True}

    bad = client.post("/admin/exports/exportschedule/add/", {**data, "name": "bad", "cron": "99 * * * *"})
    assert bad.status_code == 200 and "cron" in bad.context["adminform"].form.errors

    response = client.post(
        "/admin/exports/exportschedule/", {"action": "run_now", "index": "0", "_selected_action": [schedule.pk]}
    )
    assert response.status_code == 302 and schedule.jobs.count() == 1


def test_curators_cannot_edit_schedules(client, project, member):
    client.force_login(member(project, role=Role.CURATOR))
    assert client.get("/admin/exports/exportschedule/add/").status_code == 403
