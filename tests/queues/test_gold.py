"""Gold questions (apps/queues/gold_stream.py, gold_questions.py): mixed into each reviewer's stream at the
queue's rate, never twice to one reviewer, indistinguishable on the review page and in the API,
outside the queue's counters; marked and imported by leads only."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.exceptions import ApplicationError
from apps.projects.models import Role
from apps.queues import gold_questions, gold_stream
from apps.queues.models import GoldSource, GoldValue, ItemStatus, ReviewItem
from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_update
from apps.queues.services.reviewing import review_item_next, review_item_peek, review_item_skip, review_item_submit

from .conftest import make_spans

pytestmark = pytest.mark.django_db


def _import(queue, lead, items, answers=None):
    return gold_questions.gold_questions_import(
        queue=queue,
        actor=lead,
        questions=[{"span_id": i.span.span_id, "answers": answers or {"tone": "kind"}} for i in items],
    )


def _add(queue, n, prefix):
    spans = make_spans(queue.project, n, prefix=prefix)
    review_items_add(queue=queue, spans=queue.project.spans.filter(pk__in=[s.pk for s in spans]))
    queue.refresh_from_db()


def test_the_schedule_keeps_the_gold_count_within_one_of_the_rate():
    """The rule alone, over 10,000 positions and several rates: g never strays a whole item from rate·n."""
    for rate in (0.05, 0.1, 0.25, 0.5):
        g = 0
        for n in range(10_000):
            if gold_stream.gold_is_due(rate=rate, served=n, gold_served=g, queue_id=7, user_id=3):
                g += 1
            assert abs(g - rate * (n + 1)) < 1, (rate, n, g)
    assert not gold_stream.gold_is_due(rate=0.0, served=5, gold_served=0, queue_id=1, user_id=1)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gold_mixed_in_at_the_rate_and_never_twice(project, make_queue, member, rate):
    """Two reviewers work 60 items each of a queue of 80 normal items and 40 gold questions: after every
    item the gold share is within one item of the rate; nobody gets a gold question twice; the prefetch
    (peek) offers exactly what next then reserves."""
    queue = make_queue(80, reviewers_per_item=2)
    lead = member(project, Role.CURATOR)
    _add(queue, 40, "g")
    golds = list(queue.items.order_by("-id")[:40])
    _import(queue, lead, golds)
    review_queue_update(queue=queue, gold_question_rate=rate)
    gold_ids = {i.pk for i in golds}
    for reviewer in (member(project), member(project)):
        seen, g = [], 0
        for n in range(60):
            peeked = review_item_peek(queue=queue, user=reviewer)
            item = review_item_next(queue=queue, user=reviewer)
            assert peeked is not None and item is not None and peeked.pk == item.pk, n
            assert item.pk not in seen
            seen.append(item.pk)
            g += item.pk in gold_ids
            assert abs(g - rate * (n + 1)) < 1, (n, g)
            review_item_submit(item=item, user=reviewer, scores={"tone": "kind"})
        assert g == round(rate * 60)
    queue.refresh_from_db()
    # Gold questions are outside the counters and never complete.
    assert queue.item_count == 80
    assert not ReviewItem.objects.filter(pk__in=gold_ids).exclude(status=ItemStatus.PENDING).exists()


def test_no_gold_question_without_normal_work_left(project, make_queue, member):
    queue = make_queue(1)
    lead = member(project, Role.CURATOR)
    _add(queue, 3, "g")
    _import(queue, lead, list(queue.items.order_by("-id")[:3]))
    review_queue_update(queue=queue, gold_question_rate=0.5)
    reviewer = member(project)
    served = []
    while (item := review_item_next(queue=queue, user=reviewer)) is not None:
        served.append(item.is_gold_question)
        review_item_submit(item=item, user=reviewer, scores={"tone": "kind"})
    assert served.count(False) == 1 and served[-1] is False  # the stream ends with the last real item


def test_left_for_you_drops_by_one_for_every_item(project, make_queue, member):
    """Gold question or not, finishing an item lowers "left for you" by one (until the very end)."""
    queue = make_queue(30)
    lead = member(project, Role.CURATOR)
    _add(queue, 20, "g")
    _import(queue, lead, list(queue.items.order_by("-id")[:20]))
    review_queue_update(queue=queue, gold_question_rate=0.25)
    from apps.queues.selectors import queue_progress

    reviewer = member(project)
    queue.refresh_from_db()
    left = queue_progress(queue=queue, user=reviewer)["left_for_you"]
    assert left == 40  # 30 real items and 10 gold questions (30 / 0.75 = 40)
    drops = []
    for _ in range(20):
        item = review_item_next(queue=queue, user=reviewer)
        review_item_submit(item=item, user=reviewer, scores={"tone": "kind"})
        queue.refresh_from_db()
        now = queue_progress(queue=queue, user=reviewer)["left_for_you"]
        drops.append(left - now)
        left = now
    assert drops == [1] * 20


class _Shape(HTMLParser):
    """The tags and attribute names of a page, without text or attribute values."""

    def __init__(self):
        super().__init__()
        self.shape = []

    def handle_starttag(self, tag, attrs):
        self.shape.append((tag, tuple(sorted(name for name, _ in attrs))))


def _shape(html: str):
    parser = _Shape()
    parser.feed(html)
    return parser.shape


def test_gold_questions_look_like_any_item(project, make_queue, member):
    """A gold question someone answered and adjudicated, and a fresh item: the review page, the item's
    data JSON and the API have the same structure, and nobody's answer shows on the gold question."""
    queue = make_queue(2, reviewers_per_item=1)
    lead, earlier, reviewer = member(project, Role.CURATOR), member(project), member(project)
    gold_item, normal_item = list(queue.items.order_by("id"))
    review_item_submit(item=gold_item, user=earlier, scores={"tone": "rude"}, comment="earlier answer")
    _import(queue, lead, [gold_item], {"tone": "rude"})
    for item in (gold_item, normal_item):  # the same trace content, so only structure could differ
        item.span.input = {"q": "same"}
        item.span.save()
    client = Client()
    client.force_login(reviewer)
    pages, data = {}, {}
    for item in (gold_item, normal_item):
        res = client.get(reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, item.pk]))
        assert res.status_code == 200
        pages[item.pk] = res.content.decode()
        data[item.pk] = client.get(reverse("admin:queues_reviewqueue_review_data", args=[queue.pk, item.pk])).json()
    assert _shape(pages[gold_item.pk]) == _shape(pages[normal_item.pk])
    assert "earlier answer" not in pages[gold_item.pk] and "gold" not in pages[gold_item.pk].lower()
    assert data[gold_item.pk].keys() == data[normal_item.pk].keys()
    assert data[gold_item.pk]["state"] == data[normal_item.pk]["state"]
    assert _shape(data[gold_item.pk]["html"]) == _shape(data[normal_item.pk]["html"])
    api = APIClient()
    api.force_login(reviewer)
    g = api.get(f"/api/v1/review-queues/{queue.pk}/items/{gold_item.pk}/").json()
    n = api.get(f"/api/v1/review-queues/{queue.pk}/items/{normal_item.pk}/").json()
    assert g.keys() == n.keys() and g["scores"] == [] and g["submissions"] == []
    assert not re.search(r"gold", json.dumps(g), re.I)


