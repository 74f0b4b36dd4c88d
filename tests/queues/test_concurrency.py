"""Two (and more) reviewers asking for "next" at the same moment get different items."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from apps.queues import services
from apps.queues.models import ReviewItem


@pytest.mark.postgres
def test_concurrent_next_gives_distinct_items(transactional_db, project, make_queue, member):
    if connection.vendor != "postgresql":
        pytest.skip("threads with their own connections need PostgreSQL (SQLite serialises writers)")
    queue = make_queue(20)
    users = [member(project) for _ in range(8)]
    barrier = threading.Barrier(len(users))
    got: dict[int, int | None] = {}
    errors: list[BaseException] = []

    def ask(user):
        try:
            barrier.wait(timeout=10)
            for _ in range(2):  # the second call must resume the same reservation
                item = services.review_item_next(queue=queue, user=user)
                if user.pk in got:
                    assert got[user.pk] == item.pk
                got[user.pk] = item.pk
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(set(got.values())) == len(users)
    reserved = ReviewItem.objects.filter(queue=queue, reserved_by__isnull=False)
    assert reserved.count() == len(users)
    queue.refresh_from_db()
    assert queue.pending_count == len(users) and queue.backlog_count == 12


@pytest.mark.django_db
def test_reservation_compare_and_set(project, make_queue, member):
    """The conditional UPDATE that SQLite's loop relies on: a live reservation cannot be taken over."""
    queue = make_queue(1)
    alice, bob = member(project), member(project)
    item = queue.items.get()
    now = timezone.now()
    assert services._reserve(item.pk, "backlog", queue, alice, now) is True
    assert services._reserve(item.pk, "pending", queue, bob, now) is False
    assert services._reserve(item.pk, "backlog", queue, bob, now) is False  # status moved on
    item.refresh_from_db()
    assert item.reserved_by == alice
