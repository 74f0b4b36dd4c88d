"""Many reviewers and leads at the same moment, over HTTP against a live server, on SQLite and
PostgreSQL: no 5xx, every submission stored once, counters right."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

import pytest
from django.db import connections
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from apps.projects.models import Role
from apps.queues.models import ItemStatus, ReviewItem, ReviewQueue, ReviewSkip, ReviewSubmission
from apps.queues.services import reviewing
from apps.queues.services.board import review_item_assign
from apps.queues.services.reviewing import _reserve, review_item_next
from apps.reviews.models import Score

from .conftest import make_spans

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(workers) -> list[BaseException]:
    """Start every callable at the same instant (a barrier), each in its own thread; their errors."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(fn):
        try:
            barrier.wait(timeout=30)
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return errors


def assert_counters_match_rows(queue: ReviewQueue) -> None:
    queue.refresh_from_db()
    actual = dict(ReviewItem.objects.filter(queue=queue).order_by().values_list("status").annotate(n=Count("id")))
    assert {s: actual.get(s, 0) for s in ItemStatus.values} == {
        "backlog": queue.backlog_count,
        "pending": queue.pending_count,
        "complete": queue.complete_count,
    }
    for item in ReviewItem.objects.filter(queue=queue).annotate(n=Count("submissions")):
        assert item.submission_count == item.n
        assert (item.status == ItemStatus.COMPLETE) == (item.n >= queue.reviewers_per_item) or item.n == 0


def test_reviewers_submit_skip_and_next_while_leads_add_and_move_cards(project, make_queue, member, http_as):
    """8 reviewers × (20 submissions + 5 skips) at once, half through the API and half through the
    admin review page; meanwhile 4 leads add the same 40 spans (API and admin action) and one lead
    moves cards on the board."""
    queue = make_queue(120, reviewers_per_item=2)
    reviewers = [member(project) for _ in range(8)]
    leads = [member(project, role=Role.ADMIN) for _ in range(5)]
    # Cards the board lead moves: assigned to someone outside the run, so "next" never offers them.
    outsider = member(project)
    moved = list(ReviewItem.objects.filter(queue=queue).order_by("-id")[:10])
    for item in moved:
        review_item_assign(item=item, assignee=outsider, user=leads[0])
    extra = make_spans(project, 40, prefix="late")
    extra_ids = [s.span_id for s in extra]
    statuses: list[tuple[str, int]] = []
    record = threading.Lock()
    done: Counter = Counter()

    def log(what: str, response):
        with record:
            statuses.append((what, response.status_code))
        assert response.status_code < 500, f"{what} answered {response.status_code}"
        return response

    api = f"/api/v1/review-queues/{queue.pk}"

    def reviewer(user, via_admin: bool):
        http = http_as(user)

        def work():
            item = log("next", http.post(f"{api}/next/")).json()["item"]
            for i in range(25):
                assert item is not None, f"{user} ran out of items after {i}"
                if i % 5 == 4:
                    item = log("skip", http.post(f"{api}/items/{item['id']}/skip/")).json()["next"]
                    with record:
                        done["skip", user.pk] += 1
                    continue
                body = {"scores": {"correct": i % 2 == 0, "quality": i % 10}, "comment": f"{user} {i}"}
                if via_admin:
                    log(
                        "admin submit",
                        http.post(
                            reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item["id"]]), json=body
                        ),
                    )
                    nxt = log("next", http.post(f"{api}/next/")).json()["item"]
                else:
                    nxt = log("submit", http.post(f"{api}/items/{item['id']}/submit/", json=body)).json()["next"]
                with record:
                    done["submit", user.pk] += 1
                item = nxt

        return work

    def lead_api(user):
        http = http_as(user)
        return lambda: log("add api", http.post(f"{api}/items/", json={"span_ids": extra_ids}))

    def lead_admin_action(user):
        http = http_as(user)
        pks = [str(s.pk) for s in extra]

        def work():
            log(
                "add action",
                http.post(
                    reverse("admin:traces_span_changelist"),
                    data={
                        "action": "add_spans_to_review_queue",
                        "_selected_action": pks,
                        "queue": str(queue.pk),
                        "csrfmiddlewaretoken": http.headers["X-CSRFToken"],
                    },
                ),
            )

        return work

    def board_lead(user):
        http = http_as(user)

        def work():
            for round_ in range(6):
                for item in moved:
                    status = ItemStatus.PENDING if round_ % 2 == 0 else ItemStatus.BACKLOG
                    log("move", http.patch(f"{api}/items/{item.pk}/", json={"status": status}))

        return work

    workers = [reviewer(u, via_admin=n % 2 == 1) for n, u in enumerate(reviewers)]
    workers += [
        lead_api(leads[0]),
        lead_api(leads[1]),
        lead_admin_action(leads[2]),
        lead_admin_action(leads[3]),
        board_lead(leads[4]),
    ]
    errors = run_together(workers)

    assert not errors, errors
    bad = [(what, code) for what, code in statuses if code >= 400 and not (what == "add action" and code == 302)]
    assert not bad, Counter(bad)
    assert Counter(what for what, _ in statuses)["move"] == 60
    # Every submission stored once, with its scores; every skip once.
    assert ReviewSubmission.objects.filter(item__queue=queue).count() == 8 * 20
    for user in reviewers:
        assert (
            ReviewSubmission.objects.filter(item__queue=queue, reviewer=user).count() == 20 == done["submit", user.pk]
        )
        assert ReviewSkip.objects.filter(item__queue=queue, reviewer=user).count() == 5
        assert Score.objects.filter(author=user, config__name="quality").count() == 20
    # The 40 spans were added once each, whoever got there first.
    assert ReviewItem.objects.filter(queue=queue).count() == 160
    assert ReviewItem.objects.filter(queue=queue, span__span_id__in=extra_ids).count() == 40
    # The moved cards ended where the last move put them.
    assert set(ReviewItem.objects.filter(pk__in=[i.pk for i in moved]).values_list("status", flat=True)) == {
        ItemStatus.BACKLOG
    }
    assert_counters_match_rows(queue)
    queue.refresh_from_db()
    assert queue.complete_count == ReviewItem.objects.filter(queue=queue, submission_count__gte=2).count()


