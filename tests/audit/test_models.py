"""AuditEvent is append-only at the model level; summaries are small and JSON-safe."""

import pytest

from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.services import audit_record, audit_snapshot
from apps.projects.services import api_key_create
from tests import factories

pytestmark = pytest.mark.django_db


def test_events_cannot_be_updated_or_deleted(project, admin_member):
    event = audit_record(
        actor=admin_member, action="project.update", obj=project, before={"name": "a"}, after={"name": "b"}
    )
    event.action = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["action"])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "project.update" and stored.after == {"name": "b"}


def test_actor_is_a_user_a_key_or_the_system(project, admin_member):
    key, _ = api_key_create(project=project, scopes=["write"], name="ci")
    by_user = audit_record(actor=admin_member, action="x.y", obj=project)
    by_key = audit_record(actor=key, action="x.y", obj=project)
    by_system = audit_record(actor=None, action="x.y", obj=project)
    assert (by_user.actor_user, by_user.actor_key, by_user.actor_label) == (admin_member, None, "alice")
    assert by_key.actor_key == key and by_key.actor_user is None and by_key.actor_label == f"key {key.prefix} (ci)"
    assert by_system.actor_label == "system" and by_system.actor_user is None and by_system.actor_key is None


def test_actor_label_survives_the_user(project, admin_member):
    event = audit_record(actor=admin_member, action="x.y", obj=project)
    admin_member.delete()
    event.refresh_from_db()
    assert event.actor_user is None and event.actor_label == "alice"


def test_snapshot_cuts_long_text_and_big_json(project):
    view = factories.TraceViewFactory(
        project=project,
        name="v",
        description="x" * 5000,
        spec={"version": 1, "components": [{"type": "markdown", "text": "y" * 5000}]},
    )
    snap = audit_snapshot(view)
    assert len(snap["description"]) == 501 and snap["description"].endswith("…")
    assert set(snap["spec"]) == {"truncated"} and len(snap["spec"]["truncated"]) <= 2001
    assert snap["name"] == "v"


def test_adjudication_record_files_under_the_items_project(project, admin_member):
    from apps.audit.services import adjudication_record
    from apps.queues.services.filling import review_items_add
    from apps.traces.models import Span

    queue = factories.ReviewQueueFactory(project=project)
    config = factories.ScoreConfigFactory(project=project, name="accuracy")
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    review_items_add(queue=queue, spans=Span.objects.filter(pk=span.pk))
    item = queue.items.get()
    event = adjudication_record(
        actor=admin_member,
        item=item,
        config=config,
        before={"value": None},
        after={"value": 1.0, "note": "policy says 30 days"},
    )
    assert event.project_id == project.pk and event.action == "adjudication.set"
    assert (event.object_type, event.object_id) == ("queues.reviewitem", str(item.pk))
    assert (event.parent_type, event.parent_id) == ("reviews.scoreconfig", str(config.pk))
