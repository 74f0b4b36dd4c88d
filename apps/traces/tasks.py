"""Celery tasks of traces: thin, they call a service (`partitions.*` is routed to the maintenance queue)."""

from __future__ import annotations

from celery import shared_task

from . import partitions


@shared_task(name="partitions.ensure", ignore_result=True)
def span_partitions_ensure_task() -> list[str]:
    return partitions.span_partitions_ensure()