def test_reviewers_calling_next_at_once_get_distinct_items(project, make_queue, member, http_as):
    queue = make_queue(20)
    users = [member(project) for _ in range(8)]
    clients = {u.pk: http_as(u) for u in users}
    got: dict[int, list[int]] = {u.pk: [] for u in users}
    codes: list[int] = []

    def ask(user):
        def work():
            for _ in range(2):  # the second call resumes the same reservation
                r = clients[user.pk].post(f"/api/v1/review-queues/{queue.pk}/next/")
                codes.append(r.status_code)
                got[user.pk].append(r.json()["item"]["id"])

        return work

    errors = run_together([ask(u) for u in users])
    assert not errors, errors
    assert set(codes) == {200}
    assert all(len(set(ids)) == 1 for ids in got.values())
    assert len({ids[0] for ids in got.values()}) == len(users)
    reserved = ReviewItem.objects.filter(queue=queue, reserved_by__isnull=False, reserved_until__gt=timezone.now())
    assert reserved.count() == len(users)
    queue.refresh_from_db()
    assert queue.pending_count == len(users) and queue.backlog_count == 12


def test_leads_adding_the_same_spans_at_once_add_each_once(project, make_queue, member, http_as):
    queue = make_queue(0)
    spans = make_spans(project, 50, prefix="same")
    ids = [s.span_id for s in spans]
    clients = [http_as(member(project, role=Role.ADMIN)) for _ in range(4)]
    answers: list = []

    def add(http):
        def work():
            for _ in range(3):
                answers.append(http.post(f"/api/v1/review-queues/{queue.pk}/items/", json={"span_ids": ids}))

        return work

    errors = run_together([add(c) for c in clients])
    assert not errors, errors
    assert [r.status_code for r in answers] == [200] * 12
    assert sum(r.json()["added"] for r in answers) == 50
    assert all(r.json()["added"] + r.json()["already_queued"] == 50 for r in answers)
    assert ReviewItem.objects.filter(queue=queue).count() == 50
    queue.refresh_from_db()
    assert queue.backlog_count == 50 and queue.item_count == 50


def test_one_reviewer_double_submitting_stores_one_submission(project, make_queue, member, http_as):
    """A double-click (or a retry) sends the same submit several times at once."""
    queue = make_queue(1, reviewers_per_item=2)
    user = member(project)
    clients = [http_as(user) for _ in range(4)]
    item = queue.items.get()
    codes: list[int] = []

    def submit(http):
        return lambda: codes.append(
            http.post(
                f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/submit/", json={"scores": {"quality": 3}}
            ).status_code
        )

    errors = run_together([submit(c) for c in clients])
    assert not errors, errors
    assert codes == [200] * 4
    assert ReviewSubmission.objects.filter(item=item).count() == 1
    assert Score.objects.filter(span=item.span, author=user).count() == 1
    item.refresh_from_db()
    assert item.submission_count == 1 and item.status == ItemStatus.PENDING
    assert_counters_match_rows(queue)


def test_reservation_compare_and_set(project, make_queue, member):
    """The conditional UPDATE that SQLite's loop relies on: a live reservation cannot be taken over."""
    queue = make_queue(1)
    alice, bob = member(project), member(project)
    item = queue.items.get()
    now = timezone.now()
    assert _reserve(item.pk, "backlog", queue, alice, now) is True
    assert _reserve(item.pk, "pending", queue, bob, now) is False
    assert _reserve(item.pk, "backlog", queue, bob, now) is False  # status moved on
    item.refresh_from_db()
    assert item.reserved_by == alice


@pytest.mark.postgres  # on SQLite, BEGIN IMMEDIATE runs the two reservations one after the other
def test_two_reviewers_reserving_at_the_same_instant_get_different_items(project, make_queue, member, monkeypatch):
    """Both reviewers have read the first free item before either writes its reservation (a barrier
    between the read and the write): the row lock (skip locked) and the compare-and-set still hand
    them two different items."""
    queue = make_queue(3)
    alice, bob = member(project), member(project)
    between_read_and_write = threading.Barrier(2)
    reserve = _reserve

    def reserve_after_both_read(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            between_read_and_write.wait(timeout=5)
        return reserve(*args, **kwargs)

    monkeypatch.setattr(reviewing, "_reserve", reserve_after_both_read)
    got: dict[str, int] = {}

    def take(name, user):
        def work():
            try:
                got[name] = review_item_next(queue=queue, user=user).pk
            finally:
                connections.close_all()

        return work

    assert run_together([take("alice", alice), take("bob", bob)]) == []
    assert got["alice"] != got["bob"]
    reserved = dict(ReviewItem.objects.filter(queue=queue, reserved_by__isnull=False).values_list("pk", "reserved_by"))
    assert reserved == {got["alice"]: alice.pk, got["bob"]: bob.pk}
    assert_counters_match_rows(queue)
