"""Export destinations: per project, credentials encrypted at rest and write-only, object keys that
name the deployment and a date partition, exports written to a project's own bucket."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection

from apps.core.encryption import decrypt_json
from apps.core.exceptions import ApplicationError
from apps.exports import storage
from apps.exports.destinations import deployment_id, export_destination_create
from apps.exports.models import DeploymentIdentity, ExportDestination
from apps.exports.services import export_job_run
from apps.projects.models import Role
from tests.exports.conftest import read_file, run

pytestmark = pytest.mark.django_db

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
KEY_RE = r"^{prefix}/{deployment}/acme/spans/dt=\d{{4}}-\d{{2}}-\d{{2}}/[0-9a-f-]{{36}}\.jsonl$"


def _s3_body(endpoint, **extra):
    return {
        "name": "warehouse",
        "kind": "s3",
        "bucket": "assay-test",
        "prefix": "team/exports",
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "credentials": {"access_key_id": "testing", "secret_access_key": SECRET},
        **extra,
    }


@pytest.fixture
def loopback_endpoints(settings):
    settings.EXPORTS_DESTINATION_ENDPOINT_HOSTS = ["127.0.0.1"]


def test_credentials_are_encrypted_in_the_row_and_never_answered(project, key_client, loopback_endpoints):
    client = key_client(project, scopes=("read", "write"))
    response = client.post("/api/v1/export-destinations/", _s3_body("http://127.0.0.1:9"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["has_credentials"] is True and "credentials" not in body
    assert SECRET not in response.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials_encrypted FROM exports_exportdestination WHERE id = %s", [body["id"]])
        stored = cursor.fetchone()[0]
    assert stored and SECRET not in stored and "testing" not in stored
    assert decrypt_json(stored) == {"access_key_id": "testing", "secret_access_key": SECRET}
    for url in ("/api/v1/export-destinations/", f"/api/v1/export-destinations/{body['id']}/"):
        assert SECRET not in client.get(url).content.decode()
    # A change without credentials keeps them; null removes them.
    changed = client.patch(f"/api/v1/export-destinations/{body['id']}/", {"region": "eu-west-1"}, format="json")
    assert changed.status_code == 200 and changed.json()["has_credentials"] is True
    assert (
        decrypt_json(ExportDestination.objects.get(pk=body["id"]).credentials_encrypted)["secret_access_key"] == SECRET
    )
    cleared = client.patch(f"/api/v1/export-destinations/{body['id']}/", {"credentials": None}, format="json")
    assert cleared.json()["has_credentials"] is False
    # The audit log records that credentials changed, never their value.
    from apps.audit.models import AuditEvent

    events = AuditEvent.objects.filter(action__startswith="export_destination.")
    assert events.count() == 3 and SECRET not in json.dumps(list(events.values("before", "after")), default=str)


def test_the_admin_never_shows_credentials(project, client, member, loopback_endpoints):
    admin = member(project, role=Role.ADMIN)
    client.force_login(admin)
    destination = export_destination_create(
        project=project,
        name="warehouse",
        bucket="assay-test",
        endpoint_url="http://127.0.0.1:9",
        credentials={"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET},
    )
    page = client.get(f"/admin/exports/exportdestination/{destination.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html and "AKIAEXAMPLE" not in html and destination.credentials_encrypted not in html
    # Saving the form with the credential fields empty keeps the stored credentials.
    response = client.post(
        f"/admin/exports/exportdestination/{destination.pk}/change/",
        {
            "project": project.pk,
            "name": "warehouse",
            "kind": "s3",
            "bucket": "assay-test",
            "prefix": "assay-exports",
            "endpoint_url": "http://127.0.0.1:9",
            "region": "",
            "access_key_id": "",
            "secret_access_key": "",
            "session_token": "",
        },
    )
    assert response.status_code == 302, response.content[:500]
    destination.refresh_from_db()
    assert decrypt_json(destination.credentials_encrypted)["secret_access_key"] == SECRET


def test_destinations_are_per_project(project, other_project, key_client):
    theirs = export_destination_create(project=other_project, name="theirs", kind="local", prefix="theirs")
    client = key_client(project, scopes=("read", "write"))
    assert client.get("/api/v1/export-destinations/").json() == []
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/export-destinations/{theirs.pk}/", {}, format="json")
        missing = getattr(client, method)("/api/v1/export-destinations/999999/", {}, format="json")
        assert response.status_code == missing.status_code == 404
    # Naming another project's destination in an export or a schedule is an unknown destination.
    response = client.post("/api/v1/exports/", {"source": "spans", "destination": theirs.pk}, format="json")
    assert response.status_code == 400 and "destination" in response.json()["fields"]
    response = client.post("/api/v1/export-schedules/", {"name": "n", "destination": theirs.pk}, format="json")
    assert response.status_code == 400 and "destination" in response.json()["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prefix": "../escape"}, "prefix"),
        ({"prefix": "a//b"}, "prefix"),
        ({"bucket": "Not_A_Bucket"}, "bucket"),
        ({"endpoint_url": "http://169.254.169.254"}, "endpoint_url"),
        ({"credentials": {"access_key_id": "x"}}, "credentials"),
        ({"kind": "local", "bucket": "assay-test"}, "kind"),
    ],
)
def test_invalid_destinations_name_the_field(project, key_client, body, field):
    client = key_client(project, scopes=("read", "write"))
    response = client.post(
        "/api/v1/export-destinations/", {**_s3_body("https://s3.example.com"), **body}, format="json"
    )
    assert response.status_code == 400 and field in response.json()["fields"], response.json()


def test_managing_destinations_needs_the_admin_role(project, client, member):
    client.force_login(member(project, role=Role.CURATOR))
    response = client.post("/api/v1/export-destinations/", {"name": "x", "kind": "local", "prefix": "x"}, format="json")
    assert response.status_code == 403
    assert not ExportDestination.objects.exists()


def test_deployment_id_is_stored_once_or_taken_from_the_setting(settings):
    settings.EXPORTS_DEPLOYMENT_ID = ""
    first = deployment_id()
    assert re.match(r"^d-[0-9a-f]{12}$", first) and deployment_id() == first
    assert DeploymentIdentity.objects.count() == 1
    settings.EXPORTS_DEPLOYMENT_ID = "eu-prod"
    assert deployment_id() == "eu-prod"


def test_keys_name_deployment_date_and_job_uuid_so_two_deployments_never_collide(project, annotated_spans, settings):
    settings.EXPORTS_DEPLOYMENT_ID = "eu-prod"
    first = run(project)
    settings.EXPORTS_DEPLOYMENT_ID = "us-prod"  # another deployment (or database) with the same job ids
    second = run(project)
    assert re.match(KEY_RE.format(prefix="assay-exports", deployment="eu-prod"), first.storage_key)
    assert re.match(KEY_RE.format(prefix="assay-exports", deployment="us-prod"), second.storage_key)
    assert f"dt={first.created_at:%Y-%m-%d}" in first.storage_key and str(first.uid) in first.storage_key
    assert first.storage_key != second.storage_key
    assert read_file(first) and read_file(second)


def test_local_destination_is_a_folder_under_the_export_prefix(project, annotated_spans, settings):
    settings.EXPORTS_DEPLOYMENT_ID = "dev"
    destination = export_destination_create(project=project, name="archive", kind="local", prefix="archive")
    job = run(project, destination=destination)
    assert job.status == "succeeded", job.error
    assert re.match(KEY_RE.format(prefix="assay-exports/archive", deployment="dev"), job.storage_key)
    assert len(read_file(job).splitlines()) == 3


def test_export_to_a_projects_own_bucket(
    project, annotated_spans, s3_server, settings, key_client, loopback_endpoints, django_capture_on_commit_callbacks
):
    s3, endpoint = s3_server
    settings.EXPORTS_DEPLOYMENT_ID = "eu-prod"
    client = key_client(project, scopes=("read", "write"))
    destination = client.post("/api/v1/export-destinations/", _s3_body(endpoint), format="json").json()
    with django_capture_on_commit_callbacks(execute=False):
        created = client.post("/api/v1/exports/", {"source": "spans", "destination": destination["id"]}, format="json")
    assert created.status_code == 202 and created.json()["destination"] == destination["id"]
    job = export_job_run(job_id=created.json()["id"])
    assert job.status == "succeeded", job.error
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="assay-test")["Contents"]]
    assert keys == [job.storage_key]
    assert re.match(KEY_RE.format(prefix="team/exports", deployment="eu-prod"), job.storage_key)
    body = s3.get_object(Bucket="assay-test", Key=job.storage_key)["Body"].read()
    assert sorted(json.loads(line)["span_id"] for line in body.splitlines()) == ["s-1", "s-2", "s-3"]
    download = client.get(f"/api/v1/exports/{job.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == body
    # A destination in use cannot be deleted (its files are found through it).
    assert client.delete(f"/api/v1/export-destinations/{destination['id']}/").status_code == 409


def test_keys_never_leave_a_destinations_prefix(project):
    destination = export_destination_create(project=project, name="archive", kind="local", prefix="archive")
    with pytest.raises(ApplicationError):
        storage.publish_bytes(data=b"x", key="assay-exports/elsewhere/x.json", destination=destination)
    storage.publish_bytes(data=b"x", key="assay-exports/archive/x.json", destination=destination)


def test_new_export_in_the_admin_picks_a_destination(project, other_project, client, member, annotated_spans):
    client.force_login(member(project, role=Role.CURATOR))
    mine = export_destination_create(project=project, name="archive", kind="local", prefix="archive")
    theirs = export_destination_create(project=other_project, name="theirs", kind="local", prefix="theirs")
    page = client.get("/admin/exports/exportjob/new/").content.decode()
    assert "archive" in page and "theirs" not in page
    response = client.post(
        "/admin/exports/exportjob/new/",
        {"project": project.pk, "source": "spans", "format": "jsonl", "filters": "{}", "destination": mine.pk},
    )
    assert response.status_code == 302
    from apps.exports.models import ExportJob

    job = ExportJob.objects.get()
    assert job.destination == mine and job.storage_key.startswith("assay-exports/archive/")
    refused = client.post(
        "/admin/exports/exportjob/new/",
        {"project": project.pk, "source": "spans", "format": "jsonl", "filters": "{}", "destination": theirs.pk},
    )
    assert refused.status_code == 200 and ExportJob.objects.count() == 1