def test_mark_from_adjudicated_values(project, make_queue, member):
    queue = make_queue(3, reviewers_per_item=1)
    lead = member(project, Role.CURATOR)
    items = list(queue.items.order_by("id"))
    review_item_submit(item=items[0], user=member(project), scores={"tone": "kind"})
    from django.utils import timezone

    tone = queue.score_configs.get(name="tone")
    GoldValue.objects.create(project=project, item=items[0], config=tone, label="kind", decided_at=timezone.now())
    queue.refresh_from_db()
    assert queue.complete_count == 1
    client = Client()
    client.force_login(lead)
    url = reverse("admin:queues_reviewqueue_gold_questions", args=[queue.pk])
    assert f'data-item="{items[0].pk}"' in client.get(url).content.decode()
    res = client.post(url, {"op": "mark", "item": [items[0].pk, items[1].pk]})
    assert res.status_code == 302
    items[0].refresh_from_db()
    items[1].refresh_from_db()
    assert items[0].is_gold_question and items[0].status == ItemStatus.PENDING
    assert not items[1].is_gold_question  # no gold values: left as it was
    assert GoldValue.objects.get(item=items[0]).source == GoldSource.KNOWN_ANSWER
    queue.refresh_from_db()
    assert (queue.complete_count, queue.item_count) == (0, 2)
    client.post(url, {"op": "unmark", "item": [items[0].pk]})
    items[0].refresh_from_db()
    queue.refresh_from_db()
    assert not items[0].is_gold_question and items[0].status == ItemStatus.COMPLETE and queue.complete_count == 1


