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
from .selectors import EXPORT_COLUMNS, audit_event_row

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
    yield flush()
    for row in rows:
        cells = []
        for name in EXPORT_COLUMNS:
            value = row[name]
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            cells.append("" if value is None else value if isinstance(value, int) else neutralise(str(value)))
        writer.writerow(cells)
        yield flush()


def _jsonl_lines(rows: Iterator[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def audit_events_download(queryset: QuerySet[AuditEvent], fmt: str) -> StreamingHttpResponse:
    """`fmt` must be a key of FORMATS (callers validate it and answer 400 otherwise)."""
    rows = (audit_event_row(e) for e in queryset.select_related(
        "project", "actor_user", "actor_key").order_by("id").iterator(chunk_size=1000))
    lines = _csv_lines(rows) if fmt == "csv" else _jsonl_lines(rows)
    response = StreamingHttpResponse(lines, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
