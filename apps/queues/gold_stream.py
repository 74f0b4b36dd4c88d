"""Gold questions in a reviewer's stream, and their known answers (reads).

A gold question is a review item with known answers (`GoldValue` rows with source `known_answer`).
It is served to every reviewer of the queue once (never again to one who submitted or skipped it),
mixed into their stream at `ReviewQueue.gold_question_rate`, and it never completes: it stays
`pending`, outside the queue's status counters (so the board and the progress line count only the
real work).

How the mix is decided (deterministic dithering): with `n` items already served to the reviewer in
the queue (submitted, skipped, or held by a live reservation) and `g` of them gold questions, the next
item is a gold question when `g < rate × (n + 1) − u`, where `u` in [0, 1) is a hash of (queue,
reviewer, n). The count of gold questions a reviewer has been served therefore stays within one of
`rate × n` at every point of the stream (as long as unanswered gold questions are left), while their
positions move with `u` rather than falling every 1/rate items. The same inputs give the same answer,
so the review page's prefetch (`review_item_peek`) and `review_item_next` agree. Gold questions are
served only while the reviewer has normal work left: at the end of the queue nothing is served just
because a gold question remains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, Min, OuterRef, Q, QuerySet, Subquery

from .models import (
    OPEN_STATUSES,
    GoldSource,
    GoldValue,
    GoldValueRevision,
    ReviewItem,
    ReviewQueue,
    ReviewSkip,
    ReviewSubmission,
)


def _dither(queue_id: int, user_id: int, n: int) -> float:
    digest = hashlib.sha256(f"gold:{queue_id}:{user_id}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def gold_is_due(*, rate: float, served: int, gold_served: int, queue_id: int, user_id: int) -> bool:
    """The schedule: is item number `served` (0-based) of this reviewer's stream a gold question?"""
    if rate <= 0:
        return False
    return gold_served < rate * (served + 1) - _dither(queue_id, user_id, served)


def _not_done_by(user) -> Q:
    from .services.reviewing import _not_done_by as not_done

    return not_done(user)


def served_counts(*, queue: ReviewQueue, user, now) -> dict[str, int]:
    """In one query: the items served to the reviewer in the queue (submitted, skipped without
    submitting, or held by their live reservation) and how many of them are gold questions."""
    from .selectors import _count

    subs = ReviewSubmission.objects.filter(reviewer=user, item__queue=queue.pk)
    skips = ReviewSkip.objects.filter(reviewer=user, item__queue=queue.pk).exclude(
        Exists(ReviewSubmission.objects.filter(item_id=OuterRef("item_id"), reviewer=user))
    )
    held = ReviewItem.objects.filter(
        queue=queue.pk, reserved_by=user, reserved_until__gt=now, status__in=OPEN_STATUSES
    ).filter(_not_done_by(user))
    row = (
        ReviewQueue.objects.filter(pk=queue.pk)
        .values(
            subs=_count(subs),
            skips=_count(skips),
            held=_count(held),
            gold_subs=_count(subs.filter(item__is_gold_question=True)),
            gold_skips=_count(skips.filter(item__is_gold_question=True)),
            gold_held=_count(held.filter(is_gold_question=True)),
        )
        .first()
        or {}
    )
    counts = {k: v or 0 for k, v in row.items()}
    return {
        "done": counts.get("subs", 0) + counts.get("skips", 0),
        "gold_done": counts.get("gold_subs", 0) + counts.get("gold_skips", 0),
        "served": counts.get("subs", 0) + counts.get("skips", 0) + counts.get("held", 0),
        "gold_served": counts.get("gold_subs", 0) + counts.get("gold_skips", 0) + counts.get("gold_held", 0),
    }


def _due(queue: ReviewQueue, user, now) -> bool:
    if not queue.gold_question_rate:
        return False
    counts = served_counts(queue=queue, user=user, now=now)
    return gold_is_due(
        rate=queue.gold_question_rate,
        served=counts["served"],
        gold_served=counts["gold_served"],
        queue_id=queue.pk,
        user_id=user.pk,
    )


