"""The audit log in the admin: per-object History pages, the project-wide list with filters, the
download, and no way to add, change or delete an event."""

import csv
import io

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.projects.models import Role
from apps.projects.services import membership_set
from apps.queues.services.board import review_item_move
from apps.queues.services.filling import review_items_add
from apps.reviews.services.score_configs import score_config_update
from apps.traces.models import Span
from tests import factories

pytestmark = pytest.mark.django_db

LIST = reverse("admin:audit_auditevent_changelist")


@pytest.fixture
def history(project, other_project, admin_member):
    config = factories.ScoreConfigFactory(project=project, name="accuracy")
    score_config_update(config=config, actor=admin_member, description="<script>alert(1)</script>")
    theirs = factories.ScoreConfigFactory(project=other_project, name="secret-config")
    score_config_update(config=theirs, actor=None, description="theirs")
    return config, theirs


def _rows(response) -> list[AuditEvent]:
    return list(response.context["cl"].result_list)


def test_history_page_of_an_object_shows_its_events_escaped(client, admin_member, history):
    config, _ = history
    client.force_login(admin_member)
    change = client.get(reverse("admin:reviews_scoreconfig_change", args=[config.pk]))
    history_url = reverse("admin:reviews_scoreconfig_history", args=[config.pk])
    assert history_url in change.content.decode()  # the change form's History button
    response = client.get(history_url)
    assert response.status_code == 200
    text = response.content.decode()
    assert "score_config.update" in text and "alice" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "secret-config" not in text
    assert f"object_type=reviews.scoreconfig&amp;object_id={config.pk}" in text


def test_queue_history_includes_its_item_moves(client, project, admin_member):
    queue = factories.ReviewQueueFactory(project=project, name="Refunds")
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    review_items_add(queue=queue, spans=Span.objects.filter(pk=span.pk), actor=admin_member)
    review_item_move(item=queue.items.get(), status="pending", user=admin_member)
    client.force_login(admin_member)
    text = client.get(reverse("admin:queues_reviewqueue_history", args=[queue.pk])).content.decode()
    assert "review_queue.items_add" in text and "review_item.move" in text and "pending" in text


def test_project_history_includes_members_and_keys(admin_client, project):
    from apps.projects.services import api_key_create

    user = factories.UserFactory(username="dora")
    membership_set(project=project, user=user, role=Role.CURATOR)
    api_key_create(project=project, scopes=["read"], name="ci key")
    text = admin_client.get(reverse("admin:projects_project_history", args=[project.pk])).content.decode()
    assert "membership.create" in text and "api_key.create" in text and "ci key" in text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR])
def test_history_is_for_project_admins(client, project, member, history, role):
    config, _ = history
    client.force_login(member(project, role=role))
    assert client.get(reverse("admin:reviews_scoreconfig_history", args=[config.pk])).status_code == 403
    assert client.get(LIST).status_code == 403


def test_history_of_another_projects_object_is_not_found(client, admin_member, history):
    _, theirs = history
    client.force_login(admin_member)
    assert client.get(reverse("admin:reviews_scoreconfig_history", args=[theirs.pk])).status_code in (302, 404)
    response = client.get(reverse("admin:reviews_scoreconfig_history", args=[theirs.pk]), follow=True)
    assert "secret-config" not in response.content.decode() and "theirs" not in response.content.decode()


def test_admin_of_a_viewer_of_b_sees_only_a(client, other_project, admin_member, history):
    membership_set(project=other_project, user=admin_member, role=Role.VIEWER)
    client.force_login(admin_member)
    response = client.get(LIST, {"object_type__exact": "reviews.scoreconfig"})
    assert response.status_code == 200
    assert [e.object_repr for e in _rows(response)] == ["accuracy"]
    _, theirs = history
    assert client.get(reverse("admin:reviews_scoreconfig_history", args=[theirs.pk])).status_code == 403
    event = AuditEvent.objects.get(object_repr="secret-config")
    assert client.get(reverse("admin:audit_auditevent_change", args=[event.pk])).status_code == 302


def test_project_wide_list_filters(client, project, admin_member, member, history):
    other_admin = member(project, role=Role.ADMIN, username="zed")
    audit_record(
        actor=other_admin,
        action="dataset.create",
        object_type="datasets.dataset",
        object_id=7,
        object_repr="refunds",
        project=project,
    )
    client.force_login(admin_member)
    response = client.get(LIST)
    assert response.status_code == 200
    text = response.content.decode()
    for heading in ("By project", "By actor label", "By action", "By object type", "By created at"):
        assert heading in text
    by_action = client.get(LIST, {"action__exact": "dataset.create"})
    assert [e.object_repr for e in _rows(by_action)] == ["refunds"]
    by_actor = client.get(LIST, {"actor_label__exact": "alice", "object_type__exact": "reviews.scoreconfig"})
    assert [e.action for e in _rows(by_actor)] == ["score_config.update"]
    by_type = client.get(LIST, {"object_type__exact": "datasets.dataset"})
    assert [e.actor_label for e in _rows(by_type)] == ["zed"]
    by_date = client.get(
        LIST, {"created_at__gte": "2999-01-01 00:00:00+00:00", "created_at__lt": "2999-01-02 00:00:00+00:00"}
    )
    assert _rows(by_date) == []
    by_project = client.get(LIST, {"project__id__exact": project.pk, "action__exact": "dataset.create"})
    assert len(_rows(by_project)) == 1


def test_download_follows_the_list_filters(client, admin_member, history):
    client.force_login(admin_member)
    listing = client.get(LIST, {"action__exact": "score_config.update"}).content.decode()
    export = reverse("admin:audit_auditevent_export")
    assert f"{export}?action__exact=score_config.update&amp;file_format=csv" in listing
    response = client.get(export, {"action__exact": "score_config.update", "file_format": "csv"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["action"], r["object_repr"]) for r in rows] == [("score_config.update", "accuracy")]
    jsonl = client.get(export, {"file_format": "jsonl"})
    body = b"".join(jsonl.streaming_content).decode()
    assert "accuracy" in body and "secret-config" not in body
    assert client.get(export, {"file_format": "exe"}).status_code == 400


def test_events_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, history):
    event = AuditEvent.objects.filter(object_repr="accuracy").first()
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"action": "forged"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    bulk = admin_client.post(LIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert event.action == "score_config.update"
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_trace_view_editor_links_its_history(client, project, admin_member):
    from apps.views.services import trace_view_update

    view = factories.TraceViewFactory(project=project, name="Chat")
    trace_view_update(view=view, name="Chat 2", actor=admin_member)
    client.force_login(admin_member)
    history_url = reverse("admin:views_traceview_history", args=[view.pk])
    assert history_url in client.get(reverse("admin:views_traceview_editor", args=[view.pk])).content.decode()
    text = client.get(history_url).content.decode()
    assert "trace_view.update" in text and "Chat 2" in text
