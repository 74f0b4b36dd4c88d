"""The review loop's writes: reserving the next item, opening, submitting and skipping an item.

Item statuses change only through conditional updates here, and each change shifts the queue's
status counters in the same transaction, so the counters never need a COUNT over the queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.exceptions import ApplicationError, not_found
from apps.projects.permissions import can
from apps.traces.models import ReviewStatus, Span, Trace

from ..gold_stream import gold_tier_for_next, gold_tier_for_peek
from ..models import (
    OPEN_STATUSES,
    ItemStatus,
    ReviewItem,
    ReviewQueue,
    ReviewSkip,
    ReviewSubmission,
)
from ..selectors import item_reserved_by_other, review_item_state
from ..timing import reservation_start, submission_timing
from .queues import _shift

# ---------------------------------------------------------------- reviewing


def reviewer_check(*, queue: ReviewQueue, user) -> None:
    """Reviewers of the project review; a queue with assignees is reviewed by them (and project admins)."""
    if user is None or not user.is_authenticated:
        raise ApplicationError("Reviewing needs a signed-in user, not an API key.", status=403)
    if not can(user, "queue.review", queue.project):
        raise ApplicationError("This needs the reviewer role in the project.", status=403)
    # `_has_assignees` / `_user_assigned`: annotated by the admin views' queue lookup (no query here).
    has_assignees = getattr(queue, "_has_assignees", None)
    if user.is_superuser or not (queue.assignees.exists() if has_assignees is None else has_assignees):
        return
    assigned = getattr(queue, "_user_assigned", None)
    if queue.assignees.filter(pk=user.pk).exists() if assigned is None else assigned:
        return
    if can(user, "queue.manage", queue.project):
        return
    raise ApplicationError("You are not an assignee of this queue.", status=403)


def _open_q(now) -> Q:
    return Q(reserved_until__isnull=True) | Q(reserved_until__lte=now)


def _not_done_by(user) -> Q:
    return ~Q(Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=user))) & ~Q(
        Exists(ReviewSkip.objects.filter(item_id=OuterRef("pk"), reviewer=user))
    )


def _reserve(item_id: int, old_status: str, queue: ReviewQueue, user, now) -> bool:
    """Compare-and-set: take the reservation only if the item is still free and in the status we saw."""
    updated = (
        ReviewItem.objects.filter(pk=item_id, status=old_status)
        .filter(_open_q(now) | Q(reserved_by=user))
        .update(
            reserved_by=user,
            reserved_until=now + timedelta(minutes=queue.reservation_minutes),
            reserved_at=reservation_start(user, now),  # the same UPDATE: no extra write on open
            status=ItemStatus.PENDING,
            updated_at=now,
        )
    )
    if updated:
        _shift(queue.pk, old_status, ItemStatus.PENDING)
    return bool(updated)


def _reserve_first(candidates: QuerySet, queue: ReviewQueue, user, now) -> ReviewItem | None:
    candidates = candidates.order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        # Rows another reviewer is reserving right now are skipped, not waited for.
        row = candidates.select_for_update(skip_locked=True).values_list("pk", "status").first()
        if row and _reserve(row[0], row[1], queue, user, now):
            return ReviewItem.objects.get(pk=row[0])
        if row is None:
            return None
    tried: list[int] = []
    for _attempt in range(25):
        row = candidates.exclude(pk__in=tried).values_list("pk", "status").first()
        if row is None:
            return None
        if _reserve(row[0], row[1], queue, user, now):
            return ReviewItem.objects.get(pk=row[0])
        tried.append(row[0])
    return None


@transaction.atomic
def review_item_next(*, queue: ReviewQueue, user) -> ReviewItem | None:
    """Reserve the reviewer's next item: their live reservation first, then items assigned to them,
    then unassigned items, oldest first. Items they submitted or skipped are never offered again."""
    reviewer_check(queue=queue, user=user)
    now = timezone.now()
    mine = (
        ReviewItem.objects.filter(queue=queue, reserved_by=user, reserved_until__gt=now, status__in=OPEN_STATUSES)
        .filter(_not_done_by(user))
        .order_by("id")
        .first()
    )
    if mine is not None:
        return mine
    base = ReviewItem.objects.filter(queue=queue, status__in=OPEN_STATUSES, is_gold_question=False).filter(
        _open_q(now), _not_done_by(user)
    )
    tiers = (base.filter(assignee=user), base.filter(assignee__isnull=True))
    gold = gold_tier_for_next(queue=queue, user=user, now=now, normal=tiers)  # None unless one is due
    for candidates in tiers if gold is None else (gold, *tiers):
        item = _reserve_first(candidates, queue, user, now)
        if item is not None:
            return item
    return None


def review_item_peek(*, queue: ReviewQueue, user, exclude: list[int] | tuple[int, ...] = ()) -> ReviewItem | None:
    """The item `review_item_next` would offer after the ones in `exclude`, without reserving it (the review
    page prefetches it while the reviewer works; `review_item_open` reserves it when it is shown)."""
    reviewer_check(queue=queue, user=user)
    now = timezone.now()
    every = (
        ReviewItem.objects.filter(queue=queue, status__in=OPEN_STATUSES)
        .exclude(pk__in=list(exclude))
        .filter(_not_done_by(user))
        .order_by("id")
        .values("pk")
    )
    base = every.filter(is_gold_question=False)
    # One query, in review_item_next's order: their live reservation, then assigned to them, then
    # unassigned. Each is the first by id (an index walk, not a sort of every open item).
    tiers = [
        Subquery(every.filter(reserved_by=user, reserved_until__gt=now)[:1]),
        Subquery(base.filter(_open_q(now), assignee=user)[:1]),
        Subquery(base.filter(_open_q(now), assignee__isnull=True)[:1]),
    ]
    gold = gold_tier_for_peek(
        queue=queue,
        user=user,
        now=now,
        exclude=exclude,
        normal=base.filter(_open_q(now)).filter(Q(assignee=user) | Q(assignee__isnull=True)),
    )
    first = Coalesce(*(tiers if gold is None else [tiers[0], gold, *tiers[1:]]))
    item = (
        ReviewItem.objects.filter(pk=first)
        .select_related("span__trace", "span__project", "assignee", "reserved_by")
        .first()
    )
    if item is not None:  # neither submitted nor skipped by the user (`_not_done_by`), as user_item_state reads
        item._submitted, item._skipped, item._state_user_id = False, False, user.pk
    return item


def review_item_open(*, item: ReviewItem, user) -> dict[str, Any]:
    """Open an item for review: reserve it when it is free. Answers what the reviewer may do with it.

    The reservation is one compare-and-set UPDATE; a transaction holds it together with the queue's
    counters only when the status changes (a pending item's counters do not move)."""
    queue = item.queue
    reviewer_check(queue=queue, user=user)
    now = timezone.now()
    if getattr(item, "_state_user_id", None) != user.pk:  # not read just now with the user's state
        item.refresh_from_db()
    state = review_item_state(item=item, user=user, now=now)
    if state["can_submit"] and not state["submitted"] and item.status != ItemStatus.COMPLETE:
        old = item.status
        if old == ItemStatus.PENDING:
            reserved = _reserve(item.pk, old, queue, user, now)
        else:
            with transaction.atomic():
                reserved = _reserve(item.pk, old, queue, user, now)
        if reserved:  # what the compare-and-set wrote, without reading it back
            item.reserved_by, item.reserved_until = user, now + timedelta(minutes=queue.reservation_minutes)
            item.status, item.updated_at = ItemStatus.PENDING, now
            if old != ItemStatus.PENDING:
                setattr(queue, f"{old}_count", getattr(queue, f"{old}_count") - 1)
                queue.pending_count += 1
        else:  # taken by someone else since we looked: say so rather than offer it
            item.refresh_from_db()
            state = review_item_state(item=item, user=user, now=now)
    return state


def _sync_open(item: ReviewItem) -> None:
    """Keep the submissions' and skips' copy of "the item is open" (bounded by reviewers per item)."""
    is_open = item.status != ItemStatus.COMPLETE
    ReviewSubmission.objects.filter(item_id=item.pk).exclude(item_open=is_open).update(item_open=is_open)
    if getattr(item, "_has_skips", True):  # read with the item's lock by review_item_submit
        ReviewSkip.objects.filter(item_id=item.pk).exclude(item_open=is_open).update(item_open=is_open)


def _complete_traces(span_ids: list[int]) -> None:
    Trace.objects.filter(pk__in=Span.objects.filter(pk__in=span_ids).values("trace_id")).update(
        review_status=ReviewStatus.REVIEWED
    )


def _lock_for_submit(item: ReviewItem, queue: ReviewQueue, user) -> tuple[ReviewItem, bool, datetime]:
    """The item locked for a submit, whether `user` submitted it before, and the time once locked;
    refused (409) when a new submission would land on a complete item or one someone else holds."""
    span = item.span if "span" in item._state.fields_cache else None
    # Locked (only the item's row). What others wrote is read after the lock, in a statement of its own:
    # under READ COMMITTED a subquery of the locking SELECT would see the snapshot from before it waited.
    locked = ReviewItem.objects.select_for_update(of=("self",))
    if span is None:
        locked = locked.select_related("span__project")
    item = locked.filter(queue_id=queue.pk, pk=item.pk).first()
    if item is None:
        raise not_found("Item not found.")
    if span is not None:
        item.span = span  # read (with its project) by the caller in this request; spans do not move
    item.queue = queue
    now = timezone.now()
    seen = (
        ReviewItem.objects.filter(pk=item.pk)
        .values(
            already=Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=user)),
            has_skips=Exists(ReviewSkip.objects.filter(item_id=OuterRef("pk"))),
        )
        .first()
    )
    already, item._has_skips = seen["already"], seen["has_skips"]  # (_has_skips: for _sync_open)
    if not already:
        if item.status == ItemStatus.COMPLETE:
            raise ApplicationError("This item is already complete.", status=409)
        if item_reserved_by_other(item=item, user=user, now=now):
            raise ApplicationError(
                f"This item is reserved by {item.reserved_by} until {item.reserved_until:%H:%M} UTC.", status=409
            )
    return item, already, now


