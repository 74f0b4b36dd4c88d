"""Record writes: validating rows, and upserting or deleting records as one new version."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from apps.core.exceptions import ApplicationError

from ..models import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    RecordOrigin,
)
from .versions import ID_CHUNK, _audit_version, _author, _commit_version, _lock_dataset, _revisions_write, _same_content

MAX_RECORDS_PER_BATCH = 1000
RECORD_KEYS = {"record_id", "input", "expected", "metadata", "tags", "splits", "source_span_id"}
RECORD_ID_MAX = 255
LABEL_MAX = 100
LABELS_PER_RECORD = 50
SPLIT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _json_problem(value: Any) -> str | None:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"Not valid JSON: {exc}."
    if "\\u0000" in text:
        return "Contains a NUL character."
    return None


def _labels(value: Any, *, kind: str) -> tuple[list[str] | None, str | None]:
    if value is None:
        return [], None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None, "Must be a list of strings."
    out: list[str] = []
    for v in value:
        v = v.strip()
        if not v:
            return None, "Empty names are not allowed."
        if kind == "splits" and not SPLIT_RE.match(v):
            return None, f"{v!r}: use letters, digits, '_', '.' or '-' (at most 64)."
        if len(v) > LABEL_MAX:
            return None, f"At most {LABEL_MAX} characters each."
        if v not in out:
            out.append(v)
    if len(out) > LABELS_PER_RECORD:
        return None, f"At most {LABELS_PER_RECORD}."
    return out, None


def _record_id(record_id: Any, *, index: int, seen: dict[str, int]) -> tuple[Any, str | None]:
    """A row's record id (a new one when empty, numbers as text) and what is wrong with it; `seen`
    (record id → row index) catches a duplicate within the batch."""
    if record_id is None or record_id == "":
        record_id = uuid.uuid4().hex
    elif isinstance(record_id, int | float) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str) or not record_id.strip():
        return record_id, "Must be a non-empty string."
    if len(record_id.strip()) > RECORD_ID_MAX:
        return record_id, f"At most {RECORD_ID_MAX} characters."
    record_id = record_id.strip()
    duplicate = f"Duplicate of records[{seen[record_id]}] in this batch." if record_id in seen else None
    seen[record_id] = index
    return record_id, duplicate


def records_validate(records: Any, *, prefix: str = "records") -> list[dict[str, Any]]:
    """Clean every row or raise one ApplicationError naming each `records[i].field` at fault."""
    if not isinstance(records, list):
        raise ApplicationError("Send a list of records.", fields={prefix: ["Must be a list."]})
    if not records:
        raise ApplicationError("Send at least one record.", fields={prefix: ["Must not be empty."]})
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(records):
        where = f"{prefix}[{index}]"
        if not isinstance(row, dict):
            errors[where] = ["Must be an object."]
            continue
        unknown = sorted(set(row) - RECORD_KEYS)
        for key in unknown:
            errors[f"{where}.{key}"] = ["Unknown field."]
        record_id, msg = _record_id(row.get("record_id"), index=index, seen=seen)
        if msg:
            errors[f"{where}.record_id"] = [msg]
        if "input" not in row or row["input"] is None:
            errors[f"{where}.input"] = ["This field is required."]
        for key in ("input", "expected"):
            if row.get(key) is not None and (msg := _json_problem(row[key])):
                errors[f"{where}.{key}"] = [msg]
        metadata = row.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            errors[f"{where}.metadata"] = ["Must be an object."]
        elif msg := _json_problem(metadata):
            errors[f"{where}.metadata"] = [msg]
        tags, msg = _labels(row.get("tags"), kind="tags")
        if msg:
            errors[f"{where}.tags"] = [msg]
        splits, msg = _labels(row.get("splits"), kind="splits")
        if msg:
            errors[f"{where}.splits"] = [msg]
        source_span_id = row.get("source_span_id")
        if source_span_id is not None and (not isinstance(source_span_id, int) or isinstance(source_span_id, bool)):
            errors[f"{where}.source_span_id"] = ["Must be a span's internal id."]
        cleaned.append(
            {
                "record_id": record_id,
                "input": row.get("input"),
                "expected": row.get("expected"),
                "metadata": metadata,
                "tags": tags,
                "splits": splits,
                "source_span_id": source_span_id,
            }
        )
    if errors:
        raise ApplicationError(
            f"{len({k.split('.')[0] for k in errors})} record(s) are invalid; nothing was written.", fields=errors
        )
    return cleaned


def _check_source_spans(dataset: Dataset, rows: list[dict[str, Any]]) -> None:
    ids = {r["source_span_id"] for r in rows if r["source_span_id"] is not None}
    if not ids:
        return
    from apps.traces.models import Span

    known: set[int] = set()
    id_list = list(ids)
    for i in range(0, len(id_list), ID_CHUNK):
        known.update(
            Span.objects.filter(project_id=dataset.project_id, pk__in=id_list[i : i + ID_CHUNK]).values_list(
                "pk", flat=True
            )
        )
    errors = {
        f"records[{i}].source_span_id": ["Unknown span."]
        for i, r in enumerate(rows)
        if r["source_span_id"] is not None and r["source_span_id"] not in known
    }
    if errors:
        raise ApplicationError("Unknown source spans; nothing was written.", fields=errors)


def _live_by_record_id(dataset: Dataset, record_ids: Iterable[str]) -> dict[str, DatasetRecord]:
    ids = list(record_ids)
    live: dict[str, DatasetRecord] = {}
    for i in range(0, len(ids), ID_CHUNK):
        for rec in DatasetRecord.objects.filter(
            dataset=dataset, version_to__isnull=True, record_id__in=ids[i : i + ID_CHUNK]
        ):
            live[rec.record_id] = rec
    return live


def _revision(dataset: Dataset, row: dict[str, Any], current: DatasetRecord | None, *, origin: str, number: int):
    """The new revision of a cleaned row from version `number` (it keeps the live revision's source span
    when the row names none)."""
    source_span_id = row["source_span_id"]
    if source_span_id is None and current is not None:
        source_span_id = current.source_span_id
    return DatasetRecord(
        dataset=dataset,
        record_id=row["record_id"],
        input=row["input"],
        expected=row["expected"],
        metadata=row["metadata"],
        tags=row["tags"],
        splits=row["splits"],
        origin=origin,
        source_span_id=source_span_id,
        version_from=number,
    )


def dataset_records_upsert(
    *,
    dataset: Dataset,
    records: list[dict],
    author=None,
    message: str = "",
    origin: str = RecordOrigin.MANUAL,
    extra_tags: list[str] | None = None,
) -> DatasetVersion | None:
    """Insert or update records by `record_id` as ONE new version.

    Every row is validated before anything is written (errors name `records[i].field`). Rows equal
    to their live revision write nothing; when no row changes, no version is made and None is returned.
    """
    if origin not in RecordOrigin.values:
        raise ApplicationError(
            "Unknown origin.", fields={"origin": [f"Choose one of {', '.join(RecordOrigin.values)}."]}
        )
    rows = records_validate(records)
    if extra_tags:
        for row in rows:
            row["tags"] = row["tags"] + [t for t in extra_tags if t not in row["tags"]]
    _check_source_spans(dataset, rows)
    with transaction.atomic():
        locked = _lock_dataset(dataset)
        number = locked.latest_version + 1
        live = _live_by_record_id(locked, (r["record_id"] for r in rows))
        to_close: list[int] = []
        to_insert: list[DatasetRecord] = []
        added = updated = 0
        for row in rows:
            current = live.get(row["record_id"])
            if current is not None:
                if _same_content(current, row):
                    continue
                to_close.append(current.pk)
                updated += 1
            else:
                added += 1
            to_insert.append(_revision(locked, row, current, origin=origin, number=number))
        if not to_insert:
            return None
        _revisions_write(to_close=to_close, to_insert=to_insert, number=number)
        version = _commit_version(
            dataset=locked,
            number=number,
            author=_author(author),
            message=message,
            added=added,
            updated=updated,
            removed=0,
        )
        _audit_version(author, "dataset.records_upsert", locked, version)
    dataset.latest_version = number
    return version


def dataset_records_delete(
    *, dataset: Dataset, record_ids: list[str], author=None, message: str = ""
) -> DatasetVersion | None:
    """Remove records from the dataset as one new version (their history stays readable).

    Unknown ids are ignored; when none is live, no version is made and None is returned.
    """
    if not isinstance(record_ids, list) or not record_ids or not all(isinstance(r, str) for r in record_ids):
        raise ApplicationError(
            "Send a list of record ids.", fields={"record_ids": ["Must be a non-empty list of strings."]}
        )
    if len(record_ids) > MAX_RECORDS_PER_BATCH * 10:
        raise ApplicationError(
            "Too many record ids in one call.",
            status=413,
            fields={"record_ids": [f"At most {MAX_RECORDS_PER_BATCH * 10}."]},
        )
    with transaction.atomic():
        locked = _lock_dataset(dataset)
        number = locked.latest_version + 1
        live = _live_by_record_id(locked, set(record_ids))
        if not live:
            return None
        pks = [r.pk for r in live.values()]
        for i in range(0, len(pks), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=pks[i : i + ID_CHUNK]).update(version_to=number)
        version = _commit_version(
            dataset=locked, number=number, author=_author(author), message=message, added=0, updated=0, removed=len(pks)
        )
        _audit_version(author, "dataset.records_delete", locked, version)
    dataset.latest_version = number
    return version
