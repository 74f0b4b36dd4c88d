"""The review page's action bar: the reviewer's progress, their previous and next item in their own
history of the queue (k / j), and the page state the bar's script reads."""

from __future__ import annotations

from typing import Any

from django.db.models import F, IntegerField, Subquery
from django.urls import reverse

from . import selectors
from .models import ReviewItem, ReviewQueue, ReviewSubmission
from .review_item import item_url
from .selectors import with_user_state

COUNTERS = ("backlog_count", "pending_count", "complete_count")


def history_neighbours(queue: ReviewQueue, item: ReviewItem, user) -> tuple[int | None, int | None]:
    """Previous/next in the reviewer's own history of this queue (for k / j)."""
    mine = ReviewSubmission.objects.filter(item__queue=queue, reviewer=user)
    here = mine.filter(item=item).values_list("pk", flat=True).first() if _maybe_submitted(item, user) else None
    if here is None:
        prev = mine.order_by("-id").values_list("item_id", flat=True).first()
        return prev, None
    prev = mine.filter(pk__lt=here).order_by("-id").values_list("item_id", flat=True).first()
    nxt = mine.filter(pk__gt=here).order_by("id").values_list("item_id", flat=True).first()
    return prev, nxt


def _maybe_submitted(item: ReviewItem, user) -> bool:
    return getattr(item, "_state_user_id", None) != user.pk or item._submitted


def _bar_data(queue: ReviewQueue, item: ReviewItem, user) -> tuple[dict, int | None, int | None]:
    """The progress and the history neighbours; for an item the user has not submitted, in one query."""
    if _maybe_submitted(item, user) or not user.is_authenticated:
        prev_id, next_id = history_neighbours(queue, item, user)
        return selectors.queue_progress(queue=queue, user=user), prev_id, next_id
    counts = getattr(item, "_bar_counts", None)  # read with the item (`_with_bar_counts`)
    if counts is None:
        counts = selectors.queue_user_counts(queue=queue, user=user, extra=_bar_exprs(queue, user, counters=""))
        _take_counters(queue, counts)
    progress = selectors.queue_progress(queue=queue, user=None)
    progress["left_for_you"] = max(
        queue.open_count - counts["done_open"] - counts["skipped_open"] - counts["others"], 0
    )
    if queue.gold_question_rate:
        from .gold_stream import gold_left_for_you

        progress["left_for_you"] += gold_left_for_you(queue=queue, user=user, normal_left=progress["left_for_you"])
    return progress, counts["prev_id"], None


def _bar_exprs(queue: ReviewQueue, user, *, counters: str) -> dict[str, Any]:
    """The bar's previous-in-history link and the queue's counters as they stand (a submit in this request
    moved them in the database only); `counters`: the path to the queue's row ("" or "queue__")."""
    last = ReviewSubmission.objects.filter(item__queue=queue.pk, reviewer=user).order_by("-id").values("item_id")[:1]
    return {
        "prev_id": Subquery(last, output_field=IntegerField()),
        **{f"_{name}": F(f"{counters}{name}") for name in COUNTERS},
    }


def _take_counters(queue: ReviewQueue, counts: dict) -> None:
    for name in COUNTERS:
        if counts.get(f"_{name}") is not None:
            setattr(queue, name, counts[f"_{name}"])


def with_bar_counts(queue: ReviewQueue, item_id: int, user) -> ReviewItem | None:
    """The item with the user's state and everything its action bar counts, in one query (the queue's
    counters are taken before a reservation, which `review_item_open` then applies to them)."""
    extra = {**selectors.queue_user_count_exprs(queue=queue, user=user), **_bar_exprs(queue, user, counters="queue__")}
    item = (
        with_user_state(ReviewItem.objects.filter(queue=queue, pk=item_id), user)
        .annotate(**{f"_bar_{k}": v for k, v in extra.items()})
        .first()
    )
    if item is not None:
        item.queue = queue
        item._bar_counts = {k: getattr(item, f"_bar_{k}") for k in extra}
        _take_counters(queue, item._bar_counts)
    return item


def bar_context(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    """The action bar and the page state of an item that is being shown (after its reservation)."""
    progress, prev_id, next_id = _bar_data(queue, item, request.user)
    review_url = reverse("admin:queues_reviewqueue_review", args=[queue.pk])
    return {
        "queue": queue,
        "item": item,
        "state": state,
        "progress": progress,
        "page_state": {
            "queueId": queue.pk,
            "itemId": item.pk,
            "url": item_url(queue, item.pk),
            "title": f"Review · {queue.name}",
            "submitUrl": reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]),
            "skipUrl": reverse("admin:queues_reviewqueue_review_skip", args=[queue.pk, item.pk]),
            "peekUrl": reverse("admin:queues_reviewqueue_review_peek", args=[queue.pk]),
            "itemTemplateUrl": item_url(queue, 0).replace("/0/", "/{id}/"),
            "reviewUrl": review_url,
            "nextUrl": item_url(queue, next_id)
            if next_id
            else (review_url if state["submitted"] or not state["can_submit"] else None),
            "prevUrl": item_url(queue, prev_id) if prev_id else None,
            "canSubmit": state["can_submit"],
            "submitted": state["submitted"],
            "reservedByOther": state["reserved_by_other"],
        },
    }