def gold_candidates(*, queue: ReviewQueue, user, now) -> QuerySet:
    """The gold questions the reviewer may be served now: not done by them, not reserved by another."""
    from .services.reviewing import _open_q

    return ReviewItem.objects.filter(queue=queue, is_gold_question=True, status__in=OPEN_STATUSES).filter(
        _open_q(now), _not_done_by(user)
    )


def gold_tier_for_next(*, queue: ReviewQueue, user, now, normal: Iterable[QuerySet]) -> QuerySet | None:
    """For `review_item_next`: the gold questions to try before the normal tiers, when the schedule
    says the reviewer's next item is one and they still have normal work (else None: no query when the
    queue mixes in no gold)."""
    if not queue.gold_question_rate or not _due(queue, user, now):
        return None
    if not any(qs.exists() for qs in normal):
        return None
    return gold_candidates(queue=queue, user=user, now=now)


def gold_tier_for_peek(*, queue: ReviewQueue, user, now, exclude, normal: QuerySet) -> Subquery | None:
    """For `review_item_peek`: the first gold question (a pk subquery) in the same cases as
    `gold_tier_for_next`. `normal` is the peek's normal candidates (values("pk"))."""
    if not queue.gold_question_rate or not _due(queue, user, now):
        return None
    if not normal.exists():
        return None
    return Subquery(
        gold_candidates(queue=queue, user=user, now=now).exclude(pk__in=list(exclude)).order_by("id").values("pk")[:1]
    )


def gold_left_for_you(*, queue: ReviewQueue, user, normal_left: int, now=None) -> int:
    """The gold questions a reviewer will still be served among their `normal_left` normal items, so
    their "left for you" drops by one for every item they finish, gold question or not.

    With d items done (g of them gold) and L normal items left, the stream ends after T = L + G more
    items where g + G = rate × (d + T), so G = (rate × (d + L) − g) / (1 − rate): finishing a normal
    item (d + 1, L − 1) leaves G as it is, finishing a gold question (d + 1, g + 1) lowers it by one."""
    from django.utils import timezone

    rate = queue.gold_question_rate
    if not rate or normal_left <= 0 or user is None or not getattr(user, "is_authenticated", False):
        return 0
    counts = served_counts(queue=queue, user=user, now=now or timezone.now())
    available = ReviewItem.objects.filter(queue=queue, is_gold_question=True).filter(_not_done_by(user)).count()
    if rate >= 1:
        return available
    expected = (rate * (counts["done"] + normal_left) - counts["gold_done"]) / (1 - rate)
    return max(0, min(available, int(expected + 0.5)))


# ---------------------------------------------------------------- known answers


def gold_question_answers(*, queue: ReviewQueue, config_ids: list[int]) -> Iterable[tuple[int, int, dict[str, Any]]]:
    """(item id, config id, {value, label, labels, text}) of the known answers of the queue's gold questions."""
    rows = GoldValue.objects.filter(
        item__queue=queue,
        item__is_gold_question=True,
        source=GoldSource.KNOWN_ANSWER,
        config_id__in=config_ids,
    ).values_list("item_id", "config_id", "value", "label", "labels", "text")
    for item_id, config_id, value, label, labels, text in rows.iterator():
        yield item_id, config_id, {"value": value, "label": label, "labels": labels, "text": text}


def gold_marked_at(*, queue: ReviewQueue, item_ids: list[int]) -> dict[int, Any]:
    """item id -> when its first known answer was set (the item became a gold question)."""
    return dict(
        GoldValueRevision.objects.filter(item_id__in=item_ids, item__queue=queue, source=GoldSource.KNOWN_ANSWER)
        .order_by()
        .values_list("item_id")
        .annotate(at=Min("decided_at"))
    )
