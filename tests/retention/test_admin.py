"""The retention admin: project admins preview, run and change policies; nobody else can."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.projects.models import Role
from apps.retention.models import RetentionPolicy, RetentionRun, RunStatus
from apps.traces.models import Trace

from .helpers import old_trace, pin, policy

pytestmark = pytest.mark.django_db


def _preview(pk):
    return reverse("admin:retention_retentionpolicy_preview", args=[pk])


def test_the_preview_shows_what_would_go_and_what_is_kept_and_why(project, client_as):
    gone = old_trace(project, name="old refund chat")
    kept = old_trace(project)
    pin(kept.spans.first(), "dataset")
    the_policy = policy(project)
    response = client_as(Role.ADMIN, project).get(_preview(the_policy.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<td id="traces-to-delete">1</td>' in page and '<td id="kept-pinned">1</td>' in page
    assert '<td id="spans-to-delete">2</td>' in page
    assert gone.trace_id in page and kept.trace_id not in page
    assert "a dataset record was made from it</td><td>1</td>" in page
    assert "Run now" in page
    assert Trace.objects.count() == 2 and not RetentionRun.objects.exists()  # a preview changes nothing


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.CURATOR, Role.VIEWER])
def test_members_below_admin_get_403(project, client_as, role):
    the_policy = policy(project)
    client = client_as(role, project)
    assert client.get(_preview(the_policy.pk)).status_code == 403
    run_url = reverse("admin:retention_retentionpolicy_run", args=[the_policy.pk])
    assert client.post(run_url).status_code == 403
    # They see the policy (read only), without the way to its preview.
    listing = client.get(reverse("admin:retention_retentionpolicy_changelist"))
    assert listing.status_code == 200 and _preview(the_policy.pk) not in listing.content.decode()
    change = client.post(reverse("admin:retention_retentionpolicy_change", args=[the_policy.pk]), {"max_age_days": 1})
    assert change.status_code == 403
    assert RetentionPolicy.objects.get().max_age_days == 30 and not RetentionRun.objects.exists()


def test_another_projects_admin_gets_404(project, other_project, client_as):
    the_policy = policy(project)
    client = client_as(Role.ADMIN, other_project)
    assert client.get(_preview(the_policy.pk)).status_code == 404
    assert client.post(reverse("admin:retention_retentionpolicy_run", args=[the_policy.pk])).status_code == 404
    listing = client.get(reverse("admin:retention_retentionpolicy_changelist"))
    assert listing.status_code == 200 and _preview(the_policy.pk) not in listing.content.decode()


def test_run_now_queues_a_run_for_a_worker(project, client_as, monkeypatch, django_capture_on_commit_callbacks):
    from apps.retention import tasks

    sent = []
    monkeypatch.setattr(tasks.retention_run_task, "delay", lambda pk: sent.append(pk))
    old_trace(project)
    the_policy = policy(project)
    client = client_as(Role.ADMIN, project)
    url = reverse("admin:retention_retentionpolicy_run", args=[the_policy.pk])
    assert client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    run = RetentionRun.objects.get()
    assert run.status == RunStatus.QUEUED and run.requested_by == client.user
    assert sent == [run.pk]  # dispatched once committed, to a worker; nothing deleted in the request
    assert Trace.objects.count() == 1
    # A second click while it waits says so instead of queueing another.
    client.post(url)
    assert RetentionRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="retention.run", project=project).exists()


def test_a_project_admin_creates_a_policy_and_the_audit_log_records_it(project, other_project, client_as):
    client = client_as(Role.ADMIN, project)
    add = reverse("admin:retention_retentionpolicy_add")
    refused = client.post(add, {"project": other_project.pk, "max_age_days": 30, "is_active": "on"})
    assert refused.status_code == 200 and not RetentionPolicy.objects.exists()  # not a choice
    empty = client.post(add, {"project": project.pk, "is_active": "on"})
    assert "Set a maximum age" in empty.content.decode()
    response = client.post(add, {"project": project.pk, "max_age_days": 30, "max_traces": "", "is_active": "on"})
    assert response.status_code == 302
    created = RetentionPolicy.objects.get()
    assert (created.project, created.max_age_days, created.created_by) == (project, 30, client.user)
    assert AuditEvent.objects.filter(action="retention_policy.create", project=project).exists()


def test_the_run_log_is_read_only(project, client_as):
    from apps.retention.services import retention_run

    run = retention_run(policy=policy(project), dry_run=True)
    client = client_as(Role.ADMIN, project)
    listing = client.get(reverse("admin:retention_retentionrun_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:retention_retentionrun_change", args=[run.pk]) in listing.content.decode()
    assert client.get(reverse("admin:retention_retentionrun_add")).status_code == 403
    detail = client.post(reverse("admin:retention_retentionrun_delete", args=[run.pk]), {"post": "yes"})
    assert detail.status_code == 403 and RetentionRun.objects.filter(pk=run.pk).exists()
