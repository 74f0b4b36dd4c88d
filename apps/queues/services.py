"""Every write with rules on review queues: filling, reserving, submitting, skipping, moving, assigning.

Item statuses change only through conditional updates here, and each change shifts the queue's
status counters in the same transaction, so the counters never need a COUNT over the queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError, not_found
from apps.projects.models import Membership, Project
from apps.projects.permissions import can
from apps.traces.models import ReviewStatus, Span, Trace
from apps.traces.selectors import root_spans_of

from .filtering import filter_errors, filtered_spans, filtered_traces
from .gold_stream import gold_tier_for_next, gold_tier_for_peek
from .models import (
    OPEN_STATUSES,
    ItemStatus,
    ReviewItem,
    ReviewQueue,
    ReviewSkip,
    ReviewSubmission,
    RuleTarget,
)
from .timing import reservation_start, submission_timing

User = get_user_model()

QUEUE_FIELDS = {
    "name",
    "instructions",
    "reviewers_per_item",
    "blind",
    "reservation_minutes",
    "rule_enabled",
    "rule_target",
    "rule_filter",
    "rule_sampling_rate",
    "disagreement_threshold",
    "gold_question_rate",
}


# ---------------------------------------------------------------- queues


def _validate_queue(queue: ReviewQueue) -> None:
    fields: dict[str, list[str]] = {}
    name = (queue.name or "").strip()
    if not name:
        fields["name"] = ["This field is required."]
    elif len(name) > 200:
        fields["name"] = ["At most 200 characters."]
    elif ReviewQueue.objects.filter(project_id=queue.project_id, name=name).exclude(pk=queue.pk).exists():
        fields["name"] = ["A queue with this name exists in the project."]
    queue.name = name
    if not isinstance(queue.reviewers_per_item, int) or not 1 <= queue.reviewers_per_item <= 20:
        fields["reviewers_per_item"] = ["A whole number from 1 to 20."]
    if not isinstance(queue.reservation_minutes, int) or not 1 <= queue.reservation_minutes <= 24 * 60:
        fields["reservation_minutes"] = ["A whole number of minutes from 1 to 1440."]
    for key in ("rule_sampling_rate", "disagreement_threshold", "gold_question_rate"):
        rate = getattr(queue, key)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= float(rate) <= 1.0:
            fields[key] = ["A number from 0 to 1."]
    if queue.rule_target not in RuleTarget.values:
        fields["rule_target"] = [f"Choose one of {', '.join(RuleTarget.values)}."]
    if not isinstance(queue.rule_filter, dict):
        fields["rule_filter"] = ["An object of filter parameters."]
    elif queue.rule_target in RuleTarget.values:
        errors = rule_filter_errors(target=queue.rule_target, params=queue.rule_filter)
        if errors:
            fields["rule_filter"] = [f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()]
    if fields:
        raise ApplicationError("Invalid review queue.", fields=fields)


def rule_filter_errors(*, target: str, params: dict) -> dict[str, list[str]]:
    from apps.traces.filters import SpanFilter, TraceFilter

    cls = TraceFilter if target == RuleTarget.TRACES else SpanFilter
    errors, _ = filter_errors(cls, params=params, queryset=cls._meta.model.objects.none())
    return errors


def _set_relations(queue: ReviewQueue, *, score_configs, assignees) -> None:
    from apps.reviews.models import ScoreConfig

    if score_configs is not None:
        ids = [getattr(c, "pk", c) for c in score_configs]
        found = list(ScoreConfig.objects.filter(project_id=queue.project_id, pk__in=ids))
        if len(found) != len(set(ids)):
            raise ApplicationError(
                "Unknown score configuration.",
                fields={"score_configs": ["Every score config must belong to the project."]},
            )
        queue.score_configs.set(found)
    if assignees is not None:
        ids = [getattr(u, "pk", u) for u in assignees]
        members = set(
            Membership.objects.filter(project_id=queue.project_id, user_id__in=ids).values_list("user_id", flat=True)
        )
        supers = set(User.objects.filter(pk__in=ids, is_superuser=True).values_list("pk", flat=True))
        if set(ids) - members - supers:
            raise ApplicationError(
                "Unknown assignee.", fields={"assignees": ["Every assignee must be a member of the project."]}
            )
        queue.assignees.set(ids)


@transaction.atomic
def review_queue_create(
    *,
    project: Project,
    name: str,
    created_by=None,
    score_configs: Iterable | None = None,
    assignees: Iterable | None = None,
    actor: Any = None,
    **fields: Any,
) -> ReviewQueue:
    unknown = set(fields) - QUEUE_FIELDS
    if unknown:
        raise ApplicationError("Unknown fields.", fields={k: ["Unknown field."] for k in sorted(unknown)})
    queue = ReviewQueue(project=project, name=name, created_by=created_by, **fields)
    _validate_queue(queue)
    queue.save()
    _set_relations(queue, score_configs=score_configs, assignees=assignees)
    audit_record(actor=actor or created_by, action="review_queue.create", obj=queue, after=audit_snapshot(queue))
    return queue


@transaction.atomic
def review_queue_update(
    *,
    queue: ReviewQueue,
    score_configs: Iterable | None = None,
    assignees: Iterable | None = None,
    actor: Any = None,
    **fields: Any,
) -> ReviewQueue:
    unknown = set(fields) - QUEUE_FIELDS
    if unknown:
        raise ApplicationError("Unknown fields.", fields={k: ["Unknown field."] for k in sorted(unknown)})
    before = audit_snapshot(queue)
    for key, value in fields.items():
        setattr(queue, key, value)
    _validate_queue(queue)
    queue.save()
    _set_relations(queue, score_configs=score_configs, assignees=assignees)
    audit_record_change(actor=actor, action="review_queue.update", obj=queue, before=before)
    return queue


def review_queue_recount(*, queue: ReviewQueue) -> ReviewQueue:
    """Recompute the status counters from the items (after bulk adds, or to repair)."""
    with transaction.atomic():
        ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
        counts = dict(
            ReviewItem.objects.filter(queue_id=queue.pk, is_gold_question=False)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )  # gold questions stay outside the counters (apps/queues/gold_stream.py)
        ReviewQueue.objects.filter(pk=queue.pk).update(
            backlog_count=counts.get(ItemStatus.BACKLOG, 0),
            pending_count=counts.get(ItemStatus.PENDING, 0),
            complete_count=counts.get(ItemStatus.COMPLETE, 0),
        )
    queue.refresh_from_db(fields=["backlog_count", "pending_count", "complete_count"])
    return queue


def _shift(queue_id: int, old: str, new: str) -> None:
    if old == new:
        return
    ReviewQueue.objects.filter(pk=queue_id).update(
        **{f"{old}_count": F(f"{old}_count") - 1, f"{new}_count": F(f"{new}_count") + 1}
    )


# ---------------------------------------------------------------- filling


def _insert_items(queue: ReviewQueue, spans: QuerySet) -> int:
    """INSERT … SELECT … ON CONFLICT DO NOTHING: one statement, no rows through Python, no duplicates."""
    span_sql, span_params = spans.order_by().values("id").query.sql_with_params()
    table = ReviewItem._meta.db_table
    now = timezone.now()
    sql = (
        f"INSERT INTO {table} (queue_id, span_id, status, submission_count, created_at, updated_at) "  # noqa: S608
        f"SELECT %s, picked.id, %s, 0, %s, %s FROM ({span_sql}) picked WHERE 1 = 1 "
        f"ON CONFLICT (queue_id, span_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [queue.pk, ItemStatus.BACKLOG, now, now, *span_params])
        return max(cursor.rowcount, 0)


@transaction.atomic
def review_items_add(*, queue: ReviewQueue, spans: QuerySet, actor: Any = None) -> dict[str, int]:
    """Add spans (of the queue's project only) as backlog items; spans already queued are left as they are."""
    spans = spans.filter(project_id=queue.project_id)
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    matched = spans.count()
    added = _insert_items(queue, spans) if matched else 0
    if added:
        review_queue_recount(queue=queue)
        Trace.objects.filter(pk__in=spans.order_by().values("trace_id"), review_status=ReviewStatus.NONE).update(
            review_status=ReviewStatus.QUEUED
        )
        audit_record(actor=actor, action="review_queue.items_add", obj=queue, after={"added": added})
    return {"matched": matched, "added": added, "already_queued": matched - added}


def review_items_add_traces(*, queue: ReviewQueue, traces: QuerySet, actor: Any = None) -> dict[str, int]:
    """A trace is reviewed through its root span."""
    spans = root_spans_of(traces.filter(project_id=queue.project_id))
    return review_items_add(queue=queue, spans=spans, actor=actor)


def review_items_add_by_filter(*, queue: ReviewQueue, target: str, params: dict, actor: Any = None) -> dict[str, int]:
    if target == RuleTarget.TRACES:
        traces = filtered_traces(project=queue.project, params=params)
        return review_items_add_traces(queue=queue, traces=traces, actor=actor)
    return review_items_add(queue=queue, spans=filtered_spans(project=queue.project, params=params), actor=actor)


def _sampled(queue: ReviewQueue, key: str) -> bool:
    rate = queue.rule_sampling_rate
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{queue.pk}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def review_queue_apply_rule(*, queue: ReviewQueue, trace_pks: list[int]) -> int:
    """Add the matching, sampled traces (or spans) among just-ingested traces. Sampling is by id, so
    a trace whose spans arrive in several batches is judged the same way every time."""
    if not queue.rule_enabled or queue.rule_sampling_rate <= 0 or not trace_pks:
        return 0
    if queue.rule_target == RuleTarget.TRACES:
        traces = filtered_traces(project=queue.project, params=queue.rule_filter).filter(pk__in=trace_pks)
        keep = [pk for pk, tid in traces.values_list("pk", "trace_id") if _sampled(queue, tid)]
        if not keep:
            return 0
        # Only a true root: while spans arrive out of order the root may be a child whose parent has
        # not come yet; the batch that brings the root adds it.
        roots = root_spans_of(Trace.objects.filter(pk__in=keep)).filter(parent_span_id="")
        return review_items_add(queue=queue, spans=roots)["added"]
    spans = filtered_spans(project=queue.project, params=queue.rule_filter).filter(trace_id__in=trace_pks)
    keep = [pk for pk, sid in spans.values_list("pk", "span_id") if _sampled(queue, sid)]
    if not keep:
        return 0
    return review_items_add(queue=queue, spans=Span.objects.filter(pk__in=keep))["added"]


def queues_on_ingest(*, project: Project, trace_pks: list[int], **_: Any) -> None:
    """Ingest hook (apps.core.registry.ingest_hooks): run every enabled queue rule of the project."""
    for queue in ReviewQueue.objects.filter(project=project, rule_enabled=True, rule_sampling_rate__gt=0):
        review_queue_apply_rule(queue=queue, trace_pks=list(trace_pks))


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


def review_item_state(*, item: ReviewItem, user, now=None) -> dict[str, bool]:
    """What the reviewer may do with the item as it stands (no reservation taken)."""
    now = now or timezone.now()
    state = user_item_state(item=item, user=user)
    reserved_by_other = (
        item.reserved_by_id not in (None, user.pk) and item.reserved_until is not None and item.reserved_until > now
    )
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
    span = item.span if "span" in item._state.fields_cache else None
    reviewer_check(queue=queue, user=user)
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
        if item.reserved_by_id not in (None, user.pk) and item.reserved_until and item.reserved_until > now:
            raise ApplicationError(
                f"This item is reserved by {item.reserved_by} until {item.reserved_until:%H:%M} UTC.", status=409
            )
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


def lead_check(*, queue: ReviewQueue, user) -> None:
    """Moving cards and assigning is for curators and admins of the project (or API keys with write)."""
    if user is None:  # an API key with the write scope, already checked by the view
        return
    if not can(user, "queue.lead", queue.project):
        raise ApplicationError("Moving and assigning items needs the curator role in the project.", status=403)


@transaction.atomic
def review_item_move(*, item: ReviewItem, status: str, user=None, actor: Any = None) -> ReviewItem:
    """The board's move. Rules: an item becomes complete only once someone has submitted it;
    moving out of complete reopens it; any move clears the reservation."""
    if status not in ItemStatus.values:
        raise ApplicationError("Unknown status.", fields={"status": [f"Choose one of {', '.join(ItemStatus.values)}."]})
    lead_check(queue=item.queue, user=user)
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    old = item.status
    if old == status:
        return item
    if item.is_gold_question:
        raise ApplicationError("A gold question is not moved on the board.", fields={"status": ["A gold question."]})
    if status == ItemStatus.COMPLETE and item.submission_count == 0:
        raise ApplicationError(
            "Nobody has submitted this item yet.",
            fields={"status": ["An item is complete once a reviewer has submitted it."]},
        )
    item.status = status
    item.reserved_by = None
    item.reserved_until = None
    item.completed_at = timezone.now() if status == ItemStatus.COMPLETE else None
    item.save(update_fields=["status", "reserved_by", "reserved_until", "completed_at", "updated_at"])
    audit_record(
        actor=actor or user,
        action="review_item.move",
        obj=item,
        parent=item.queue,
        before={"status": old},
        after={"status": status},
    )
    _shift(item.queue_id, old, status)
    if ItemStatus.COMPLETE in (old, status):
        _sync_open(item)
    if status == ItemStatus.COMPLETE:
        _complete_traces([item.span_id])
    elif old == ItemStatus.COMPLETE:
        trace_id = Span.objects.filter(pk=item.span_id).values_list("trace_id", flat=True).first()
        others_complete = ReviewItem.objects.filter(span__trace_id=trace_id, status=ItemStatus.COMPLETE).exists()
        if not others_complete:
            Trace.objects.filter(pk=trace_id).update(review_status=ReviewStatus.QUEUED)
    return item


@transaction.atomic
def review_item_assign(*, item: ReviewItem, assignee, user=None, actor: Any = None) -> ReviewItem:
    """Assign an item to a reviewer, or unassign it (assignee None). Rule: the assignee is someone who
    may review the queue (`queue_assignable_users`: a reviewer-or-above member of its project, and one
    of the queue's assignees when it names them). Only leads assign."""
    from .selectors import queue_assignable_users

    lead_check(queue=item.queue, user=user)
    assignee_id = None if assignee is None else getattr(assignee, "pk", assignee)
    if assignee_id is not None and not queue_assignable_users(queue=item.queue).filter(pk=assignee_id).exists():
        raise ApplicationError(
            "This person cannot review the queue.",
            fields={"assignee": ["Choose a reviewer of the project (one of the queue's assignees, if it names them)."]},
        )
    queue = item.queue
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    item.queue = queue
    before = {"assignee": item.assignee_id}
    if item.assignee_id != assignee_id:
        item.assignee_id = assignee_id
        item.save(update_fields=["assignee", "updated_at"])
        audit_record(
            actor=actor or user,
            action="review_item.assign",
            obj=item,
            parent=queue,
            before=before,
            after={"assignee": item.assignee_id},
        )
    return item


@transaction.atomic
def review_queue_delete(*, queue: ReviewQueue, actor: Any = None) -> None:
    audit_record(actor=actor, action="review_queue.delete", obj=queue, before=audit_snapshot(queue))
    queue.delete()
