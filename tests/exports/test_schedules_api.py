"""`/api/v1/export-schedules/`: create, list, change, pause/resume, trigger now, runs; the admin's
actions go through the same service."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.exports.destinations import export_destination_create
from apps.exports.models import ExportJob, ExportSchedule
from apps.exports.services import export_job_run
from apps.projects.models import Role

pytestmark = pytest.mark.django_db


def _create(client, **body):
    return client.post(
        "/api/v1/export-schedules/",
        {
            "name": "hourly spans",
            "source": "spans",
            "format": "jsonl",
            "mode": "full",
            "every": 1,
            "period": "hours",
            **body,
        },
        format="json",
    )


def test_create_list_pause_resume_trigger_and_runs(
    project, key_client, annotated_spans, django_capture_on_commit_callbacks
):
    client = key_client(project, scopes=("read", "write"))
    destination = export_destination_create(project=project, name="archive", kind="local", prefix="archive")
    created = _create(client, destination=destination.pk, filters={"has_expected": True})
    assert created.status_code == 201, created.json()
    schedule = created.json()
    assert schedule["enabled"] is True and schedule["destination"] == destination.pk and schedule["last_run"] is None
    task = PeriodicTask.objects.get(pk=ExportSchedule.objects.get(pk=schedule["id"]).periodic_task_id)
    assert task.enabled and task.interval.period == "hours"

    listed = client.get("/api/v1/export-schedules/").json()
    assert [s["id"] for s in listed["results"]] == [schedule["id"]]

    paused = client.post(f"/api/v1/export-schedules/{schedule['id']}/pause/")
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    task.refresh_from_db()
    assert task.enabled is False  # beat stops sending it
    resumed = client.post(f"/api/v1/export-schedules/{schedule['id']}/resume/")
    assert resumed.json()["enabled"] is True
    task.refresh_from_db()
    assert task.enabled is True

    with django_capture_on_commit_callbacks(execute=False):
        triggered = client.post(f"/api/v1/export-schedules/{schedule['id']}/trigger/")
    assert triggered.status_code == 202, triggered.json()
    job = triggered.json()
    assert job["schedule"] == schedule["id"] and job["destination"] == destination.pk
    assert job["filters"] == {"has_expected": True} and job["status"] == "queued"
    # While that run is unfinished, another trigger is a conflict, and nothing is created.
    again = client.post(f"/api/v1/export-schedules/{schedule['id']}/trigger/")
    assert again.status_code == 409 and ExportJob.objects.count() == 1
    export_job_run(job_id=job["id"])

    runs = client.get(f"/api/v1/export-schedules/{schedule['id']}/runs/").json()
    assert [r["id"] for r in runs["results"]] == [job["id"]]
    assert runs["results"][0]["status"] == "succeeded" and runs["results"][0]["row_count"] == 2
    assert runs["results"][0]["manifest_key"].startswith("assay-exports/archive/")
    detail = client.get(f"/api/v1/export-schedules/{schedule['id']}/").json()
    assert detail["last_run"]["id"] == job["id"] and detail["last_run"]["status"] == "succeeded"

    actions = list(
        AuditEvent.objects.filter(object_type="exports.exportschedule").order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "export_schedule.create",
        "export_schedule.pause",
        "export_schedule.resume",
        "export_schedule.trigger",
    ]


def test_change_and_delete(project, key_client):
    client = key_client(project, scopes=("read", "write"))
    schedule_id = _create(client).json()["id"]
    changed = client.patch(
        f"/api/v1/export-schedules/{schedule_id}/", {"kind": "crontab", "cron": "0 3 * * *"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["cron"] == "0 3 * * *"
    task = ExportSchedule.objects.get(pk=schedule_id).periodic_task
    assert task.crontab.hour == "3" and task.interval is None
    assert client.delete(f"/api/v1/export-schedules/{schedule_id}/").status_code == 204
    assert not ExportSchedule.objects.exists() and not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "crontab", "cron": "61 * * * *"}, "cron"),
        ({"filters": {"bogus": 1}}, "filters.bogus"),
        ({"source": "dataset"}, "dataset"),
        ({"format": "parquet", "gzip": True}, "gzip"),
        ({"format": "openai_dpo", "source": "dataset", "dataset": None, "mode": "full"}, "format"),
        ({"every": 0}, "every"),
        ({"destination": 999999}, "destination"),
        ({"options": {"reviewer_scores": True}}, "options.reviewer_scores"),  # CSV only, not JSONL
    ],
)
def test_invalid_schedules_name_the_field(project, key_client, body, field):
    response = _create(key_client(project, scopes=("read", "write")), **body)
    assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not ExportSchedule.objects.exists()


def test_schedules_need_the_admin_role_and_stay_in_their_project(project, other_project, client, member, key_client):
    theirs = _create(key_client(other_project, scopes=("read", "write"))).json()["id"]
    client.force_login(member(project, role=Role.CURATOR))
    assert _create(client).status_code == 403
    reader = key_client(project, scopes=("read",))
    assert _create(reader).status_code == 403
    mine = key_client(project, scopes=("read", "write"))
    assert mine.get("/api/v1/export-schedules/").json()["results"] == []
    for suffix in ("", "runs/"):
        assert mine.get(f"/api/v1/export-schedules/{theirs}/{suffix}").status_code == 404
    for suffix in ("pause/", "resume/", "trigger/"):
        assert mine.post(f"/api/v1/export-schedules/{theirs}/{suffix}").status_code == 404
    assert ExportSchedule.objects.get(pk=theirs).enabled and not ExportJob.objects.exists()


def test_admin_pause_resume_and_run_now_use_the_same_service(project, client, member):
    client.force_login(member(project, role=Role.ADMIN))
    response = client.post(
        "/admin/exports/exportschedule/add/",
        {
            "project": project.pk,
            "name": "nightly",
            "source": "spans",
            "filters": "{}",
            "format": "jsonl",
            "mode": "full",
            "kind": "interval",
            "every": "1",
            "period": "days",
            "cron": "",
            "safety_lag_seconds": "300",
            "enabled": "on",
            "dataset_tag": "",
            "dataset_split": "",
        },
    )
    assert response.status_code == 302, response.content[:800]
    schedule = ExportSchedule.objects.get()
    url = "/admin/exports/exportschedule/"
    client.post(url, {"action": "pause", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.enabled is False and schedule.periodic_task.enabled is False
    client.post(url, {"action": "resume", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.enabled is True and schedule.periodic_task.enabled is True
    client.post(url, {"action": "run_now", "_selected_action": [schedule.pk]})
    assert ExportJob.objects.filter(schedule=schedule).count() == 1
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"export_schedule.pause", "export_schedule.resume", "export_schedule.trigger"} <= actions


def test_a_second_schedule_with_the_same_name_is_refused(project, key_client):
    client = key_client(project, scopes=("read", "write"))
    assert _create(client).status_code == 201
    response = _create(client)
    assert response.status_code == 400 and "name" in response.json()["fields"]


def test_a_schedules_format_options_reach_its_runs(project, key_client, annotated_spans):
    client = key_client(project, scopes=("read", "write"))
    created = _create(client, format="csv", options={"reviewer_scores": True})
    assert created.status_code == 201, created.json()
    assert created.json()["options"] == {"reviewer_scores": True}
    schedule = ExportSchedule.objects.get(pk=created.json()["id"])
    assert schedule.options == {"reviewer_scores": True}
    from apps.exports.services import export_schedule_run

    job = export_schedule_run(schedule_id=schedule.pk)
    assert job.options == {"reviewer_scores": True}
