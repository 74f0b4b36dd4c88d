"""Streaming CSV / JSONL downloads of audit events: rows are written as they are read, never held
in memory; sent as attachments with nosniff."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.exports.formats.csv import neutralise

from .models import AuditEvent
from .selectors import EXPORT_COLUMNS

# Plain values, not model instances: a download of many events builds no objects.
_VALUES = {
    "id": "id",
    "created_at": "created_at",
    "project": "project__slug",
    "actor": "actor_label",
    "actor_user": "actor_user__username",
    "actor_key": "actor_key__prefix",
    "action": "action",
    "object_type": "object_type",
    "object_id": "object_id",
    "object_repr": "object_repr",
    "parent_type": "parent_type",
    "parent_id": "parent_id",
    "before": "before",
    "after": "after",
}


def _rows(queryset: QuerySet[AuditEvent]) -> Iterator[dict]:
    names = list(_VALUES)
    for values in queryset.order_by("id").values_list(*_VALUES.values()).iterator(chunk_size=2000):
        row = dict(zip(names, values, strict=True))
        row["created_at"] = row["created_at"].isoformat()
        yield row


FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _csv_lines(rows: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    for count, row in enumerate(rows, 1):
        cells = []
        for name in EXPORT_COLUMNS:
            value = row[name]
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            cells.append("" if value is None else value if isinstance(value, int) else neutralise(str(value)))
        writer.writerow(cells)
        if count % 500 == 0:
            yield flush()
    yield flush()


def _jsonl_lines(rows: Iterator[dict]) -> Iterator[str]:
    batch: list[str] = []
    for row in rows:
        batch.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(batch) == 500:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


def audit_events_download(queryset: QuerySet[AuditEvent], fmt: str) -> StreamingHttpResponse:
    """`fmt` must be a key of FORMATS (callers validate it and answer 400 otherwise)."""
    rows = _rows(queryset)
    lines = _csv_lines(rows) if fmt == "csv" else _jsonl_lines(rows)
    response = StreamingHttpResponse(lines, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
