"""Every write to a dataset. Each write batch locks the dataset row, makes exactly one version and
touches only the records it changes."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from .models import Dataset, DatasetRecord, DatasetVersion, DatasetVersionTag, RecordOrigin
from .selectors import RECORD_CONTENT_FIELDS, dataset_records_at_version, dataset_version_resolve

MAX_RECORDS_PER_BATCH = 1000
RECORD_KEYS = {"record_id", "input", "expected", "metadata", "tags", "splits", "source_span_id"}
RECORD_ID_MAX = 255
LABEL_MAX = 100
LABELS_PER_RECORD = 50
SPLIT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TAG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# Fetch live revisions in chunks: SQLite limits the number of query parameters.
ID_CHUNK = 500


# ---------------------------------------------------------------- datasets


@transaction.atomic
def dataset_create(*, project: Project, name: str, description: str = "", created_by=None) -> Dataset:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A dataset needs a name.", fields={"name": ["This field is required."]})
    if len(name) > 200:
        raise ApplicationError("Name too long.", fields={"name": ["At most 200 characters."]})
    if Dataset.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"Dataset {name!r} exists.", fields={"name": ["A dataset with this name exists."]})
    return Dataset.objects.create(project=project, name=name, description=description or "", created_by=created_by)


@transaction.atomic
def dataset_update(*, dataset: Dataset, name: str | None = None, description: str | None = None) -> Dataset:
    if name is not None:
        name = name.strip()
        if not name:
            raise ApplicationError("A dataset needs a name.", fields={"name": ["This field is required."]})
        if Dataset.objects.filter(project=dataset.project, name=name).exclude(pk=dataset.pk).exists():
            raise ApplicationError(f"Dataset {name!r} exists.", fields={"name": ["A dataset with this name exists."]})
        dataset.name = name
    if description is not None:
        dataset.description = description
    dataset.save(update_fields=["name", "description", "updated_at"])
    return dataset


def dataset_get_or_create(*, project: Project, name: str, created_by=None) -> Dataset:
    existing = Dataset.objects.filter(project=project, name=(name or "").strip()).first()
    return existing or dataset_create(project=project, name=name, created_by=created_by)


# ---------------------------------------------------------------- validation


def _json_error(value: Any) -> str | None:
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
        record_id = row.get("record_id")
        if record_id is None or record_id == "":
            record_id = uuid.uuid4().hex
        elif isinstance(record_id, int | float) and not isinstance(record_id, bool):
            record_id = str(record_id)
        if not isinstance(record_id, str) or not record_id.strip():
            errors[f"{where}.record_id"] = ["Must be a non-empty string."]
        elif len(record_id.strip()) > RECORD_ID_MAX:
            errors[f"{where}.record_id"] = [f"At most {RECORD_ID_MAX} characters."]
        else:
            record_id = record_id.strip()
            if record_id in seen:
                errors[f"{where}.record_id"] = [f"Duplicate of records[{seen[record_id]}] in this batch."]
            seen[record_id] = index
        if "input" not in row or row["input"] is None:
            errors[f"{where}.input"] = ["This field is required."]
        for key in ("input", "expected"):
            if row.get(key) is not None and (msg := _json_error(row[key])):
                errors[f"{where}.{key}"] = [msg]
        metadata = row.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            errors[f"{where}.metadata"] = ["Must be an object."]
        elif msg := _json_error(metadata):
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
        cleaned.append({
            "record_id": record_id, "input": row.get("input"), "expected": row.get("expected"),
            "metadata": metadata, "tags": tags, "splits": splits, "source_span_id": source_span_id,
        })
    if errors:
        raise ApplicationError(f"{len({k.split('.')[0] for k in errors})} record(s) are invalid; nothing was written.",
                               fields=errors)
    return cleaned


def _check_source_spans(dataset: Dataset, rows: list[dict[str, Any]]) -> None:
    ids = {r["source_span_id"] for r in rows if r["source_span_id"] is not None}
    if not ids:
        return
    from apps.traces.models import Span

    known: set[int] = set()
    id_list = list(ids)
    for i in range(0, len(id_list), ID_CHUNK):
        known.update(Span.objects.filter(project_id=dataset.project_id, pk__in=id_list[i:i + ID_CHUNK])
                     .values_list("pk", flat=True))
    errors = {f"records[{i}].source_span_id": ["Unknown span."]
              for i, r in enumerate(rows) if r["source_span_id"] is not None and r["source_span_id"] not in known}
    if errors:
        raise ApplicationError("Unknown source spans; nothing was written.", fields=errors)


# ---------------------------------------------------------------- versions


def _lock_dataset(dataset: Dataset) -> Dataset:
    """Take the dataset's write lock for this transaction and return its fresh row."""
    if connection.vendor == "sqlite":
        # A write first takes SQLite's database lock now (waiting on the busy timeout), so the
        # read of latest_version below cannot race another writer.
        Dataset.objects.filter(pk=dataset.pk).update(updated_at=timezone.now())
    locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    if locked is None:
        raise ApplicationError("Dataset not found.", status=404)
    return locked


