"""The exports API: create, status, cancel, streamed download; scopes; isolation between projects."""

from __future__ import annotations

import json

import pytest

from apps.exports.services import export_job_run
from apps.projects.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


def _create(client, **body):
    return client.post("/api/v1/exports/", {"source": "spans", "format": "jsonl", **body}, format="json")


def test_create_poll_and_download(project, key_client, annotated_spans, django_capture_on_commit_callbacks):
    client = key_client(project, scopes=("read", "write"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _create(client, filters={"has_expected": True}, gzip=False)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["filters"] == {"has_expected": True}
    assert body["download_url"] is None and len(callbacks) == 1  # dispatched after commit, not run here
    export_job_run(job_id=body["id"])  # what the worker does

    status = client.get(f"/api/v1/exports/{body['id']}/").json()
    assert status["status"] == "succeeded" and status["row_count"] == 2 and status["progress"] == 1.0
    assert status["download_url"].endswith(f"/api/v1/exports/{body['id']}/download/")
    response = client.get(f"/api/v1/exports/{body['id']}/download/")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{body["id"]}.jsonl"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["span_id"] for line in lines] == ["s-1", "s-2"]


def test_validation_errors_name_the_field(project, key_client):
    client = key_client(project, scopes=("read", "write"))
    cases = [
        ({"format": "xlsx"}, "format"),
        ({"source": "logs"}, "source"),
        ({"format": "parquet", "gzip": True}, "gzip"),
        ({"filters": {"nope": 1}}, "filters.nope"),
        ({"filters": {"start_time_after": "yesterday"}}, "filters.start_time_after"),
        ({"filters": {"end_time_before": "soon"}}, "filters.end_time_before"),
        ({"source": "dataset"}, "dataset"),
        ({"source": "dataset", "dataset": 999}, "dataset"),
        ({"filters": "x"}, "filters"),
    ]
    for body, field in cases:
        response = _create(client, **body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["fields"], (body, response.json())


def test_download_before_success_is_a_conflict(project, key_client):
    client = key_client(project, scopes=("read", "write"))
    job_id = _create(client).json()["id"]
    response = client.get(f"/api/v1/exports/{job_id}/download/")
    assert response.status_code == 409 and "error" in response.json()


def test_cancel_stops_a_job_once_and_a_second_cancel_conflicts(project, key_client):
    client = key_client(project, scopes=("read", "write"))
    job_id = _create(client).json()["id"]
    response = client.post(f"/api/v1/exports/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/exports/{job_id}/cancel/").status_code == 409


def test_creating_needs_write_reading_needs_read_and_ingest_keys_see_nothing(project, key_client):
    reader = key_client(project, scopes=("read",))
    assert _create(reader).status_code == 403
    writer = key_client(project, scopes=("read", "write"))
    job_id = _create(writer).json()["id"]
    assert reader.get(f"/api/v1/exports/{job_id}/").status_code == 200
    ingest_only = key_client(project, scopes=("ingest",))
    assert ingest_only.get(f"/api/v1/exports/{job_id}/").status_code == 403


def test_other_projects_exports_answer_404_like_missing_ones(project, other_project, key_client, annotated_spans):
    mine = key_client(project, scopes=("read", "write"))
    theirs = key_client(other_project, scopes=("read", "write"))
    job_id = _create(mine).json()["id"]
    export_job_run(job_id=job_id)
    for suffix in ("", "download/"):
        foreign = theirs.get(f"/api/v1/exports/{job_id}/{suffix}")
        missing = theirs.get(f"/api/v1/exports/987654/{suffix}")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json()
    assert theirs.post(f"/api/v1/exports/{job_id}/cancel/").status_code == 404
    assert theirs.get("/api/v1/exports/").json()["results"] == []
    assert [j["id"] for j in mine.get("/api/v1/exports/").json()["results"]] == [job_id]


def test_other_projects_dataset_is_unknown(project, other_project, key_client):
    foreign = factories.DatasetFactory(project=other_project)
    response = _create(key_client(project, scopes=("read", "write")), source="dataset", dataset=foreign.pk)
    assert response.status_code == 400 and response.json()["fields"] == {"dataset": ["Unknown dataset."]}


def test_session_users_need_the_curator_role(project, member, api_client):
    reviewer = member(project, role=Role.REVIEWER)
    api_client.force_login(reviewer)
    assert _create(api_client).status_code == 403
    curator = member(project, role=Role.CURATOR)
    api_client.force_login(curator)
    response = _create(api_client)
    assert response.status_code == 202 and response.json()["requested_by"] == curator.username
