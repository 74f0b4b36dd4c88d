"""The Disagreements list, the adjudication screen and its save endpoint, the trace page's Gold panel and
the analytics figures, through the admin."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.projects.models import Role
from apps.queues.adjudication import item_adjudicate
from apps.queues.models import GoldValue, ItemStatus, ReviewItem

from .gold_world import disputed

pytestmark = pytest.mark.django_db


def test_list_shows_values_side_by_side_escaped_with_links(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    item.span.trace.input_preview = "<script>alert(1)</script>"
    item.span.trace.save()
    res = client_as(user=w.lead).get(reverse("admin:queues_reviewqueue_disagreements", args=[w.queue.pk]))
    html = res.content.decode()
    assert res.status_code == 200
    assert f'data-item="{item.pk}" data-config="tone"' in html and f'data-item="{w.items[1].pk}"' not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert reverse("admin:queues_reviewqueue_adjudicate", args=[w.queue.pk, item.pk]) in html
    # A reviewer reads the list (not blind) but gets no Adjudicate button.
    html = (
        client_as(user=w.alice)
        .get(reverse("admin:queues_reviewqueue_disagreements", args=[w.queue.pk]))
        .content.decode()
    )
    assert 'data-config="tone"' in html and "Adjudicate</a>" not in html
    for name in ("board", "analytics"):
        page = (
            client_as(user=w.lead).get(reverse(f"admin:queues_reviewqueue_{name}", args=[w.queue.pk])).content.decode()
        )
        assert reverse("admin:queues_reviewqueue_disagreements", args=[w.queue.pk]) in page


def test_adjudication_screen_saves_and_points_to_the_next_disagreement(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    url = reverse("admin:queues_reviewqueue_adjudicate", args=[w.queue.pk, w.items[0].pk])
    client = client_as(user=w.lead)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<kbd>1</kbd> alice" in html and "<kbd>2</kbd> bob" in html and 'data-config="expected"' in html
    assert "<script>" not in html.split("</head>")[1].replace('<script id="assay-adjudication-state"', "")
    res = client.post(
        url,
        json.dumps({"scores": {"tone": {"from": w.bob.pk}}, "expected": {"from": w.alice.pk}, "note": "n"}),
        content_type="application/json",
    )
    assert res.status_code == 200, res.content
    assert res.json()["next_url"] == reverse("admin:queues_reviewqueue_adjudicate", args=[w.queue.pk, w.items[2].pk])
    assert set(GoldValue.objects.values_list("label", flat=True)) == {"rude", ""}
    bad = client.post(
        url, json.dumps({"scores": {"tone": {"value": "furious"}}, "bogus": 1}), content_type="application/json"
    )
    assert bad.status_code == 400 and "bogus" in bad.json()["fields"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER])
def test_adjudication_screen_refuses_below_curator(client_as, project, configs, make_queue, member, role):
    w = disputed(project, configs, make_queue, member)
    user = w.alice if role == Role.REVIEWER else member(project, role, "watcher")
    url = reverse("admin:queues_reviewqueue_adjudicate", args=[w.queue.pk, w.items[0].pk])
    assert client_as(user=user).get(url).status_code == 403
    res = client_as(user=user).post(
        url, json.dumps({"scores": {"tone": {"from": w.bob.pk}}}), content_type="application/json"
    )
    assert res.status_code == 403
    assert not GoldValue.objects.exists()


def test_another_projects_screens_answer_like_missing_ones(
    client_as, project, other_project, configs, make_queue, member
):
    w = disputed(project, configs, make_queue, member)
    stranger = client_as(user=member(other_project, Role.ADMIN, "stranger"))
    for name, args in (("disagreements", [w.queue.pk]), ("adjudicate", [w.queue.pk, w.items[0].pk])):
        hidden = stranger.get(reverse(f"admin:queues_reviewqueue_{name}", args=args))
        missing = stranger.get(reverse(f"admin:queues_reviewqueue_{name}", args=[999_999] * len(args)))
        assert hidden.status_code == missing.status_code == 404
    stranger.post(
        reverse("admin:queues_reviewqueue_adjudicate", args=[w.queue.pk, w.items[0].pk]),
        json.dumps({"scores": {"tone": {"from": w.bob.pk}}}),
        content_type="application/json",
    )
    assert not GoldValue.objects.exists()


def test_trace_page_shows_gold_except_to_a_blinded_reviewer(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member, blind=True)
    item = w.items[0]
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"value": "neutral"}}, note="<b>both wrong</b>")
    url = reverse("admin:traces_trace_change", args=[item.span.trace_id]) + f"?span={item.span.span_id}"
    html = client_as(user=w.alice).get(url).content.decode()
    assert 'data-gold="tone"' in html and "&lt;b&gt;both wrong&lt;/b&gt;" in html
    ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.PENDING)  # reopened: blind again
    carol = member(project, Role.REVIEWER, "carol")
    html = client_as(user=carol).get(url).content.decode()
    assert "data-gold-panel" not in html and "both wrong" not in html
    assert 'data-gold="tone"' in client_as(user=w.lead).get(url).content.decode()


def test_analytics_say_how_many_items_were_adjudicated(client_as, project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item_adjudicate(actor=w.lead, item=w.items[2], decisions={"tone": {"from": w.alice.pk}})
    res = client_as(user=w.lead).get(reverse("admin:queues_reviewqueue_analytics", args=[w.queue.pk]))
    assert res.context["disagreements"] == {"scanned": 3, "disagreeing": 2, "open": 1, "adjudicated": 1}
    tone = next(a for a in res.context["agreement"] if a["config"] == "tone")
    assert tone["adjudicated"] == 1
    html = res.content.decode()
    assert "1 item adjudicated" in html and "data-adjudicated>1<" in html
    api = Client()
    api.force_login(w.lead)
    body = api.get(f"/api/v1/review-queues/{w.queue.pk}/analytics/").json()
    assert body["disagreements"]["adjudicated"] == 1
