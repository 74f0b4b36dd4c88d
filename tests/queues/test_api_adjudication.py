"""`/api/v1/review-queues/{id}/disagreements/` and `…/items/{item_id}/adjudication/`."""

from __future__ import annotations

import pytest

from apps.projects.models import Role
from apps.queues.models import GoldValue

from .gold_world import disputed

pytestmark = pytest.mark.django_db


def _url(w, item=None):
    base = f"/api/v1/review-queues/{w.queue.pk}/"
    return base + "disagreements/" if item is None else base + f"items/{item.pk}/adjudication/"


def test_disagreements_list_each_reviewers_values_side_by_side(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    res = client_as(user=w.lead).get(_url(w))
    assert res.status_code == 200, res.json()
    body = res.json()
    assert [r["item"] for r in body["results"]] == [w.items[0].pk, w.items[2].pk]
    first = body["results"][0]
    assert [r["username"] for r in first["reviewers"]] == ["alice", "bob"]
    tone = next(c for c in first["configs"] if c["config"] == "tone")
    assert [(v["reviewer"]["username"], v["value"]) for v in tone["values"]] == [("alice", "kind"), ("bob", "rude")]
    assert {c["config"] for c in first["configs"]} == {"correct", "tone", "quality", "notes", "expected"}
    res = client_as(user=w.lead).get(_url(w), {"limit": 1})
    assert len(res.json()["results"]) == 1 and res.json()["next_after"] == w.items[0].pk
    res = client_as(user=w.lead).get(_url(w), {"state": "bogus", "limit": 0})
    assert res.status_code == 400 and set(res.json()["fields"]) == {"state", "limit"}


def test_a_lead_adjudicates_and_reads_the_gold(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    res = client_as(user=w.lead).post(
        _url(w, item),
        {
            "scores": {"tone": {"from": w.bob.pk}, "quality": {"value": 7}},
            "expected": {"value": {"answer": "30 days, with receipt"}},
            "note": "checked the policy",
        },
        format="json",
    )
    assert res.status_code == 200, res.json()
    gold = {g["config"]: g for g in res.json()["gold"]}
    assert gold["tone"]["value"] == "rude" and gold["quality"]["value"] == 7.0
    assert gold["expected"]["value"] == {"answer": "30 days, with receipt"}
    assert len(res.json()["history"]) == 3
    read = client_as(user=member(project, Role.VIEWER, "viewer")).get(_url(w, item))
    assert read.status_code == 200 and {g["config"] for g in read.json()["gold"]} == {"tone", "quality", "expected"}
    tone = next(c for c in read.json()["comparison"] if c["config"] == "tone")
    assert tone["gold"]["value"] == "rude"
    # The list's open view no longer shows the item once all its disagreements... (notes, correct remain open)
    assert w.items[0].pk in [r["item"] for r in client_as(user=w.lead).get(_url(w)).json()["results"]]


def test_bad_decisions_name_each_field(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    res = client_as(user=w.lead).post(
        _url(w, w.items[0]), {"scores": {"tone": {"value": "furious"}, "quality": {"from": 999}}}, format="json"
    )
    assert res.status_code == 400 and set(res.json()["fields"]) == {"scores.tone", "scores.quality"}
    assert not GoldValue.objects.exists()


def test_a_reviewer_is_refused_and_writes_nothing(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    res = client_as(user=w.alice).post(_url(w, w.items[0]), {"scores": {"tone": {"from": w.alice.pk}}}, format="json")
    assert res.status_code == 403 and "curator" in res.json()["error"]
    assert not GoldValue.objects.exists()


def test_keys_adjudicate_with_write_and_read_with_read(project, configs, make_queue, member, key_client):
    w = disputed(project, configs, make_queue, member)
    reader = key_client(project, scopes=("read",))
    assert reader.get(_url(w)).status_code == 200
    assert reader.post(_url(w, w.items[0]), {"scores": {"tone": {"from": "bob"}}}, format="json").status_code == 403
    writer = key_client(project, scopes=("read", "write"))
    res = writer.post(_url(w, w.items[0]), {"scores": {"tone": {"from": "bob"}}}, format="json")
    assert res.status_code == 200 and res.json()["gold"][0]["decided_by"] is None
    from apps.audit.models import AuditEvent

    assert AuditEvent.objects.get(action="adjudication.set").actor_label.startswith("key ")


def test_another_projects_queue_and_item_answer_like_missing_ones(
    client_as, project, other_project, configs, make_queue, member, key_client
):
    w = disputed(project, configs, make_queue, member)
    stranger = member(other_project, Role.ADMIN, "stranger")
    for client in (client_as(user=stranger), key_client(other_project)):
        hidden = client.get(_url(w))
        missing = client.get("/api/v1/review-queues/999999/disagreements/")
        assert hidden.status_code == missing.status_code == 404
        assert client.get(_url(w, w.items[0])).status_code == 404
        res = client.post(_url(w, w.items[0]), {"scores": {"tone": {"from": "bob"}}}, format="json")
        assert res.status_code == 404
    assert not GoldValue.objects.exists()


def test_blind_queue_hides_gold_and_disagreements_from_a_reviewer_who_has_not_submitted(
    client_as, project, configs, make_queue, member
):
    from apps.queues.adjudication import item_adjudicate
    from apps.queues.models import ItemStatus, ReviewItem

    w = disputed(project, configs, make_queue, member, blind=True)
    item = w.items[0]
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"from": w.bob.pk}})
    carol = member(project, Role.REVIEWER, "carol")
    # Reopened for a third reviewer: carol has not submitted it, so it is blind to her.
    ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.PENDING)
    assert client_as(user=carol).get(_url(w, item)).json()["gold"] == []
    assert client_as(user=carol).get(_url(w, item)).json()["comparison"] == []
    assert item.pk not in [r["item"] for r in client_as(user=carol).get(_url(w)).json()["results"]]
    span = client_as(user=carol).get(f"/api/v1/traces/{item.span.trace.trace_id}/").json()
    assert "gold" not in str(span)
    # alice submitted it: she sees it, and so does the lead.
    assert client_as(user=w.alice).get(_url(w, item)).json()["gold"][0]["value"] == "rude"
    assert client_as(user=w.lead).get(_url(w, item)).json()["gold"][0]["value"] == "rude"


def test_the_span_api_carries_gold(client_as, project, configs, make_queue, member):
    from apps.queues.adjudication import item_adjudicate

    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"from": w.bob.pk}}, expected={"from": "alice"})
    res = client_as(user=w.alice).get("/api/v1/spans/", {"trace_id": item.span.trace.trace_id})
    assert res.status_code == 200
    (span,) = [s for s in res.json()["results"] if s["span_id"] == item.span.span_id]
    assert span["gold"]["scores"] == {"tone": "rude"} and span["gold"]["expected"] == {"answer": "30 days"}


def test_queue_api_reads_and_writes_the_threshold(project, configs, make_queue, member, key_client):
    w = disputed(project, configs, make_queue, member)
    client = key_client(project, scopes=("read", "write"))
    res = client.patch(f"/api/v1/review-queues/{w.queue.pk}/", {"disagreement_threshold": 0.01}, format="json")
    assert res.status_code == 200 and res.json()["disagreement_threshold"] == 0.01
    assert (
        client.patch(f"/api/v1/review-queues/{w.queue.pk}/", {"disagreement_threshold": 2}, format="json").status_code
        == 400
    )
    assert [r["item"] for r in client.get(_url(w)).json()["results"]] == [i.pk for i in w.items]
