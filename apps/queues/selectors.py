"""Reads of review queues reused by the API, the admin screens and the dashboard."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Exists, F, Func, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from apps.projects.permissions import can

from .models import OPEN_STATUSES, ItemStatus, ReviewItem, ReviewQueue, ReviewSkip, ReviewSubmission

BOARD_PAGE = 50


def queue_progress(*, queue: ReviewQueue, user=None, with_done: bool = False) -> dict[str, int]:
    """'37 of 240, 5 left for you' from the queue counters plus counts bounded by the user's *open*
    work (items they submitted or skipped that are not complete yet). `done_by_you` (everything the
    user ever submitted in the queue) is counted only on request."""
    progress = {
        "total": queue.item_count,
        "backlog": queue.backlog_count,
        "pending": queue.pending_count,
        "complete": queue.complete_count,
        "left_for_you": 0,
    }
    if user is None or not user.is_authenticated:
        return progress
    if with_done:
        progress["done_by_you"] = ReviewSubmission.objects.filter(reviewer=user, item__queue=queue).count()
    counts = queue_user_counts(queue=queue, user=user)
    done_open, skipped_open, others = counts["done_open"], counts["skipped_open"], counts["others"]
    progress["left_for_you"] = max(queue.open_count - done_open - skipped_open - others, 0)
    if queue.gold_question_rate:  # the gold questions still to come count as items left (apps/queues/gold_stream.py)
        from .gold_stream import gold_left_for_you

        progress["left_for_you"] += gold_left_for_you(queue=queue, user=user, normal_left=progress["left_for_you"])
    return progress


def _count(qs: QuerySet) -> Subquery:
    """`qs.count()` as a scalar subquery (`SELECT COUNT(id) … WHERE …`: one row, no GROUP BY), so several
    counts travel in one SELECT."""
    return Subquery(
        qs.order_by().annotate(n=Func(F("pk"), function="COUNT", output_field=IntegerField())).values("n"),
        output_field=IntegerField(),
    )


def queue_user_count_exprs(*, queue: ReviewQueue, user) -> dict[str, Subquery]:
    """`queue_user_counts` as scalar subqueries (uncorrelated), to ride along another query."""
    return {
        "done_open": _count(ReviewSubmission.objects.filter(reviewer=user, item_open=True, item__queue=queue.pk)),
        "skipped_open": _count(
            ReviewSkip.objects.filter(reviewer=user, item_open=True, item__queue=queue.pk).exclude(
                Exists(ReviewSubmission.objects.filter(item_id=OuterRef("item_id"), reviewer=user))
            )
        ),
        "others": _count(
            ReviewItem.objects.filter(queue=queue.pk, status__in=OPEN_STATUSES, assignee__isnull=False).exclude(
                assignee=user
            )
        ),
    }


def queue_user_counts(*, queue: ReviewQueue, user, extra: dict | None = None) -> dict[str, Any]:
    """In one query: the user's open submissions and skips in the queue and the open items assigned to
    others (for `queue_progress`), plus any `extra` scalar subqueries (the review bar's neighbour)."""
    row = (
        ReviewQueue.objects.filter(pk=queue.pk)
        .values(
            **queue_user_count_exprs(queue=queue, user=user),
            **(extra or {}),
        )
        .first()
    )
    return row or {"done_open": 0, "skipped_open": 0, "others": 0, **{k: None for k in extra or {}}}


def item_scores(*, queue: ReviewQueue, items: list[ReviewItem], user) -> dict[int, list[dict[str, Any]]]:
    """The queue's human scores on each item's span, grouped by item, as `user` may see them (blind
    queues: `apps.reviews.visibility.annotations_visible_to`)."""
    from apps.reviews.models import Score, ScoreSource
    from apps.reviews.visibility import annotations_visible_to

    if not items:
        return {}
    by_span = {item.span_id: item for item in items}
    visibility = annotations_visible_to(user, list(by_span))
    configs = list(queue.score_configs.all())
    rows = (
        Score.objects.filter(span_id__in=list(by_span), config__in=configs, source=ScoreSource.HUMAN)
        .select_related("config", "author")
        .order_by("config__order", "config__name", "id")
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for score in rows:
        item = by_span[score.span_id]
        if not visibility.own(score.span_id, [score]):
            continue
        display = score.display_value
        if score.config.kind == "boolean" and score.value is not None:
            display = "yes" if score.value >= 0.5 else "no"
        out[item.pk].append(
            {
                "config": score.config.name,
                "value": score.value,
                "label": score.label,
                "labels": score.labels,
                "text": score.text,
                "display": display,
                "author": score.author.get_username() if score.author else "",
            }
        )
    return out


def item_score_summaries(*, queue: ReviewQueue, items: list[ReviewItem], user) -> dict[int, list[dict[str, Any]]]:
    """One line per score config of each item for the board: the majority answer (categorical,
    boolean) or the mean (continuous), how many scored it, and whether they agree. Built on
    `item_scores`, so a blind reviewer's card summarises only what that reviewer may see."""
    scores = item_scores(queue=queue, items=items, user=user)
    configs = list(queue.score_configs.all())
    out: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for score in scores.get(item.pk, []):
            by_config[score["config"]].append(score)
        lines = []
        for config in configs:
            rows = by_config.get(config.name)
            if rows:
                lines.append(
                    {
                        "config": config.name,
                        "kind": config.kind,
                        "n": len(rows),
                        **_summary(config, rows, queue.disagreement_threshold),
                    }
                )
        out[item.pk] = lines
    return out


def _summary(config, rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Continuous scores agree when max − min is within the queue's `disagreement_threshold` share of
    the config's range (the Disagreements list uses the same rule: apps/queues/disagreement.py)."""
    n = len(rows)
    if config.kind == "continuous":
        values = [r["value"] for r in rows if r["value"] is not None]
        if not values:
            return {"display": "", "agree": None}
        span = (config.max_value - config.min_value) or 1.0
        agree = None if len(values) < 2 else (max(values) - min(values)) <= threshold * abs(span)
        return {"display": f"mean {sum(values) / len(values):.3g}", "agree": agree}
    if config.kind == "text":
        return {"display": f"{n} note{'s' if n != 1 else ''}", "agree": None}
    answers = [r["display"] for r in rows]
    counts: dict[str, int] = defaultdict(int)
    for answer in answers:
        counts[answer] += 1
    top = max(counts.values())
    leaders = sorted(a for a, c in counts.items() if c == top)
    display = leaders[0] if len(leaders) == 1 else " / ".join(leaders)
    return {"display": display, "votes": top, "agree": None if n < 2 else len(counts) == 1}


def board_items(
    *,
    queue: ReviewQueue,
    status: str,
    assignee=None,
    reviewer=None,
    after: int | None = None,
    limit: int = BOARD_PAGE,
    viewer=None,
) -> list[ReviewItem]:
    # Gold questions are not cards: they are outside the counters and never complete (apps/queues/gold_stream.py).
    qs = _board_filter(
        ReviewItem.objects.filter(queue=queue, status=status, is_gold_question=False),
        assignee=assignee,
        reviewer=reviewer,
        queue=queue,
        viewer=viewer,
    )
    if after is not None:
        qs = qs.filter(pk__gt=after)
    return list(
        qs.select_related("span__trace", "assignee", "reserved_by")
        .only(
            "id",
            "status",
            "submission_count",
            "reserved_until",
            "completed_at",
            "queue_id",
            "span_id",
            "span__name",
            "span__span_id",
            "span__trace__name",
            "span__trace__trace_id",
            "span__trace__input_preview",
            "span__trace__output_preview",
            "assignee__username",
            "reserved_by__username",
        )
        .order_by("id")[:limit]
    )


def _blind_to(queue: ReviewQueue, reviewer, viewer):
    """Spans on which "`reviewer` submitted this" is hidden from `viewer` (a blind queue's open items they
    have not submitted, `blinded_span_ids`), or None when nothing is."""
    if not queue.blind or viewer is None or reviewer is None or reviewer.pk == viewer.pk:
        return None
    from apps.reviews.visibility import blinded_span_ids

    return blinded_span_ids(viewer)


def _board_filter(qs: QuerySet, *, assignee=None, reviewer=None, queue=None, viewer=None) -> QuerySet:
    if assignee is not None:
        qs = qs.filter(assignee=assignee)
    if reviewer is not None:
        qs = qs.filter(Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=reviewer)))
        hidden = _blind_to(queue, reviewer, viewer) if queue is not None else None
        if hidden is not None:  # "Reviewed by alice" would tell a blind reviewer what alice reviewed
            qs = qs.exclude(span_id__in=hidden)
    return qs


def board_counts(*, queue: ReviewQueue, assignee=None, reviewer=None, viewer=None) -> dict[str, int]:
    if assignee is None and reviewer is None:
        return {"backlog": queue.backlog_count, "pending": queue.pending_count, "complete": queue.complete_count}
    if reviewer is not None:
        # Counted from the reviewer's own submissions, bounded by their work rather than the queue.
        subs = ReviewSubmission.objects.filter(reviewer=reviewer, item__queue=queue, item__is_gold_question=False)
        hidden = _blind_to(queue, reviewer, viewer)
        if hidden is not None:
            subs = subs.exclude(item__span_id__in=hidden)
        if assignee is not None:
            subs = subs.filter(item__assignee=assignee)
        counts = dict(subs.order_by().values_list("item__status").annotate(n=Count("id")))
    else:
        counts = dict(
            ReviewItem.objects.filter(queue=queue, assignee=assignee, is_gold_question=False)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )
    return {status: counts.get(status, 0) for status in ItemStatus.values}


def queue_reviewers(*, queue: ReviewQueue) -> list[dict[str, Any]]:
    """Per reviewer: submitted, skipped, last activity."""
    rows: dict[int, dict[str, Any]] = {}
    subs = (
        ReviewSubmission.objects.filter(item__queue=queue)
        .order_by()
        .values("reviewer_id", "reviewer__username")
        .annotate(n=Count("id"), last=Max("submitted_at"))
    )
    for row in subs:
        rows[row["reviewer_id"]] = {
            "reviewer_id": row["reviewer_id"],
            "username": row["reviewer__username"],
            "submitted": row["n"],
            "skipped": 0,
            "last_activity": row["last"],
        }
    skips = (
        ReviewSkip.objects.filter(item__queue=queue)
        .order_by()
        .values("reviewer_id", "reviewer__username")
        .annotate(n=Count("id"), last=Max("skipped_at"))
    )
    for row in skips:
        entry = rows.setdefault(
            row["reviewer_id"],
            {
                "reviewer_id": row["reviewer_id"],
                "username": row["reviewer__username"],
                "submitted": 0,
                "skipped": 0,
                "last_activity": row["last"],
            },
        )
        entry["skipped"] = row["n"]
        if entry["last_activity"] is None or (row["last"] and row["last"] > entry["last_activity"]):
            entry["last_activity"] = row["last"]
    return sorted(rows.values(), key=lambda r: (-r["submitted"], r["username"]))


def queues_for_user(user) -> QuerySet[ReviewQueue]:
    from apps.projects.selectors import projects_for_user

    return ReviewQueue.objects.filter(project__in=projects_for_user(user)).select_related("project")


def user_may_lead(*, queue: ReviewQueue, user) -> bool:
    return can(user, "queue.lead", queue.project)


def queue_assignable_users(*, queue: ReviewQueue) -> QuerySet:
    """Who an item of the queue may be assigned to: members of the queue's project with the reviewer
    role or above; when the queue names its assignees, those of them and the project's admins (the
    people `reviewer_check` lets review it)."""
    from django.contrib.auth import get_user_model

    from apps.projects.models import Membership
    from apps.projects.permissions import roles_allowing

    members = Membership.objects.filter(project_id=queue.project_id)
    users = get_user_model().objects.filter(
        pk__in=members.filter(role__in=roles_allowing("queue.review")).values("user_id"), is_active=True
    )
    if queue.assignees.exists():  # the assignees, and those `reviewer_check` lets past the list
        users = users.filter(
            Q(pk__in=queue.assignees.values("pk"))
            | Q(pk__in=members.filter(role__in=roles_allowing("queue.manage")).values("user_id"))
        )
    return users.order_by("username")


def user_may_review(*, queue: ReviewQueue, user) -> bool:
    if not can(user, "queue.review", queue.project):
        return False
    if user.is_superuser or not queue.assignees.exists():
        return True
    return queue.assignees.filter(pk=user.pk).exists() or can(user, "queue.manage", queue.project)


# ---------------------------------------------------------------- a reviewer's access to an item


def item_reserved_by_other(*, item: ReviewItem, user, now=None) -> bool:
    """Whether someone other than `user` holds a live reservation on the item."""
    now = now or timezone.now()
    return item.reserved_by_id not in (None, user.pk) and item.reserved_until is not None and item.reserved_until > now


def review_item_state(*, item: ReviewItem, user, now=None) -> dict[str, bool]:
    """What the reviewer may do with the item as it stands (no reservation taken): whether they
    submitted or skipped it, whether someone else holds it, and whether they may submit. The review
    page, the API and the submit service all read access here."""
    state = user_item_state(item=item, user=user)
    reserved_by_other = item_reserved_by_other(item=item, user=user, now=now)
    can_submit = state["submitted"] or (item.status != ItemStatus.COMPLETE and not reserved_by_other)
    return {**state, "reserved_by_other": reserved_by_other, "can_submit": can_submit}


def with_user_state(items: QuerySet, user) -> QuerySet:
    """Items annotated with whether `user` submitted or skipped them (read by `user_item_state`)."""
    return items.annotate(
        _submitted=Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=user)),
        _skipped=Exists(ReviewSkip.objects.filter(item_id=OuterRef("pk"), reviewer=user)),
        _state_user_id=Value(user.pk),
    )


def user_item_state(*, item: ReviewItem, user) -> dict[str, bool]:
    if getattr(item, "_state_user_id", None) == user.pk:  # annotated by the fetch (`with_user_state`)
        return {"submitted": item._submitted, "skipped": item._skipped}
    return {
        "submitted": ReviewSubmission.objects.filter(item=item, reviewer=user).exists(),
        "skipped": ReviewSkip.objects.filter(item=item, reviewer=user).exists(),
    }
