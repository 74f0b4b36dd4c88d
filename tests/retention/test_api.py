"""`/api/v1/retention-policy/`: project admins and `admin`-scoped keys only, one project at a time."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.projects.models import Role
from apps.retention.models import RetentionPolicy, RetentionRun
from apps.traces.models import Trace

from .helpers import old_trace, pin, policy

pytestmark = pytest.mark.django_db
URL = "/api/v1/retention-policy/"


def test_a_key_with_the_admin_scope_sets_previews_and_runs_the_policy(project, key_client, monkeypatch):
    from apps.retention import tasks

    monkeypatch.setattr(tasks.retention_run_task, "delay", lambda pk: None)
    client = key_client(project, scopes=("admin",))
    assert client.get(URL).status_code == 404
    response = client.put(URL, {"max_age_days": 30, "max_traces": None}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["max_age_days"] == 30 and response.json()["project"] == "acme"
    assert AuditEvent.objects.filter(action="retention_policy.create", actor_key__isnull=False).exists()
    kept = old_trace(project)
    pin(kept.spans.first(), "queue")
    gone = old_trace(project)
    preview = client.get(URL + "preview/").json()
    assert (preview["traces_to_delete"], preview["kept_pinned"]) == (1, 1)
    assert [t["trace_id"] for t in preview["sample"]] == [gone.trace_id]
    assert {r["reason"]: r["traces"] for r in preview["pinned_by_reason"]}["queue"] == 1
    run = client.post(URL + "runs/")
    assert run.status_code == 202 and run.json()["status"] == "queued"
    assert RetentionRun.objects.get().requested_by is None
    assert Trace.objects.count() == 2  # the worker deletes, not the request
    assert client.get(URL + "runs/").json()[0]["id"] == run.json()["id"]


def test_keys_without_the_admin_scope_and_members_below_admin_are_refused(project, key_client, client_as):
    policy(project)
    for scopes in (("read",), ("write",), ("ingest", "read", "write")):
        client = key_client(project, scopes=scopes)
        assert client.get(URL).status_code == 403
        assert client.put(URL, {"max_age_days": 1}, format="json").status_code == 403
    for role in (Role.CURATOR, Role.REVIEWER):
        assert client_as(role, project).get(URL + "preview/").status_code == 403
    assert RetentionPolicy.objects.get().max_age_days == 30


def test_a_policy_needs_a_limit_and_other_projects_are_invisible(project, other_project, key_client, client_as):
    client = key_client(project, scopes=("admin",))
    bad = client.put(URL, {"max_age_days": None, "max_traces": None}, format="json")
    assert bad.status_code == 400 and "error" in bad.json()
    policy(other_project)
    admin_here = client_as(Role.ADMIN, project)
    assert admin_here.get(URL, {"project": "other"}).status_code == 404
    assert admin_here.delete(URL + "?project=other").status_code == 404
    assert RetentionPolicy.objects.filter(project=other_project).exists()
    policy(project)
    assert admin_here.delete(URL).status_code == 204
    assert not RetentionPolicy.objects.filter(project=project).exists()
