"""Server-side time per item (apps/queues/timing.py): from the reservation taken when the item is shown
to the submission, kept when the reviewer re-opens the item, absent without a reservation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.queues.models import ReviewSubmission
from apps.queues.services.reviewing import review_item_next, review_item_open, review_item_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """`timezone.now()` under the test's control (the services and auto_now fields all read it)."""
    state = {"now": timezone.now().replace(microsecond=0)}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])

    def advance(seconds: float):
        state["now"] += timedelta(seconds=seconds)
        return state["now"]

    advance.start = state["now"]
    return advance


def test_open_to_submit_through_the_review_page(project, make_queue, member, clock):
    queue = make_queue(1)
    alice = member(project)
    client = Client()
    client.force_login(alice)
    start = clock.start
    item = queue.items.get()
    page = reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, item.pk])
    assert client.get(page).status_code == 200  # shown: the reservation (and the clock) starts
    clock(40)
    assert client.post(reverse("admin:queues_reviewqueue_review_open", args=[queue.pk, item.pk])).status_code == 200
    clock(50)  # re-opened while still reserved: the clock keeps its start
    res = client.post(
        reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]) + "?html=0",
        '{"scores": {"tone": "kind"}}',
        content_type="application/json",
    )
    assert res.status_code == 200, res.content
    sub = ReviewSubmission.objects.get(item=item, reviewer=alice)
    assert sub.opened_at == start and sub.seconds_open == 90


def test_an_expired_reservation_taken_again_starts_a_new_clock(project, make_queue, member, clock):
    queue = make_queue(1, reservation_minutes=1)
    alice = member(project)
    item = review_item_next(queue=queue, user=alice)
    clock(600)  # the reservation lapsed; opening again takes a new one
    review_item_open(item=item, user=alice)
    clock(25)
    review_item_submit(item=item, user=alice, scores={"tone": "kind"})
    assert ReviewSubmission.objects.get(item=item).seconds_open == 25


def test_no_time_without_the_reviewers_reservation(project, make_queue, member, clock):
    """Submitted through the API without `next` (nothing reserved): no time rather than a made-up one."""
    queue = make_queue(1)
    alice = member(project)
    review_item_submit(item=queue.items.get(), user=alice, scores={"tone": "kind"})
    sub = ReviewSubmission.objects.get()
    assert sub.opened_at is None and sub.seconds_open is None


def test_second_reviewer_gets_their_own_clock(project, make_queue, member, clock):
    queue = make_queue(1, reviewers_per_item=2)
    alice, bob = member(project), member(project)
    item = review_item_next(queue=queue, user=alice)
    clock(30)
    review_item_submit(item=item, user=alice, scores={"tone": "kind"})
    clock(100)
    assert review_item_next(queue=queue, user=bob).pk == item.pk
    clock(12)
    review_item_submit(item=item, user=bob, scores={"tone": "rude"})
    times = dict(ReviewSubmission.objects.values_list("reviewer__username", "seconds_open"))
    assert times == {alice.username: 30, bob.username: 12}
