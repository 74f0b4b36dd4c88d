"""Each change kind records one event with its actor, action, object and before/after, through the
surface a person uses (the API with a key or a session, the admin)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.exports.models import ExportSchedule
from apps.projects.models import Membership, ProjectAPIKey, Role
from apps.projects.services import KEY_USE_AUDIT_SECONDS
from apps.queues.models import ReviewItem, ReviewQueue
from apps.queues.services.filling import review_items_add
from apps.reviews.models import ScoreConfig
from apps.traces.models import Span
from tests import factories

from .conftest import change_form_data

pytestmark = pytest.mark.django_db

SPEC = {"version": 1, "components": [{"type": "conversation", "path": ["$.input", "$.output"]}]}


def _key_of(client) -> ProjectAPIKey:
    return ProjectAPIKey.objects.get_from_key(client.raw_key)


# ---------------------------------------------------------------- score configs


def test_score_config_lifecycle_through_the_api_with_a_key(project, key_client, events):
    client = key_client(project, scopes=("read", "write"))
    key = _key_of(client)
    created = client.post(
        "/api/v1/score-configs/",
        {"name": "accuracy", "kind": "continuous", "min_value": 0, "max_value": 1},
        format="json",
    )
    assert created.status_code == 201, created.json()
    config_id = created.json()["id"]
    client.patch(f"/api/v1/score-configs/{config_id}/", {"description": "Is it right?", "max_value": 5}, format="json")
    client.post(f"/api/v1/score-configs/{config_id}/archive/")
    client.post(f"/api/v1/score-configs/{config_id}/restore/")
    assert client.delete(f"/api/v1/score-configs/{config_id}/").status_code == 204

    (create,) = events("score_config.create")
    assert create.actor_key == key and create.actor_label.startswith(f"key {key.prefix}")
    assert (create.object_type, create.object_id, create.object_repr) == (
        "reviews.scoreconfig",
        str(config_id),
        "accuracy",
    )
    assert create.before is None and create.after["name"] == "accuracy" and create.after["max_value"] == 1
    (update,) = events("score_config.update")
    assert update.before == {"description": "", "max_value": 1.0}
    assert update.after == {"description": "Is it right?", "max_value": 5.0}
    assert events("score_config.archive")[0].after == {"is_archived": True}
    assert events("score_config.restore")[0].after == {"is_archived": False}
    (delete,) = events("score_config.delete")
    assert delete.before["name"] == "accuracy" and delete.after is None
    assert set(AuditEvent.objects.values_list("project_id", flat=True)) == {project.pk}


def test_score_config_admin_edit_records_the_user(client, project, admin_member, events):
    config = factories.ScoreConfigFactory(project=project, name="tone")
    client.force_login(admin_member)
    url = reverse("admin:reviews_scoreconfig_change", args=[config.pk])
    data = change_form_data(client.get(url))
    data["description"] = "Friendly?"
    assert client.post(url, data).status_code == 302
    (update,) = events("score_config.update")
    assert update.actor_user == admin_member and update.after == {"description": "Friendly?"}


def test_an_update_that_changes_nothing_records_nothing(project, key_client):
    config = factories.ScoreConfigFactory(project=project, name="tone", description="same")
    key_client(project).patch(f"/api/v1/score-configs/{config.pk}/", {"description": "same"}, format="json")
    assert not AuditEvent.objects.filter(action="score_config.update").exists()


def test_a_refused_change_records_nothing(project, key_client):
    factories.ScoreConfigFactory(project=project, name="tone")
    response = key_client(project).post("/api/v1/score-configs/", {"name": "tone", "kind": "boolean"}, format="json")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(object_type="reviews.scoreconfig").exists()


# ---------------------------------------------------------------- queues and item moves


def test_queue_and_item_moves_through_the_api(project, member, client_as, events):
    client = client_as(Role.ADMIN, project, username="carol")
    curator = client.user
    reviewer = member(project, role=Role.REVIEWER, username="rob")
    spans = [factories.SpanFactory(trace=factories.TraceFactory(project=project)) for _ in range(2)]
    created = client.post("/api/v1/review-queues/", {"project": "acme", "name": "Refunds"}, format="json")
    assert created.status_code == 201, created.json()
    queue_id = created.json()["id"]
    client.patch(f"/api/v1/review-queues/{queue_id}/", {"instructions": "Check refunds", "blind": True}, format="json")
    added = client.post(
        f"/api/v1/review-queues/{queue_id}/items/", {"span_ids": [s.span_id for s in spans]}, format="json"
    )
    assert added.status_code == 200, added.json()
    item = ReviewItem.objects.filter(queue_id=queue_id).order_by("id").first()
    moved = client.patch(
        f"/api/v1/review-queues/{queue_id}/items/{item.pk}/", {"status": "pending", "assignee": "rob"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert client.delete(f"/api/v1/review-queues/{queue_id}/").status_code == 204

    (create,) = events("review_queue.create")
    assert create.actor_user == curator and create.after["name"] == "Refunds"
    (update,) = events("review_queue.update")
    assert update.before == {"instructions": "", "blind": False}
    assert update.after == {"instructions": "Check refunds", "blind": True}
    assert events("review_queue.items_add")[0].after == {"added": 2}
    (move,) = events("review_item.move")
    assert (move.object_type, move.object_id) == ("queues.reviewitem", str(item.pk))
    assert (move.parent_type, move.parent_id) == ("queues.reviewqueue", str(queue_id))
    assert move.before == {"status": "backlog"} and move.after == {"status": "pending"}
    (assign,) = events("review_item.assign")
    assert assign.before == {"assignee": None} and assign.after == {"assignee": reviewer.pk}
    (delete,) = events("review_queue.delete")
    assert delete.before["name"] == "Refunds" and delete.object_id == str(queue_id)


def test_queue_admin_form_records_fields_and_many_to_many(client, project, admin_member, events):
    config = factories.ScoreConfigFactory(project=project, name="accuracy")
    client.force_login(admin_member)
    data = {
        "project": project.pk,
        "name": "Q1",
        "instructions": "",
        "reviewers_per_item": 1,
        "reservation_minutes": 30,
        "rule_target": "traces",
        "rule_filter": "{}",
        "rule_sampling_rate": 1.0,
        "disagreement_threshold": 0.1,
        "gold_question_rate": 0,
    }
    response = client.post(reverse("admin:queues_reviewqueue_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    queue = ReviewQueue.objects.get(name="Q1")
    url = reverse("admin:queues_reviewqueue_change", args=[queue.pk])
    data = change_form_data(client.get(url))
    data["score_configs"] = [str(config.pk)]
    data["name"] = "Q1 renamed"
    assert client.post(url, data).status_code == 302
    assert client.post(reverse("admin:queues_reviewqueue_delete", args=[queue.pk]), {"post": "yes"}).status_code == 302

    (create,) = events("review_queue.create")
    assert create.actor_user == admin_member and create.after["name"] == "Q1"
    (update,) = events("review_queue.update")
    assert update.before == {"name": "Q1", "score_configs": []}
    assert update.after == {"name": "Q1 renamed", "score_configs": [config.pk]}
    (delete,) = events("review_queue.delete")
    assert delete.before["name"] == "Q1 renamed"


def test_items_added_from_the_span_list_action(client, project, admin_member, events):
    queue = factories.ReviewQueueFactory(project=project)
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    client.force_login(admin_member)
    response = client.post(
        reverse("admin:traces_span_changelist"),
        {"action": "add_spans_to_review_queue", "_selected_action": [span.pk], "queue": queue.pk},
    )
    assert response.status_code in (200, 302)
    (add,) = events("review_queue.items_add")
    assert add.actor_user == admin_member and add.object_id == str(queue.pk) and add.after == {"added": 1}


# ---------------------------------------------------------------- members, roles, API keys


def test_members_and_roles_in_the_project_admin(client, project, admin_user, events):
    # Roles change in place on the project page, people come in through "Add member", and leave there.
    from apps.projects.services import member_add

    admin_member = admin_user
    bob = factories.UserFactory(username="bob")
    bob_membership = Membership.objects.create(project=project, user=bob, role=Role.VIEWER)
    client.force_login(admin_member)
    url = reverse("admin:projects_project_change", args=[project.pk])
    data = change_form_data(client.get(url))
    forms = int(data["memberships-TOTAL_FORMS"])
    bob_form = next(i for i in range(forms) if data.get(f"memberships-{i}-id") == str(bob_membership.pk))
    data[f"memberships-{bob_form}-role"] = "curator"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]

    (role,) = events("membership.update")
    assert role.actor_user == admin_member
    assert role.before["role"] == "viewer" and role.after["role"] == "curator"
    assert (role.parent_type, role.parent_id) == ("projects.project", str(project.pk))
    carol = factories.UserFactory(username="carol")
    member_add(actor=admin_member, project=project, username_or_email="carol", role=Role.REVIEWER)
    (added,) = events("membership.create")
    assert added.actor_user == admin_member and added.after == {"user": carol.pk, "role": "reviewer"}

    carol_membership = Membership.objects.get(project=project, user=carol)
    data = change_form_data(client.get(url))
    carol_form = next(
        i
        for i in range(int(data["memberships-TOTAL_FORMS"]))
        if data.get(f"memberships-{i}-id") == str(carol_membership.pk)
    )
    data[f"memberships-{carol_form}-DELETE"] = "on"
    assert client.post(url, data).status_code == 302
    (removed,) = events("membership.delete")
    assert removed.before == {"user": carol.pk, "role": "reviewer"}
    assert not Membership.objects.filter(user=carol).exists()


def test_api_key_created_revoked_and_used(client, project, admin_member, admin_user, events):
    client.force_login(admin_member)
    client.post(
        reverse("admin:projects_project_changelist"), {"action": "create_read_key", "_selected_action": [project.pk]}
    )
    key = ProjectAPIKey.objects.get(project=project)
    (create,) = events("api_key.create")
    assert create.actor_user == admin_member and create.after["scopes"] == ["read"]
    assert create.after["prefix"] == key.prefix and "hashed_key" not in create.after

    client.force_login(admin_user)  # the key inline needs Django's model permissions today
    admin_member = admin_user
    url = reverse("admin:projects_project_change", args=[project.pk])
    data = change_form_data(client.get(url))
    data["api_keys-0-revoked"] = "on"
    assert client.post(url, data).status_code == 302
    (revoke,) = events("api_key.revoke")
    assert revoke.actor_user == admin_member and revoke.before == {"revoked": False}
    assert revoke.after == {"revoked": True}


def test_key_use_keeps_last_used_and_records_once_an_hour(project, key_client, events):
    client = key_client(project, scopes=("read",))
    key = _key_of(client)
    assert key.last_used_at is None
    for _ in range(3):
        assert client.get("/api/v1/traces/").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    (use,) = events("api_key.use")
    assert use.actor_key == key and use.before == {"last_used_at": None}
    # An hour later the next request records again.
    ProjectAPIKey.objects.filter(pk=key.pk).update(
        last_used_at=timezone.now() - timedelta(seconds=KEY_USE_AUDIT_SECONDS + 5)
    )
    assert client.get("/api/v1/traces/").status_code == 200
    assert len(events("api_key.use")) == 2


# ---------------------------------------------------------------- datasets


def test_dataset_versions_records_tags_and_restore(project, key_client, events):
    client = key_client(project, scopes=("read", "write"))
    key = _key_of(client)
    dataset_id = client.post("/api/v1/datasets/", {"name": "refunds"}, format="json").json()["id"]
    client.patch(f"/api/v1/datasets/{dataset_id}/", {"description": "Refund Qs"}, format="json")
    records = [{"record_id": "a", "input": "q1"}, {"record_id": "b", "input": "q2"}]
    assert client.post(
        f"/api/v1/datasets/{dataset_id}/records/", {"records": records, "message": "seed"}, format="json"
    ).status_code in (200, 201)
    client.delete(f"/api/v1/datasets/{dataset_id}/records/", {"record_ids": ["b"]}, format="json")
    client.post(f"/api/v1/datasets/{dataset_id}/tags/", {"name": "prod", "version": 1}, format="json")
    client.put(f"/api/v1/datasets/{dataset_id}/tags/prod/", {"version": 2}, format="json")
    client.post(f"/api/v1/datasets/{dataset_id}/versions/1/restore/")
    client.delete(f"/api/v1/datasets/{dataset_id}/tags/prod/")
    assert client.delete(f"/api/v1/datasets/{dataset_id}/").status_code == 204

    assert events("dataset.create")[0].actor_key == key
    assert events("dataset.update")[0].after == {"description": "Refund Qs"}
    (upsert,) = events("dataset.records_upsert")
    assert upsert.actor_key == key and upsert.object_id == str(dataset_id)
    assert upsert.after == {
        "version": 1,
        "added": 2,
        "updated": 0,
        "removed": 0,
        "restored_from": None,
        "message": "seed",
    }
    assert events("dataset.records_delete")[0].after["removed"] == 1
    tag_moves = events("dataset.tag_set")
    assert [(e.before["version"], e.after["version"]) for e in tag_moves] == [(None, 1), (1, 2)]
    (restore,) = events("dataset.version_restore")
    assert restore.after["version"] == 3 and restore.after["restored_from"] == 1 and restore.after["added"] == 1
    assert events("dataset.tag_delete")[0].before == {"tag": "prod", "version": 2}
    (delete,) = events("dataset.delete")
    assert delete.before["name"] == "refunds"


def test_dataset_admin_edit_and_delete(client, project, member, events):
    curator = member(project, role=Role.ADMIN, username="cur")
    dataset = factories.DatasetFactory(project=project, name="qa")
    client.force_login(curator)
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    assert (
        client.post(url, {"project": project.pk, "name": "qa2", "description": "Refund questions"}).status_code == 302
    )
    assert events("dataset.update")[0].before == {"name": "qa"}
    assert events("dataset.update")[0].after == {"name": "qa2"}
    assert client.post(reverse("admin:datasets_dataset_delete", args=[dataset.pk]), {"post": "yes"}).status_code == 302
    assert events("dataset.delete")[0].actor_user == curator


# ---------------------------------------------------------------- trace views and share links


def test_trace_views_and_share_links_through_the_api(project, key_client, events):
    client = key_client(project, scopes=("read", "write"))
    key = _key_of(client)
    trace = factories.TraceFactory(project=project, trace_id="chat-1")
    factories.SpanFactory(trace=trace, span_id="chat-1-s0")
    view_id = client.post("/api/v1/trace-views/", {"name": "Chat", "spec": SPEC}, format="json").json()["id"]
    client.patch(f"/api/v1/trace-views/{view_id}/", {"name": "Chat 2"}, format="json")
    client.post(f"/api/v1/trace-views/{view_id}/make-default/")
    link = client.post(
        f"/api/v1/trace-views/{view_id}/share-links/", {"trace": "chat-1", "expires_in_hours": 2}, format="json"
    )
    assert link.status_code == 201, link.json()
    client.post(f"/api/v1/share-links/{link.json()['id']}/revoke/")
    assert client.delete(f"/api/v1/trace-views/{view_id}/").status_code == 204

    assert events("trace_view.create")[0].actor_key == key
    assert events("trace_view.update")[0].before == {"name": "Chat"}
    assert events("trace_view.default_set")[0].after == {"queue": None, "view": view_id}
    (share,) = events("share_link.create")
    assert share.after["trace"] == trace.pk and "key" not in share.after
    assert (share.parent_type, share.parent_id) == ("views.traceview", str(view_id))
    (revoke,) = events("share_link.revoke")
    assert revoke.before == {"revoked_at": None} and revoke.after["revoked_at"]
    assert events("trace_view.delete")[0].before["name"] == "Chat 2"


# ---------------------------------------------------------------- exports and schedules


def test_exports_and_schedules(client, project, member, key_client, events, django_capture_on_commit_callbacks):
    api = key_client(project, scopes=("read", "write"))
    with django_capture_on_commit_callbacks(execute=False):
        job = api.post("/api/v1/exports/", {"source": "spans", "format": "jsonl"}, format="json").json()
    api.post(f"/api/v1/exports/{job['id']}/cancel/")
    (create,) = events("export.create")
    assert create.actor_key == _key_of(api) and create.after["format"] == "jsonl" and create.after["status"] == "queued"
    assert events("export.cancel")[0].after == {"status": "cancelled"}

    owner = member(project, role=Role.ADMIN, username="owner")
    client.force_login(owner)
    data = {
        "project": project.pk,
        "name": "nightly",
        "source": "spans",
        "filters": "{}",
        "format": "jsonl",
        "mode": "full",
        "kind": "crontab",
        "every": "1",
        "period": "days",
        "cron": "0 3 * * *",
        "safety_lag_seconds": "300",
        "enabled": "on",
        "dataset_tag": "",
        "dataset_split": "",
    }
    assert client.post(reverse("admin:exports_exportschedule_add"), data).status_code == 302
    schedule = ExportSchedule.objects.get()
    url = reverse("admin:exports_exportschedule_change", args=[schedule.pk])
    assert client.post(url, {**data, "cron": "0 4 * * *"}).status_code == 302
    assert (
        client.post(reverse("admin:exports_exportschedule_delete", args=[schedule.pk]), {"post": "yes"}).status_code
        == 302
    )
    assert events("export_schedule.create")[0].actor_user == owner
    (update,) = events("export_schedule.update")
    assert update.before == {"cron": "0 3 * * *"} and update.after == {"cron": "0 4 * * *"}
    assert events("export_schedule.delete")[0].before["name"] == "nightly"


# ---------------------------------------------------------------- recorded in the change's transaction


def test_an_event_rolls_back_with_its_change(project, admin_member):
    from django.db import transaction

    from apps.reviews.services.score_configs import score_config_create

    with pytest.raises(RuntimeError), transaction.atomic():
        score_config_create(project=project, actor=admin_member, name="x", kind="boolean")
        raise RuntimeError
    assert not ScoreConfig.objects.exists()
    assert not AuditEvent.objects.filter(object_type="reviews.scoreconfig").exists()


def test_rule_and_system_adds_are_the_system(project):
    queue = factories.ReviewQueueFactory(project=project)
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    review_items_add(queue=queue, spans=Span.objects.filter(pk=span.pk))
    assert AuditEvent.objects.get(action="review_queue.items_add").actor_label == "system"


def test_score_config_import_records_creates_and_updates(admin_client, admin_user, project, events):
    from django.core.files.uploadedfile import SimpleUploadedFile

    factories.ScoreConfigFactory(project=project, name="thumbs", kind="boolean", description="old")
    csv_text = (
        "name,description,kind,order,min_value,max_value,options,multi_select,max_length,is_archived\n"
        "thumbs,new,boolean,0,,,[],0,,0\n"
        "tone,Friendly?,text,1,,,[],0,200,0\n"
    )
    url = reverse("admin:reviews_scoreconfig_import")
    choices = admin_client.get(url).context["form"].fields["format"].choices
    csv_index = next(str(value) for value, label in choices if str(label).lower() == "csv")
    upload = SimpleUploadedFile("configs.csv", csv_text.encode(), content_type="text/csv")
    confirm = admin_client.post(url, {"project": project.pk, "format": csv_index, "import_file": upload})
    form = confirm.context["confirm_form"]
    assert form is not None, confirm.context["result"].invalid_rows
    assert not AuditEvent.objects.filter(object_type="reviews.scoreconfig").exists()  # the dry run rolled back
    done = admin_client.post(
        reverse("admin:reviews_scoreconfig_process_import"),
        {
            "import_file_name": form.initial["import_file_name"],
            "original_file_name": "configs.csv",
            "format": form.initial["format"],
            "resource": form.initial.get("resource", ""),
            "project": project.pk,
        },
    )
    assert done.status_code == 302
    (update,) = events("score_config.update")
    assert update.actor_user == admin_user and update.before == {"description": "old"}
    assert update.after == {"description": "new"}
    (create,) = events("score_config.create")
    assert create.object_repr == "tone" and create.after["kind"] == "text"