def test_marking_needs_a_lead(project, make_queue, member):
    queue = make_queue(1)
    reviewer = member(project)
    item = queue.items.get()
    with pytest.raises(ApplicationError) as refused:
        gold_questions.gold_questions_mark(queue=queue, item_ids=[item.pk], actor=reviewer)
    assert refused.value.status == 403
    client = Client()
    client.force_login(reviewer)
    url = reverse("admin:queues_reviewqueue_gold_questions", args=[queue.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"op": "mark", "item": [item.pk]}).status_code == 403
    api = APIClient()
    api.force_login(reviewer)
    assert api.get(f"/api/v1/review-queues/{queue.pk}/gold-questions/").status_code == 403
    body = {"questions": [{"span_id": item.span.span_id, "answers": {"tone": "kind"}}]}
    assert api.post(f"/api/v1/review-queues/{queue.pk}/gold-questions/", body, format="json").status_code == 403
    item.refresh_from_db()
    assert not item.is_gold_question


def test_import_through_the_api_validates_like_scores(project, make_queue, member, other_project):
    queue = make_queue(1)
    api = APIClient()
    api.force_login(member(project, Role.CURATOR))
    url = f"/api/v1/review-queues/{queue.pk}/gold-questions/"
    fresh = make_spans(project, 1, prefix="fresh")[0]  # not in the queue yet: added
    elsewhere = make_spans(other_project, 1, prefix="else")[0]
    bad = api.post(
        url,
        {"questions": [{"span_id": fresh.span_id, "answers": {"tone": "furious", "quality": 11, "nope": 1}}]},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {
        "questions[0].answers.tone",
        "questions[0].answers.quality",
        "questions[0].answers.nope",
    }
    other = api.post(url, {"questions": [{"span_id": elsewhere.span_id, "answers": {"tone": "kind"}}]}, format="json")
    assert other.status_code == 400 and not ReviewItem.objects.filter(span=elsewhere).exists()
    ok = api.post(
        url,
        {"questions": [{"span_id": fresh.span_id, "answers": {"tone": "kind", "quality": 7, "correct": True}}]},
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["added_to_queue"] == 1
    listed = api.get(url).json()["results"]
    assert listed[0]["span_id"] == fresh.span_id
    assert listed[0]["known_answers"] == {"correct": "yes", "tone": "kind", "quality": "7"}


def test_a_queue_without_gold_mixing_pays_no_query_for_it(project, make_queue, member):
    """Rate 0: next and peek run exactly the queries they did before gold questions existed; with a
    rate, the schedule costs one counting query and the "normal work left" check."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(queue, user):
        with CaptureQueriesContext(connection) as peek:
            review_item_peek(queue=queue, user=user)
        with CaptureQueriesContext(connection) as nxt:
            item = review_item_next(queue=queue, user=user)
        review_item_submit(item=item, user=user, scores={"tone": "kind"})
        return len(peek), len(nxt)

    plain = make_queue(5, name="plain")
    mixed = make_queue(5, name="mixed")
    _add(mixed, 3, "g")
    _import(mixed, member(project, Role.CURATOR), list(mixed.items.order_by("-id")[:3]))
    mixed.refresh_from_db()
    reviewer = member(project)
    assert cost(mixed, reviewer) == cost(plain, reviewer)
    review_queue_update(queue=mixed, gold_question_rate=0.5)
    peek_plain, next_plain = cost(plain, reviewer)
    peek_mixed, next_mixed = cost(mixed, reviewer)
    assert peek_mixed - peek_plain <= 2 and next_mixed - next_plain <= 3


def test_known_answers_hidden_from_a_reviewer_until_they_answer_and_skips(project, make_queue, member):
    from apps.queues.gold import item_gold_visible, span_gold_visible

    queue = make_queue(3)
    lead, alice, bob = member(project, Role.CURATOR), member(project), member(project)
    gold_item = queue.items.order_by("id").first()
    _import(queue, lead, [gold_item], {"tone": "rude"})
    assert item_gold_visible(gold_item, alice) == [] and span_gold_visible([gold_item.span_id], alice) == {}
    assert item_gold_visible(gold_item, lead)
    review_item_submit(item=gold_item, user=alice, scores={"tone": "kind"})
    assert item_gold_visible(gold_item, alice)  # after their answer, as in a blind queue
    review_item_skip(item=gold_item, user=bob)
    gold_item.refresh_from_db()
    assert gold_item.status == ItemStatus.PENDING and gold_item.is_gold_question
    review_queue_update(queue=queue, gold_question_rate=1.0)
    served = {review_item_next(queue=queue, user=bob).pk}
    assert gold_item.pk not in served  # skipped: never offered to bob again
