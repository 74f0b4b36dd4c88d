"""A queue lead's writes on the board: moving an item between columns and assigning it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError
from apps.projects.permissions import can
from apps.traces.models import ReviewStatus, Span, Trace

from ..models import (
    ItemStatus,
    ReviewItem,
    ReviewQueue,
)
from .queues import _shift
from .reviewing import _complete_traces, _sync_open


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
    from ..selectors import queue_assignable_users

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