def _record_submission(item: ReviewItem, queue: ReviewQueue, user, now) -> ReviewItem:
    """Record a first submission: count it, complete the item at `reviewers_per_item`, release the
    reservation and shift the queue's counters."""
    ReviewSubmission.objects.create(
        item=item,
        reviewer=user,
        item_open=not item.is_gold_question,
        **submission_timing(item=item, user=user, now=now),
    )
    old = item.status
    item.submission_count += 1
    done = item.submission_count >= queue.reviewers_per_item and not item.is_gold_question  # gold: served on
    item.status = ItemStatus.COMPLETE if done else ItemStatus.PENDING
    if item.status == ItemStatus.COMPLETE:
        item.completed_at = now
        item.reserved_by = None
        item.reserved_until = None
    elif item.reserved_by_id == user.pk:
        item.reserved_by = None
        item.reserved_until = None
    item.save(
        update_fields=["submission_count", "status", "completed_at", "reserved_by", "reserved_until", "updated_at"]
    )
    _shift(queue.pk, old, item.status)
    if item.status == ItemStatus.COMPLETE:
        _sync_open(item)
        _complete_traces([item.span_id])
    return item


@transaction.atomic
def review_item_submit(
    *,
    item: ReviewItem,
    user,
    scores: dict | None = None,
    comment: str = "",
    tags: list | None = None,
    remove_tags: list | None = None,
    expected: Any = None,
    metadata: dict | None = None,
    expected_set: bool = False,
) -> ReviewItem:
    """Save the annotations through the annotation service, record the submission, complete the
    item once `reviewers_per_item` reviewers have submitted, and release the reservation."""
    from apps.reviews.services.annotations import annotations_submit_in_transaction

    queue = item.queue
    reviewer_check(queue=queue, user=user)
    item, already, now = _lock_for_submit(item, queue, user)
    configs = list(queue.score_configs.all())
    allowed = {c.name for c in configs}
    extra = sorted(set(scores or {}) - allowed)
    if extra:
        raise ApplicationError(
            "Score configs outside this queue.",
            fields={f"scores.{name}": ["Not a score config of this queue."] for name in extra},
        )
    kwargs: dict[str, Any] = {
        "span": item.span,
        "user": user,
        "scores": scores or {},
        "comment": comment or "",
        "tags": tags or [],
        "remove_tags": remove_tags or [],
        "metadata": metadata or {},
    }
    if expected_set:
        kwargs["expected"] = expected
    annotations_submit_in_transaction(configs=configs, **kwargs)  # inside this transaction: no savepoint
    if already:
        return item
    return _record_submission(item, queue, user, now)


@transaction.atomic
def review_item_skip(*, item: ReviewItem, user) -> ReviewItem:
    """The item goes back for others and is never offered to this reviewer again."""
    queue = item.queue
    reviewer_check(queue=queue, user=user)
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    ReviewSkip.objects.get_or_create(
        item=item,
        reviewer=user,
        defaults={"item_open": item.status != ItemStatus.COMPLETE and not item.is_gold_question},
    )
    old = item.status
    if item.reserved_by_id == user.pk:
        item.reserved_by = None
        item.reserved_until = None
    if (
        old == ItemStatus.PENDING
        and item.submission_count == 0
        and item.reserved_by_id is None
        and not item.is_gold_question
    ):
        item.status = ItemStatus.BACKLOG
    item.save(update_fields=["reserved_by", "reserved_until", "status", "updated_at"])
    _shift(queue.pk, old, item.status)
    return item
