"""Review queues: creating, updating, recounting and deleting them, and the status counters every item move shifts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError, unknown_fields_refuse
from apps.projects.models import Membership, Project

from ..filtering import filter_errors
from ..models import (
    QUEUE_FIELDS,
    ItemStatus,
    ReviewItem,
    ReviewQueue,
    RuleTarget,
)

User = get_user_model()

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
    unknown_fields_refuse(fields, QUEUE_FIELDS)
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
    unknown_fields_refuse(fields, QUEUE_FIELDS)
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


@transaction.atomic
def review_queue_delete(*, queue: ReviewQueue, actor: Any = None) -> None:
    audit_record(actor=actor, action="review_queue.delete", obj=queue, before=audit_snapshot(queue))
    queue.delete()