def _live_by_record_id(dataset: Dataset, record_ids: Iterable[str]) -> dict[str, DatasetRecord]:
    ids = list(record_ids)
    live: dict[str, DatasetRecord] = {}
    for i in range(0, len(ids), ID_CHUNK):
        for rec in DatasetRecord.objects.filter(dataset=dataset, version_to__isnull=True,
                                                record_id__in=ids[i:i + ID_CHUNK]):
            live[rec.record_id] = rec
    return live


def _same_content(record: DatasetRecord, row: dict[str, Any]) -> bool:
    return all(getattr(record, name) == row[name] for name in RECORD_CONTENT_FIELDS)


def _commit_version(
    *, dataset: Dataset, number: int, author, message: str, added: int, updated: int, removed: int,
    restored_from: int | None = None,
) -> DatasetVersion:
    live_count = DatasetRecord.objects.filter(dataset=dataset, version_to__isnull=True).count() \
        if number == 1 or restored_from else None
    if live_count is None:
        previous = DatasetVersion.objects.filter(dataset=dataset, number=number - 1).values_list(
            "record_count", flat=True).first() or 0
        live_count = previous + added - removed
    version = DatasetVersion.objects.create(
        dataset=dataset, number=number, message=(message or "")[:500], author=author,
        added=added, updated=updated, removed=removed, record_count=live_count, restored_from=restored_from,
    )
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=number, updated_at=timezone.now())
    dataset.latest_version = number
    return version


def _author(author):
    return author if getattr(author, "is_authenticated", False) else None


def dataset_records_upsert(
    *, dataset: Dataset, records: list[dict], author=None, message: str = "", origin: str = RecordOrigin.MANUAL,
    extra_tags: list[str] | None = None,
) -> DatasetVersion | None:
    """Insert or update records by `record_id` as ONE new version.

    Every row is validated before anything is written (errors name `records[i].field`). Rows equal
    to their live revision write nothing; when no row changes, no version is made and None is returned.
    """
    if origin not in RecordOrigin.values:
        raise ApplicationError("Unknown origin.", fields={"origin": [f"Choose one of {', '.join(RecordOrigin.values)}."]})
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
            to_insert.append(DatasetRecord(
                dataset=locked, record_id=row["record_id"], input=row["input"], expected=row["expected"],
                metadata=row["metadata"], tags=row["tags"], splits=row["splits"], origin=origin,
                source_span_id=row["source_span_id"] if row["source_span_id"] is not None
                else (current.source_span_id if current is not None else None),
                version_from=number,
            ))
        if not to_insert:
            return None
        for i in range(0, len(to_close), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=to_close[i:i + ID_CHUNK]).update(version_to=number)
        DatasetRecord.objects.bulk_create(to_insert, batch_size=1000)
        version = _commit_version(dataset=locked, number=number, author=_author(author), message=message,
                                  added=added, updated=updated, removed=0)
    dataset.latest_version = number
    return version


