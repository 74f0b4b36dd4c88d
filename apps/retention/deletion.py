"""Deleting traces by batched DELETE: one bounded batch per transaction, everything that hangs off them first.

What hangs off a span or a trace is read from the models themselves (every reverse foreign key, the
hidden many-to-many tables included), so a model added later with a foreign key to Span is followed
without an edit here: CASCADE rows are deleted (children first), SET_NULL columns cleared, and a
PROTECT/RESTRICT/SET_DEFAULT reference stops the batch rather than leave it dangling. Rows are deleted
with set-based statements (`DELETE … WHERE fk IN (SELECT …)`), never loaded into memory.

A second strategy, `partition_drop.partition_drop` (PostgreSQL: whole month partitions of spans),
plugs in beside `batched_delete`: a strategy takes a RetentionPlan and answers DeletionTotals;
`default_strategy` picks one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction

from apps.core.exceptions import ApplicationError
from apps.traces.models import Span, Trace

from .selectors import RetentionPlan

logger = logging.getLogger(__name__)


@dataclass
class DeletionTotals:
    traces: int = 0
    spans: int = 0
    batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # model label -> rows deleted (or cleared)

    def add(self, other: DeletionTotals) -> None:
        self.traces += other.traces
        self.spans += other.spans
        self.batches += other.batches
        for label, count in other.rows.items():
            self.rows[label] = self.rows.get(label, 0) + count


def _reverse_relations(model) -> list:
    """Every foreign key (and one-to-one) pointing at `model`, leaves first (models nothing points at)."""
    relations = [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]
    return sorted(relations, key=lambda rel: (bool(_has_dependents(rel.related_model)), rel.related_model._meta.label))


def _has_dependents(model) -> bool:
    return any(
        f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
        for f in model._meta.get_fields(include_hidden=True)
    )


def _delete_rows(model, queryset, totals: DeletionTotals) -> int:
    """Delete `queryset`'s rows after whatever references them; returns the rows deleted."""
    delete_dependents(model, queryset.values("pk").order_by(), totals)
    # A set-based DELETE: the collector would load every row (and its cascades) into memory.
    return queryset._raw_delete(queryset.db)


def delete_dependents(model, pks, totals: DeletionTotals, *, skip: tuple = ()) -> None:
    """Delete (or clear) what references the rows of `model` whose pks `pks` (a subquery) selects.

    `skip`: models whose rows the caller deletes itself (the partition drop deletes spans its own way).
    """
    for rel in _reverse_relations(model):
        if rel.related_model in skip:
            continue
        column = rel.field.name
        children = rel.related_model._base_manager.filter(**{f"{rel.field.attname}__in": pks}).order_by()
        label = rel.related_model._meta.label
        if rel.on_delete is models.CASCADE:
            count = _delete_rows(rel.related_model, children, totals)
        elif rel.on_delete is models.SET_NULL:
            count = children.update(**{column: None})
        elif rel.on_delete is models.DO_NOTHING:
            continue
        else:
            if not children.exists():
                continue
            raise ApplicationError(f"{label}.{column} protects rows retention would delete; nothing was deleted.")
        if count:
            totals.rows[label] = totals.rows.get(label, 0) + count


def traces_delete(*, trace_ids: list[int], pinned: models.Q | None = None) -> DeletionTotals:
    """Delete these traces, their spans and everything on them, in one transaction.

    `pinned` (a condition on Trace) is checked again inside the transaction, so a trace that became
    pinned since it was selected (a curator added it to a dataset meanwhile) is kept.
    """
    totals = DeletionTotals(batches=1)
    with transaction.atomic():
        traces = Trace.objects.filter(id__in=trace_ids).order_by()
        if pinned is not None:
            traces = traces.exclude(pinned)
        # Skip traces an ingest is writing right now (PostgreSQL; SQLite holds one writer anyway).
        ids = list(traces.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True))
        if not ids:
            return DeletionTotals(batches=1)
        totals.traces = _delete_rows(Trace, Trace._base_manager.filter(id__in=ids).order_by(), totals)
    totals.spans = totals.rows.pop(Span._meta.label, 0)
    return totals


Progress = Callable[[DeletionTotals], None]


def batched_delete(
    plan: RetentionPlan, *, batch_size: int | None = None, on_batch: Progress | None = None
) -> DeletionTotals:
    """Delete what the plan dooms, `batch_size` traces per transaction, in id order (each trace once)."""
    size = batch_size or settings.RETENTION_BATCH_TRACES
    totals = DeletionTotals()
    last_id = 0
    while True:
        ids = list(plan.doomed.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[:size])
        if not ids:
            return totals
        batch = traces_delete(trace_ids=ids, pinned=plan.pinned)
        totals.add(batch)
        last_id = ids[-1]
        logger.info("retention of %s: batch of %s traces, %s spans", plan.policy.project_id, batch.traces, batch.spans)
        if on_batch is not None:
            on_batch(totals)


def default_strategy():
    """Partition drop where spans are partitioned (PostgreSQL, RETENTION_PARTITION_DROP), else batched DELETE."""
    from apps.traces.partitions import spans_partitioned

    if settings.RETENTION_PARTITION_DROP and spans_partitioned():
        from .partition_drop import partition_drop

        return partition_drop
    return batched_delete
