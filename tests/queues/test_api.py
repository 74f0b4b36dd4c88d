"""`/api/v1/review-queues/` as API clients and session users use it."""

from __future__ import annotations

import pytest

from apps.queues.models import ItemStatus, ReviewItem, ReviewQueue

from .conftest import make_spans

pytestmark = pytest.mark.django_db


def test_create_queue_and_fill_by_filter_with_a_key(project, configs, key_client):
    client = key_client(project, scopes=("read", "write"))
    res = client.post(
        "/api/v1/review-queues/",
        {
            "name": "Refunds",
            "instructions": "Be <script>x</script> **strict**",
            "score_configs": ["correct", "tone"],
            "reviewers_per_item": 2,
            "blind": True,
        },
        format="json",
    )
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["reviewers_per_item"] == 2 and body["blind"] and body["reservation_minutes"] == 10
    assert "<script>" not in body["instructions_html"] and "<strong>strict</strong>" in body["instructions_html"]
    assert [c["name"] for c in body["score_configs"]] == ["correct", "tone"]
    make_spans(project, 3, name="refund")
    make_spans(project, 2, name="other")
    url = f"/api/v1/review-queues/{body['id']}/items/"
    res = client.post(url, {"trace_filter": {"name": "refund"}}, format="json")
    assert res.json()["added"] == 3 and res.json()["progress"]["total"] == 3
    res = client.post(url, {"trace_ids": ["t-refund-0", "t-other-1", "nope"]}, format="json")
    assert res.json() | {} == {**res.json(), "added": 1, "already_queued": 1, "not_found": ["nope"]}
    res = client.get(url, {"status": "backlog"})
    assert res.status_code == 200 and len(res.json()["results"]) == 4
    assert {r["trace_name"] for r in res.json()["results"]} == {"refund", "other"}


def test_fill_by_span_ids_and_bad_input(project, configs, key_client):
    client = key_client(project, scopes=("read", "write"))
    queue_id = client.post("/api/v1/review-queues/", {"name": "Q"}, format="json").json()["id"]
    spans = make_spans(project, 2)
    url = f"/api/v1/review-queues/{queue_id}/items/"
    res = client.post(url, {"span_ids": [spans[0].span_id, spans[0].span_id]}, format="json")
    assert res.json()["added"] == 1
    res = client.post(url, {"span_filter": {"type": "bogus"}}, format="json")
    assert res.status_code == 400 and "span_filter.type" in res.json()["fields"]
    res = client.post(url, {"span_ids": "x"}, format="json")
    assert res.status_code == 400 and "span_ids" in res.json()["fields"]
    res = client.post(url, {}, format="json")
    assert res.status_code == 400
    res = client.post("/api/v1/review-queues/", {"name": "Q"}, format="json")
    assert res.status_code == 400 and "name" in res.json()["fields"]
    res = client.post("/api/v1/review-queues/", {"name": "R", "score_configs": ["missing"]}, format="json")
    assert res.status_code == 400 and "score_configs" in res.json()["fields"]
    res = client.patch(f"/api/v1/review-queues/{queue_id}/", {"reviewers_per_item": 0}, format="json")
    assert res.status_code == 400 and "reviewers_per_item" in res.json()["fields"]