def dataset_records_delete(
    *, dataset: Dataset, record_ids: list[str], author=None, message: str = ""
) -> DatasetVersion | None:
    """Remove records from the dataset as one new version (their history stays readable).

    Unknown ids are ignored; when none is live, no version is made and None is returned.
    """
    if not isinstance(record_ids, list) or not record_ids or not all(isinstance(r, str) for r in record_ids):
        raise ApplicationError("Send a list of record ids.", fields={"record_ids": ["Must be a non-empty list of strings."]})
    if len(record_ids) > MAX_RECORDS_PER_BATCH * 10:
        raise ApplicationError("Too many record ids in one call.", status=413,
                               fields={"record_ids": [f"At most {MAX_RECORDS_PER_BATCH * 10}."]})
    with transaction.atomic():
        locked = _lock_dataset(dataset)
        number = locked.latest_version + 1
        live = _live_by_record_id(locked, set(record_ids))
        if not live:
            return None
        pks = [r.pk for r in live.values()]
        for i in range(0, len(pks), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=pks[i:i + ID_CHUNK]).update(version_to=number)
        version = _commit_version(dataset=locked, number=number, author=_author(author), message=message,
                                  added=0, updated=0, removed=len(pks))
    dataset.latest_version = number
    return version


def dataset_version_restore(*, dataset: Dataset, version: int, author=None, message: str = "") -> DatasetVersion | None:
    """Make a new version whose records equal those of `version`. None when the latest already equals it."""
    target = dataset_version_resolve(dataset=dataset, version=version).number
    with transaction.atomic():
        locked = _lock_dataset(dataset)
        number = locked.latest_version + 1
        at_target = dataset_records_at_version(dataset=locked, version=target)
        live = dataset_records_at_version(dataset=locked)
        # Rows shared by both are untouched; only the differing ones are compared.
        old = {r.record_id: r for r in at_target.exclude(pk__in=live.values("pk"))}
        current = {r.record_id: r for r in live.exclude(pk__in=at_target.values("pk"))}
        to_close: list[int] = []
        to_insert: list[DatasetRecord] = []
        added = updated = removed = 0
        for record_id in sorted(set(old) | set(current)):
            was, now = old.get(record_id), current.get(record_id)
            if was is None:
                to_close.append(now.pk)
                removed += 1
                continue
            if now is not None:
                if _same_content(now, {name: getattr(was, name) for name in RECORD_CONTENT_FIELDS}):
                    continue
                to_close.append(now.pk)
                updated += 1
            else:
                added += 1
            to_insert.append(DatasetRecord(
                dataset=locked, record_id=was.record_id, input=was.input, expected=was.expected,
                metadata=was.metadata, tags=was.tags, splits=was.splits, origin=was.origin,
                source_span_id=was.source_span_id, version_from=number,
            ))
        if not to_close and not to_insert:
            return None
        for i in range(0, len(to_close), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=to_close[i:i + ID_CHUNK]).update(version_to=number)
        DatasetRecord.objects.bulk_create(to_insert, batch_size=1000)
        result = _commit_version(dataset=locked, number=number, author=_author(author),
                                 message=message or f"Restore version {target}",
                                 added=added, updated=updated, removed=removed, restored_from=target)
    dataset.latest_version = number
    return result


@transaction.atomic
def dataset_version_tag_set(*, dataset: Dataset, name: str, version: int, author=None) -> DatasetVersionTag:
    """Point the tag `name` (prod, baseline…) at `version`, creating it or moving it."""
    name = (name or "").strip()
    if not TAG_NAME_RE.match(name):
        raise ApplicationError("Invalid tag name.", fields={
            "name": ["Start with a letter; then letters, digits, '_', '.' or '-' (at most 64)."]})
    target = dataset_version_resolve(dataset=dataset, version=version)
    tag, _ = DatasetVersionTag.objects.update_or_create(
        dataset=dataset, name=name, defaults={"version": target, "updated_by": _author(author)},
    )
    return tag


@transaction.atomic
def dataset_version_tag_delete(*, dataset: Dataset, name: str) -> None:
    deleted, _ = DatasetVersionTag.objects.filter(dataset=dataset, name=name).delete()
    if not deleted:
        raise ApplicationError(f"Dataset has no version tagged {name!r}.", fields={"tag": ["Unknown tag."]},
                               status=404)


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    dataset.delete()
