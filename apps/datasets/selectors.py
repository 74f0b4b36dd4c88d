"""Reads of datasets: a version's records, version resolution by number or tag, diffs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from apps.core.exceptions import ApplicationError

from .models import Dataset, DatasetJob, DatasetRecord, DatasetVersion, DatasetVersionTag

RECORD_CONTENT_FIELDS = ("input", "expected", "metadata", "tags", "splits")


def datasets_for_projects(*, projects) -> QuerySet[Dataset]:
    return Dataset.objects.filter(project__in=projects).select_related("project")


def _json_list_contains(queryset: QuerySet, field_name: str, value: str) -> QuerySet:
    """Rows whose JSON list column holds `value` (jsonb @> on PostgreSQL, json_each on SQLite)."""
    if connection.vendor == "postgresql":
        return queryset.filter(**{f"{field_name}__contains": [value]})
    table = DatasetRecord._meta.db_table
    column = DatasetRecord._meta.get_field(field_name).column
    # Table and column names come from the model, the value is a bound parameter.
    condition = RawSQL(  # noqa: S611
        f'EXISTS (SELECT 1 FROM json_each("{table}"."{column}") WHERE json_each.value = %s)',
        (value,),
    )
    return queryset.annotate(**{f"_has_{field_name}": condition}).filter(**{f"_has_{field_name}": True})


def dataset_records_at_version(
    *, dataset: Dataset, version: int | None = None, split: str | None = None, tag: str | None = None
) -> QuerySet[DatasetRecord]:
    """The records of `dataset` as of version `version` (None: the latest), in record_id order.

    `split` / `tag` keep records in that split / with that record tag.
    """
    qs = DatasetRecord.objects.filter(dataset=dataset)
    if version is None:
        qs = qs.filter(version_to__isnull=True)
    else:
        qs = qs.filter(version_from__lte=version).filter(Q(version_to__isnull=True) | Q(version_to__gt=version))
    if split:
        qs = _json_list_contains(qs, "splits", split)
    if tag:
        qs = _json_list_contains(qs, "tags", tag)
    return qs.order_by("record_id")


def dataset_version_resolve(
    *, dataset: Dataset, version: int | str | None = None, tag: str | None = None
) -> DatasetVersion:
    """The version named by number or by tag (neither: the latest). Unknown → ApplicationError 404."""
    if tag:
        found = DatasetVersionTag.objects.filter(dataset=dataset, name=tag).select_related("version").first()
        if found is None:
            raise ApplicationError(
                f"Dataset has no version tagged {tag!r}.", fields={"tag": ["Unknown tag."]}, status=404
            )
        return found.version
    if version is None or version == "":
        number = dataset.latest_version
        if not number:
            raise ApplicationError("Dataset has no versions yet.", fields={"version": ["No versions yet."]}, status=404)
    else:
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise ApplicationError(
                "Version must be a number.", fields={"version": ["Enter a whole number."]}, status=404
            )
    found = DatasetVersion.objects.filter(dataset=dataset, number=number).select_related("author").first()
    if found is None:
        raise ApplicationError(
            f"Dataset has no version {number}.", fields={"version": ["Unknown version."]}, status=404
        )
    return found


def dataset_versions(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).select_related("author").prefetch_related("tags")


def dataset_version_tags(*, dataset: Dataset) -> QuerySet[DatasetVersionTag]:
    return DatasetVersionTag.objects.filter(dataset=dataset).select_related("version", "updated_by")


def dataset_record_history(*, dataset: Dataset, record_id: str) -> QuerySet[DatasetRecord]:
    return DatasetRecord.objects.filter(dataset=dataset, record_id=record_id).order_by("-version_from")


def record_content(record: DatasetRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in RECORD_CONTENT_FIELDS}


@dataclass
class RecordChange:
    record_id: str
    # field → {"a": value in version a, "b": value in version b}
    fields: dict[str, dict[str, Any]]
    a: dict[str, Any]
    b: dict[str, Any]


@dataclass
class DatasetDiff:
    a: int
    b: int
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[RecordChange] = field(default_factory=list)
    truncated: bool = False
    totals: dict[str, int] = field(default_factory=lambda: {"added": 0, "removed": 0, "changed": 0})

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.totals)


def _version_number(dataset: Dataset, number: int, name: str) -> int:
    if number == 0:
        return 0  # the empty dataset before its first version
    if not DatasetVersion.objects.filter(dataset=dataset, number=number).exists():
        raise ApplicationError(f"Dataset has no version {number}.", fields={name: ["Unknown version."]}, status=404)
    return number


DIFF_BATCH = 500


def dataset_versions_diff(*, dataset: Dataset, a: int, b: int, limit: int | None = None) -> DatasetDiff:
    """Record-by-record, field-by-field difference from version `a` to version `b`.

    Revisions shared by both versions are the same rows, so only rows present on one side are
    considered: their ids first, then their content in batches (memory stays bounded however large
    the dataset). Counts are exact; with `limit`, each list keeps its first `limit` entries in
    record_id order and `truncated` says so.
    """
    a = _version_number(dataset, int(a), "a")
    b = _version_number(dataset, int(b), "b")
    diff = DatasetDiff(a=a, b=b)
    if a == b:
        return diff
    empty = DatasetRecord.objects.none()
    at_a = dataset_records_at_version(dataset=dataset, version=a) if a else empty
    at_b = dataset_records_at_version(dataset=dataset, version=b) if b else empty
    only_a = dict(at_a.exclude(pk__in=at_b.values("pk")).values_list("record_id", "pk")) if a else {}
    only_b = dict(at_b.exclude(pk__in=at_a.values("pk")).values_list("record_id", "pk")) if b else {}
    added = sorted(set(only_b) - set(only_a))
    removed = sorted(set(only_a) - set(only_b))
    both = sorted(set(only_a) & set(only_b))
    diff.totals["added"], diff.totals["removed"] = len(added), len(removed)

    def rows(pks: list[int]) -> dict[int, DatasetRecord]:
        return {r.pk: r for r in DatasetRecord.objects.filter(pk__in=pks)}

    keep = limit if limit is not None else len(added) + len(removed) + len(both)
    for ids, pk_map, target in ((added, only_b, diff.added), (removed, only_a, diff.removed)):
        shown = ids[:keep]
        for i in range(0, len(shown), DIFF_BATCH):
            loaded = rows([pk_map[r] for r in shown[i : i + DIFF_BATCH]])
            target.extend({"record_id": r, **record_content(loaded[pk_map[r]])} for r in shown[i : i + DIFF_BATCH])
    for i in range(0, len(both), DIFF_BATCH):
        chunk = both[i : i + DIFF_BATCH]
        loaded = rows([only_a[r] for r in chunk] + [only_b[r] for r in chunk])
        for record_id in chunk:
            ca, cb = record_content(loaded[only_a[record_id]]), record_content(loaded[only_b[record_id]])
            fields = {name: {"a": ca[name], "b": cb[name]} for name in RECORD_CONTENT_FIELDS if ca[name] != cb[name]}
            if fields:
                diff.totals["changed"] += 1
                if len(diff.changed) < keep:
                    diff.changed.append(RecordChange(record_id=record_id, fields=fields, a=ca, b=cb))
    diff.truncated = any(diff.totals[k] > len(getattr(diff, k)) for k in ("added", "removed", "changed"))
    return diff


def dataset_record_split_names(*, dataset: Dataset, version: int | None = None, limit: int = 10_000) -> list[str]:
    """Split names used in a version (for filter choices), from at most `limit` records."""
    names: set[str] = set()
    for splits in dataset_records_at_version(dataset=dataset, version=version).values_list("splits", flat=True)[:limit]:
        names.update(s for s in splits or [] if isinstance(s, str))
    return sorted(names)


def dataset_record_tag_names(*, dataset: Dataset, version: int | None = None, limit: int = 10_000) -> list[str]:
    names: set[str] = set()
    for tags in dataset_records_at_version(dataset=dataset, version=version).values_list("tags", flat=True)[:limit]:
        names.update(t for t in tags or [] if isinstance(t, str))
    return sorted(names)


def dataset_jobs_for_projects(*, projects) -> QuerySet[DatasetJob]:
    return DatasetJob.objects.filter(project__in=projects).select_related("dataset", "version")