def test_isolation_between_projects(project, other_project, make_queue, key_client):
    queue = make_queue(2)
    theirs = key_client(other_project, scopes=("read", "write"))
    missing = theirs.get("/api/v1/review-queues/999999/")
    for path in (
        f"/api/v1/review-queues/{queue.pk}/",
        f"/api/v1/review-queues/{queue.pk}/items/",
        f"/api/v1/review-queues/{queue.pk}/analytics/",
    ):
        res = theirs.get(path)
        assert res.status_code == 404 and res.json() == missing.json()
    item = queue.items.first()
    res = theirs.patch(f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/", {"status": "pending"}, format="json")
    assert res.status_code == 404
    assert theirs.get("/api/v1/review-queues/").json()["results"] == []
    # Their spans cannot be pushed into our queue through their key either.
    assert (
        theirs.post(f"/api/v1/review-queues/{queue.pk}/items/", {"span_ids": ["x"]}, format="json").status_code == 404
    )


def test_read_key_cannot_write(project, make_queue, key_client):
    queue = make_queue(1)
    reader = key_client(project, scopes=("read",))
    assert (
        reader.post(f"/api/v1/review-queues/{queue.pk}/items/", {"span_ids": ["x"]}, format="json").status_code == 403
    )


def test_reviewer_flow_next_submit_skip(client_as, project, make_queue, member):
    queue = make_queue(4, reviewers_per_item=1)
    bob_user = member(project)
    alice, bob = client_as(user=member(project)), client_as(user=bob_user)
    a = alice.post(f"/api/v1/review-queues/{queue.pk}/next/").json()
    b = bob.post(f"/api/v1/review-queues/{queue.pk}/next/").json()
    assert a["item"]["id"] != b["item"]["id"]
    assert a["progress"]["total"] == 4
    res = alice.post(
        f"/api/v1/review-queues/{queue.pk}/items/{a['item']['id']}/submit/",
        {"scores": {"correct": True, "tone": "kind"}, "comment": "fine"},
        format="json",
    )
    assert res.status_code == 200, res.json()
    alice_next = res.json()["next"]["id"]
    assert alice_next not in (a["item"]["id"], b["item"]["id"])
    assert res.json()["progress"]["complete"] == 1
    res = alice.post(
        f"/api/v1/review-queues/{queue.pk}/items/{b['item']['id']}/submit/",
        {"scores": {"correct": True}},
        format="json",
    )
    assert res.status_code == 409
    res = alice.post(
        f"/api/v1/review-queues/{queue.pk}/items/{res.json().get('id', a['item']['id'])}/submit/",
        {"scores": {"tone": "weird"}},
        format="json",
    )
    assert res.status_code == 400 and "scores.tone" in res.json()["fields"]
    # Skipping offers bob the one item nobody holds: not the skipped one, not alice's, not the done one.
    nxt = bob.post(f"/api/v1/review-queues/{queue.pk}/items/{b['item']['id']}/skip/").json()["next"]
    untouched = queue.items.exclude(pk__in=[a["item"]["id"], b["item"]["id"], alice_next]).get()
    assert nxt is not None and nxt["id"] == untouched.pk
    assert ReviewItem.objects.get(pk=untouched.pk).reserved_by == bob_user


def test_reviewing_needs_a_user_not_a_key(project, make_queue, key_client):
    queue = make_queue(1)
    res = key_client(project, scopes=("read", "write")).post(f"/api/v1/review-queues/{queue.pk}/next/")
    assert res.status_code == 403


def test_blind_mode_hides_others_scores_until_submitted(client_as, project, make_queue, member):
    queue = make_queue(1, reviewers_per_item=2, blind=True)
    alice_user = member(project)
    alice, bob = client_as(user=alice_user), client_as(user=member(project))
    item = alice.post(f"/api/v1/review-queues/{queue.pk}/next/").json()["item"]
    alice.post(
        f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/submit/", {"scores": {"correct": False}}, format="json"
    )
    seen = bob.post(f"/api/v1/review-queues/{queue.pk}/next/").json()["item"]
    assert seen["id"] == item["id"] and seen["scores"] == []
    assert bob.get(f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/").json()["scores"] == []
    assert bob.get(f"/api/v1/review-queues/{queue.pk}/items/").json()["results"][0]["scores"] == []
    bob.post(
        f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/submit/", {"scores": {"correct": True}}, format="json"
    )
    scores = bob.get(f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/").json()["scores"]
    assert sorted((s["author"], s["display"]) for s in scores) == sorted(
        [
            (alice_user.username, "no"),
            (scores[0]["author"] if scores[0]["author"] != alice_user.username else scores[1]["author"], "yes"),
        ]
    )
    # Not blind: the second reviewer sees the first's scores straight away.
    ReviewQueue.objects.filter(pk=queue.pk).update(blind=False)
    assert len(bob.get(f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/").json()["scores"]) == 2


def test_board_move_via_patch(client_as, project, make_queue, member):
    queue = make_queue(2)
    lead = client_as(user=member(project, role="curator"))
    reviewer_user = member(project)
    item = queue.items.order_by("id").first()
    url = f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/"
    res = lead.patch(url, {"status": "complete"}, format="json")
    assert res.status_code == 400 and "status" in res.json()["fields"]
    res = lead.patch(url, {"status": "pending", "assignee": reviewer_user.username}, format="json")
    assert res.status_code == 200
    assert res.json()["counts"] == {"backlog": 1, "pending": 1, "complete": 0}
    assert res.json()["assignee"]["username"] == reviewer_user.username
    assert ReviewItem.objects.get(pk=item.pk).status == ItemStatus.PENDING
    res = client_as(user=reviewer_user).patch(url, {"status": "backlog"}, format="json")
    assert res.status_code == 403


def test_analytics_endpoint(client_as, project, make_queue, member):
    queue = make_queue(2, reviewers_per_item=2)
    users = [member(project), member(project)]
    for user in users:
        client = client_as(user=user)
        for _ in range(2):
            item = client.post(f"/api/v1/review-queues/{queue.pk}/next/").json()["item"]
            client.post(
                f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/submit/",
                {"scores": {"correct": True, "tone": "kind", "quality": 7}},
                format="json",
            )
    data = client_as(user=users[0]).get(f"/api/v1/review-queues/{queue.pk}/analytics/").json()
    assert data["progress"]["complete"] == 2
    assert sorted(r["submitted"] for r in data["reviewers"]) == [2, 2]
    tone = next(d for d in data["distributions"] if d["config"] == "tone")
    assert tone["counts"] == [
        {"label": "rude", "count": 0},
        {"label": "neutral", "count": 0},
        {"label": "kind", "count": 4},
    ]
    correct = next(a for a in data["agreement"] if a["config"] == "correct")
    assert correct["items"] == 2 and correct["raters"] == 2


def test_queue_rule_and_fill_accept_time_range_filters_and_name_unknown_ones(project, configs, key_client):
    client = key_client(project, scopes=("read", "write"))
    res = client.post(
        "/api/v1/review-queues/",
        {
            "name": "Recent",
            "rule_enabled": True,
            "rule_target": "traces",
            "rule_filter": {"start_time_after": "2020-01-01T00:00:00Z"},
            "rule_sampling_rate": 1.0,
        },
        format="json",
    )
    assert res.status_code == 201, res.json()
    make_spans(project, 2, name="refund")
    url = f"/api/v1/review-queues/{res.json()['id']}/items/"
    res = client.post(url, {"trace_filter": {"start_time_after": "2020-01-01T00:00:00Z"}}, format="json")
    assert res.status_code == 200 and res.json()["added"] == 2
    res = client.post(url, {"trace_filter": {"colour": "red"}}, format="json")
    assert res.status_code == 400 and "trace_filter.colour" in res.json()["fields"]


def test_blind_queue_hides_others_scores_on_the_trace_api_and_trace_page(
    client_as, project, make_queue, member, client
):
    queue = make_queue(1, reviewers_per_item=2, blind=True)
    alice, bob_user = client_as(user=member(project)), member(project)
    item = alice.post(f"/api/v1/review-queues/{queue.pk}/next/").json()["item"]
    alice.post(
        f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/submit/", {"scores": {"correct": False}}, format="json"
    )
    span = ReviewItem.objects.select_related("span__trace").get(pk=item["id"]).span
    trace_url = f"/api/v1/traces/{span.trace.trace_id}/"

    def api_scores(user):
        body = client_as(user=user).get(trace_url).json()
        (node,) = [s for s in body["spans"] if s["span_id"] == span.span_id]
        return node["annotations"]["scores"]

    assert api_scores(bob_user) == []
    client.force_login(bob_user)
    page = client.get(f"/admin/traces/trace/{span.trace.pk}/change/?span={span.span_id}").content.decode()
    assert 'data-summary-config="correct"' not in page
    # A lead sees everything; so does the reviewer once they have submitted.
    assert len(api_scores(member(project, role="curator"))) == 1
    client_as(user=bob_user).post(
        f"/api/v1/review-queues/{queue.pk}/items/{item['id']}/submit/", {"scores": {"correct": True}}, format="json"
    )
    assert len(api_scores(bob_user)) == 2
    assert (
        'data-summary-config="correct"'
        in client.get(f"/admin/traces/trace/{span.trace.pk}/change/?span={span.span_id}").content.decode()
    )


def test_assign_and_unassign_through_the_items_api(client_as, project, other_project, make_queue, member):
    queue = make_queue(1)
    lead = client_as(user=member(project, role="curator"))
    alice = member(project)
    outsider = member(other_project)
    item = queue.items.first()
    url = f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/"
    res = lead.patch(url, {"assignee": alice.pk}, format="json")
    assert res.status_code == 200 and res.json()["assignee"] == {"id": alice.pk, "username": alice.username}
    mine = client_as(user=alice).get(f"/api/v1/review-queues/{queue.pk}/items/", {"assignee": "me"}).json()["results"]
    assert [i["id"] for i in mine] == [item.pk]
    res = lead.patch(url, {"assignee": outsider.username}, format="json")
    assert res.status_code == 400 and "assignee" in res.json()["fields"]
    assert ReviewItem.objects.get(pk=item.pk).assignee_id == alice.pk
    res = client_as(user=alice).patch(url, {"assignee": None}, format="json")
    assert res.status_code == 403
    res = lead.patch(url, {"assignee": None}, format="json")
    assert res.status_code == 200 and res.json()["assignee"] is None


def test_admins_edit_and_delete_a_queue_reviewers_and_other_projects_cannot(
    project, other_project, make_queue, configs, client_as, key_client
):
    queue = make_queue(2, name="Refunds")
    url = f"/api/v1/review-queues/{queue.pk}/"
    reviewer, admin = client_as("reviewer", project), client_as("admin", project)
    assert reviewer.patch(url, {"name": "Mine now"}, format="json").status_code == 403
    assert reviewer.delete(url).status_code == 403
    outsider = client_as("admin", other_project)
    assert outsider.patch(url, {"name": "Theirs"}, format="json").status_code == 404
    assert outsider.delete(url).status_code == 404

    edited = admin.patch(
        url,
        {
            "name": "Refund answers",
            "instructions": "Check **dates**",
            "reviewers_per_item": 2,
            "score_configs": ["correct"],
            "assignees": [reviewer.user.username],
        },
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    queue.refresh_from_db()
    assert (queue.name, queue.instructions, queue.reviewers_per_item) == ("Refund answers", "Check **dates**", 2)
    assert [c.name for c in queue.score_configs.all()] == ["correct"]
    assert [u.username for u in queue.assignees.all()] == [reviewer.user.username]
    assert admin.get(url).json()["name"] == "Refund answers"

    span_ids = list(queue.items.values_list("span_id", flat=True))
    assert admin.delete(url).status_code == 204
    assert not ReviewQueue.objects.filter(pk=queue.pk).exists()
    assert not ReviewItem.objects.filter(queue_id=queue.pk).exists()
    assert project.spans.filter(pk__in=span_ids).count() == 2  # the traces stay
    assert admin.get(url).status_code == 404
