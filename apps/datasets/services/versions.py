"""Versions: the write lock and commit every write batch shares, restoring a version, version tags."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError

from ..models import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    DatasetVersionTag,
)
from ..selectors import RECORD_CONTENT_FIELDS, dataset_records_at_version, dataset_version_resolve

TAG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# Fetch live revisions in chunks: SQLite limits the number of query parameters.
ID_CHUNK = 500


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


def _same_content(record: DatasetRecord, row: dict[str, Any]) -> bool:
    return all(getattr(record, name) == row[name] for name in RECORD_CONTENT_FIELDS)


def _revisions_write(*, to_close: list[int], to_insert: list[DatasetRecord], number: int) -> None:
    """Close the live revisions `to_close` at version `number` and insert the new ones."""
    for i in range(0, len(to_close), ID_CHUNK):
        DatasetRecord.objects.filter(pk__in=to_close[i : i + ID_CHUNK]).update(version_to=number)
    DatasetRecord.objects.bulk_create(to_insert, batch_size=1000)


def _commit_version(
    *,
    dataset: Dataset,
    number: int,
    author,
    message: str,
    added: int,
    updated: int,
    removed: int,
    restored_from: int | None = None,
) -> DatasetVersion:
    live_count = (
        DatasetRecord.objects.filter(dataset=dataset, version_to__isnull=True).count()
        if number == 1 or restored_from
        else None
    )
    if live_count is None:
        previous = (
            DatasetVersion.objects.filter(dataset=dataset, number=number - 1)
            .values_list("record_count", flat=True)
            .first()
            or 0
        )
        live_count = previous + added - removed
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        message=(message or "")[:500],
        author=author,
        added=added,
        updated=updated,
        removed=removed,
        record_count=live_count,
        restored_from=restored_from,
    )
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=number, updated_at=timezone.now())
    dataset.latest_version = number
    return version


def _author(author):
    return author if getattr(author, "is_authenticated", False) else None


def _audit_version(actor, action: str, dataset: Dataset, version: DatasetVersion) -> None:
    # `actor` may be an API key (the version's author column keeps users only).
    audit_record(
        actor=actor,
        action=action,
        obj=dataset,
        before={"latest_version": version.number - 1},
        after={
            "version": version.number,
            "added": version.added,
            "updated": version.updated,
            "removed": version.removed,
            "restored_from": version.restored_from,
            "message": version.message,
        },
    )


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
            to_insert.append(
                DatasetRecord(
                    dataset=locked,
                    record_id=was.record_id,
                    input=was.input,
                    expected=was.expected,
                    metadata=was.metadata,
                    tags=was.tags,
                    splits=was.splits,
                    origin=was.origin,
                    source_span_id=was.source_span_id,
                    version_from=number,
                )
            )
        if not to_close and not to_insert:
            return None
        _revisions_write(to_close=to_close, to_insert=to_insert, number=number)
        result = _commit_version(
            dataset=locked,
            number=number,
            author=_author(author),
            message=message or f"Restore version {target}",
            added=added,
            updated=updated,
            removed=removed,
            restored_from=target,
        )
        _audit_version(author, "dataset.version_restore", locked, result)
    dataset.latest_version = number
    return result


@transaction.atomic
def dataset_version_tag_set(*, dataset: Dataset, name: str, version: int, author=None) -> DatasetVersionTag:
    """Point the tag `name` (prod, baseline…) at `version`, creating it or moving it."""
    name = (name or "").strip()
    if not TAG_NAME_RE.match(name):
        raise ApplicationError(
            "Invalid tag name.",
            fields={"name": ["Start with a letter; then letters, digits, '_', '.' or '-' (at most 64)."]},
        )
    target = dataset_version_resolve(dataset=dataset, version=version)
    previous = (
        DatasetVersionTag.objects.filter(dataset=dataset, name=name).values_list("version__number", flat=True).first()
    )
    tag, _ = DatasetVersionTag.objects.update_or_create(
        dataset=dataset,
        name=name,
        defaults={"version": target, "updated_by": _author(author)},
    )
    audit_record(
        actor=author,
        action="dataset.tag_set",
        obj=dataset,
        object_repr=f"{dataset} tag {name}",
        before={"tag": name, "version": previous},
        after={"tag": name, "version": target.number},
    )
    return tag


@transaction.atomic
def dataset_version_tag_delete(*, dataset: Dataset, name: str, actor: Any = None) -> None:
    previous = (
        DatasetVersionTag.objects.filter(dataset=dataset, name=name).values_list("version__number", flat=True).first()
    )
    audit_record(actor=actor, action="dataset.tag_delete", obj=dataset, before={"tag": name, "version": previous})
    deleted, _ = DatasetVersionTag.objects.filter(dataset=dataset, name=name).delete()
    if not deleted:
        raise ApplicationError(f"Dataset has no version tagged {name!r}.", fields={"tag": ["Unknown tag."]}, status=404)
