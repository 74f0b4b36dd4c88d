"""Filling review queues: adding spans and traces (by hand, by filter, and by a queue's rule at ingest)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.services import audit_record
from apps.projects.models import Project
from apps.traces.models import ReviewStatus, Span, Trace
from apps.traces.selectors import root_spans_of

from ..filtering import filtered_spans, filtered_traces
from ..models import (
    ItemStatus,
    ReviewItem,
    ReviewQueue,
    RuleTarget,
)
from .queues import review_queue_recount

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
