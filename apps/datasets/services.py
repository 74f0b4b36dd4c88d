"""Every write to a dataset. Each write batch locks the dataset row, makes exactly one version and
touches only the records it changes."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from .gold import gold_expected, record_gold_metadata, spans_gold
from .models import (
    Dataset,
    DatasetJob,
    DatasetRecord,
    DatasetVersion,
    DatasetVersionTag,
    JobStatus,
    RecordOrigin,
)
from .selectors import RECORD_CONTENT_FIELDS, dataset_records_at_version, dataset_version_resolve

logger = logging.getLogger(__name__)

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
def dataset_create(
    *, project: Project, name: str, description: str = "", created_by=None, actor: Any = None
) -> Dataset:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A dataset needs a name.", fields={"name": ["This field is required."]})
    if len(name) > 200:
        raise ApplicationError("Name too long.", fields={"name": ["At most 200 characters."]})
    if Dataset.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"Dataset {name!r} exists.", fields={"name": ["A dataset with this name exists."]})
    dataset = Dataset.objects.create(project=project, name=name, description=description or "", created_by=created_by)
    audit_record(actor=actor or created_by, action="dataset.create", obj=dataset, after=audit_snapshot(dataset))
    return dataset


@transaction.atomic
def dataset_update(
    *, dataset: Dataset, name: str | None = None, description: str | None = None, actor: Any = None
) -> Dataset:
    before = audit_snapshot(dataset)
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
    audit_record_change(actor=actor, action="dataset.update", obj=dataset, before=before)
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
        for rec in DatasetRecord.objects.filter(
            dataset=dataset, version_to__isnull=True, record_id__in=ids[i : i + ID_CHUNK]
        ):
            live[rec.record_id] = rec
    return live


def _same_content(record: DatasetRecord, row: dict[str, Any]) -> bool:
    return all(getattr(record, name) == row[name] for name in RECORD_CONTENT_FIELDS)


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
            to_insert.append(
                DatasetRecord(
                    dataset=locked,
                    record_id=row["record_id"],
                    input=row["input"],
                    expected=row["expected"],
                    metadata=row["metadata"],
                    tags=row["tags"],
                    splits=row["splits"],
                    origin=origin,
                    source_span_id=row["source_span_id"]
                    if row["source_span_id"] is not None
                    else (current.source_span_id if current is not None else None),
                    version_from=number,
                )
            )
        if not to_insert:
            return None
        for i in range(0, len(to_close), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=to_close[i : i + ID_CHUNK]).update(version_to=number)
        DatasetRecord.objects.bulk_create(to_insert, batch_size=1000)
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
        for i in range(0, len(to_close), ID_CHUNK):
            DatasetRecord.objects.filter(pk__in=to_close[i : i + ID_CHUNK]).update(version_to=number)
        DatasetRecord.objects.bulk_create(to_insert, batch_size=1000)
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


@transaction.atomic
def dataset_delete(*, dataset: Dataset, actor: Any = None) -> None:
    audit_record(actor=actor, action="dataset.delete", obj=dataset, before=audit_snapshot(dataset))
    dataset.delete()


# ---------------------------------------------------------------- from logs and feedback

SPAN_ASYNC_THRESHOLD = 1000
EXPECTED_SOURCES = ("auto", "gold", "output", "correction", "none")
METADATA_KEY_MAX = 200


@dataclass
class SpanMapping:
    """How a span becomes a record."""

    input_path: str = ""  # JSONPath into the span's input; empty: the whole input
    expected_source: str = "auto"  # auto: the gold Expected if any, else the correction, else the output
    expected_path: str = ""  # JSONPath into the output, when expected comes from the output
    metadata_keys: list[str] = field(default_factory=list)  # span metadata keys to keep; "*" keeps all
    carry_annotations: bool = False  # scores, tags, comments → metadata["annotations"]
    tags: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jsonpath(expression: str, name: str, errors: dict[str, list[str]]):
    if not expression:
        return None
    from jsonpath_ng.ext import parse

    try:
        return parse(expression)
    except Exception as exc:  # jsonpath-ng raises several parser error types
        errors[name] = [f"Not a valid JSONPath: {exc}"]
        return None


def span_mapping_clean(data: Any) -> SpanMapping:
    """A SpanMapping from user input (a dict); ApplicationError naming `mapping.<field>` otherwise."""
    if data is None:
        data = {}
    if isinstance(data, SpanMapping):
        data = data.as_dict()
    if not isinstance(data, dict):
        raise ApplicationError("Invalid mapping.", fields={"mapping": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    known = set(SpanMapping.__dataclass_fields__)
    for key in sorted(set(data) - known):
        errors[f"mapping.{key}"] = ["Unknown field."]
    out = SpanMapping()
    for key in ("input_path", "expected_path"):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value) > 500:
            errors[f"mapping.{key}"] = ["Must be a JSONPath string (at most 500 characters)."]
            continue
        setattr(out, key, value.strip())
        _jsonpath(value.strip(), f"mapping.{key}", errors)
    source = data.get("expected_source") or "auto"
    if source not in EXPECTED_SOURCES:
        errors["mapping.expected_source"] = [f"Choose one of {', '.join(EXPECTED_SOURCES)}."]
    out.expected_source = source
    keys = data.get("metadata_keys") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list) or not all(isinstance(k, str) and 0 < len(k) <= METADATA_KEY_MAX for k in keys):
        errors["mapping.metadata_keys"] = ["Must be a list of metadata keys."]
    else:
        out.metadata_keys = keys
    out.carry_annotations = bool(data.get("carry_annotations", False))
    for key in ("tags", "splits"):
        labels, msg = _labels(data.get(key), kind=key)
        if msg:
            errors[f"mapping.{key}"] = [msg]
        else:
            setattr(out, key, labels)
    if errors:
        raise ApplicationError("Invalid mapping.", fields=errors)
    return out


def _extract(value: Any, expression) -> Any:
    if expression is None:
        return value
    matches = [m.value for m in expression.find(value)] if value is not None else []
    if not matches:
        return None
    return matches[0] if len(matches) == 1 else matches


def _span_annotations(span_pks: list[int]) -> dict[int, dict[str, Any]]:
    from apps.reviews import selectors as review_selectors

    bulk = review_selectors.span_annotations_bulk(span_pks)
    return {pk: _jsonable(value) for pk, value in bulk.items()}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def span_to_record(
    span,
    mapping: SpanMapping,
    *,
    annotations: dict[str, Any] | None = None,
    input_expr=None,
    expected_expr=None,
    gold: dict | None = None,
) -> dict[str, Any]:
    """The record a span becomes under `mapping` (record_id `span:<span_id>`, so re-adding updates it);
    `gold`: the span's gold (apps/datasets/gold.py)."""
    output = _extract(span.output, expected_expr)
    has_gold, gold_value = gold_expected(gold)
    from_gold = mapping.expected_source == "gold" or (mapping.expected_source == "auto" and has_gold)
    if from_gold:
        expected = gold_value
    elif mapping.expected_source == "auto":
        expected = span.expected if span.expected is not None else output
    elif mapping.expected_source == "output":
        expected = output
    elif mapping.expected_source == "correction":
        expected = span.expected
    else:
        expected = None
    span_metadata = span.metadata if isinstance(span.metadata, dict) else {}
    if "*" in mapping.metadata_keys:
        metadata = dict(span_metadata)
    else:
        metadata = {k: span_metadata[k] for k in mapping.metadata_keys if k in span_metadata}
    metadata["source"] = {"span_id": span.span_id, "trace_id": span.trace.trace_id, "span_name": span.name}
    if annotations is not None:
        metadata["annotations"] = annotations
    if gold is not None:
        metadata["assay"] = record_gold_metadata(gold, expected_from_gold=has_gold and from_gold)
    return {
        "record_id": f"span:{span.span_id}",
        "input": _extract(span.input, input_expr),
        "expected": expected,
        "metadata": metadata,
        "tags": list(mapping.tags),
        "splits": list(mapping.splits),
        "source_span_id": span.pk,
    }


@dataclass
class AddSpansResult:
    version: DatasetVersion | None
    spans: int = 0
    skipped: list[str] = field(default_factory=list)  # span ids whose mapped input was empty


def _span_chunks(dataset: Dataset, spans_queryset, span_pks: list[int] | None, size: int = 500):
    from apps.traces.models import Span

    if span_pks is not None:
        for i in range(0, len(span_pks), size):
            yield list(
                Span.objects.filter(project_id=dataset.project_id, pk__in=span_pks[i : i + size])
                .select_related("trace")
                .order_by("pk")
            )
        return
    chunk: list = []
    for span in (
        spans_queryset.filter(project_id=dataset.project_id)
        .select_related("trace")
        .order_by("pk")
        .iterator(chunk_size=size)
    ):
        chunk.append(span)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def dataset_add_spans(
    *,
    dataset: Dataset,
    spans_queryset=None,
    mapping: SpanMapping | dict,
    author=None,
    message: str = "",
    origin: str = RecordOrigin.LOG,
    progress=None,
    span_pks: list[int] | None = None,
) -> AddSpansResult:
    """Add (or update) one record per span of `spans_queryset` (or `span_pks`) in the dataset's project,
    as ONE version.

    Spans are read in chunks; `progress(done, total)` is called after each chunk. Spans whose mapped
    input is empty are skipped and reported.
    """
    mapping = span_mapping_clean(mapping)
    errors: dict[str, list[str]] = {}
    input_expr = _jsonpath(mapping.input_path, "mapping.input_path", errors)
    expected_expr = _jsonpath(mapping.expected_path, "mapping.expected_path", errors)
    if span_pks is not None:
        span_pks = sorted({int(pk) for pk in span_pks})
        total = len(span_pks)
    else:
        total = spans_queryset.filter(project_id=dataset.project_id).count()
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    done = 0
    for chunk in _span_chunks(dataset, spans_queryset, span_pks):
        notes = _span_annotations([s.pk for s in chunk]) if mapping.carry_annotations else {}
        golds = spans_gold([s.pk for s in chunk])
        for span in chunk:
            row = span_to_record(
                span,
                mapping,
                annotations=notes.get(span.pk, {}) if mapping.carry_annotations else None,
                input_expr=input_expr,
                expected_expr=expected_expr,
                gold=golds.get(span.pk),
            )
            if row["input"] is None:
                skipped.append(span.span_id)
            else:
                rows.append(row)
        done += len(chunk)
        if progress:
            progress(min(done, total), total)
    if not rows:
        return AddSpansResult(version=None, spans=done, skipped=skipped)
    version = dataset_records_upsert(
        dataset=dataset, records=rows, author=author, origin=origin, message=message or f"Add {len(rows)} span(s)"
    )
    return AddSpansResult(version=version, spans=done, skipped=skipped)


def feedback_spans(*, project: Project):
    """Spans with negative end-user feedback that carry a correction."""
    from apps.reviews import selectors as review_selectors

    return review_selectors.spans_with_negative_feedback(project).filter(expected__isnull=False)


def dataset_add_from_feedback(
    *,
    dataset: Dataset,
    author=None,
    spans_queryset=None,
    mapping: SpanMapping | dict | None = None,
    message: str = "",
    progress=None,
) -> AddSpansResult:
    """Turn spans with negative end-user feedback and a correction into records whose expected is it."""
    spans = feedback_spans(project=dataset.project)
    if spans_queryset is not None:
        spans = spans.filter(pk__in=spans_queryset.values("pk"))
    if not isinstance(mapping, SpanMapping):
        # Why the end user was unhappy (their scores and comments) is worth keeping by default.
        mapping = {"carry_annotations": True, **(mapping or {})}
    mapping = span_mapping_clean(mapping)
    mapping.expected_source = "correction"
    return dataset_add_spans(
        dataset=dataset,
        spans_queryset=spans,
        mapping=mapping,
        author=author,
        origin=RecordOrigin.FEEDBACK,
        message=message or "Add corrected negative feedback",
        progress=progress,
    )


# ---------------------------------------------------------------- jobs


def dataset_job_start(
    *,
    dataset: Dataset,
    kind: str,
    span_pks: list[int],
    mapping: SpanMapping | dict,
    author=None,
    message: str = "",
) -> DatasetJob:
    """Queue a long add-spans write as a Celery job (dispatched once this transaction commits)."""
    mapping = span_mapping_clean(mapping)
    if kind not in DatasetJob.Kind.values:
        raise ApplicationError("Unknown job kind.", fields={"kind": ["Unknown."]})
    job = DatasetJob.objects.create(
        project_id=dataset.project_id,
        dataset=dataset,
        kind=kind,
        total=len(span_pks),
        params={"span_pks": list(span_pks), "mapping": mapping.as_dict(), "message": message},
        requested_by=_author(author),
    )
    from .tasks import dataset_job_run

    transaction.on_commit(lambda: dataset_job_run.delay(job.pk))
    return job


def dataset_job_execute(*, job_id: int) -> DatasetJob | None:
    """Run a queued job (a re-delivered job runs again: upserts of unchanged rows write nothing)."""
    job = DatasetJob.objects.select_related("dataset", "requested_by").filter(pk=job_id).first()
    if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) or job.dataset is None:
        return job
    DatasetJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, updated_at=timezone.now())

    def progress(done: int, total: int) -> None:
        DatasetJob.objects.filter(pk=job.pk).update(done=done, total=total, updated_at=timezone.now())

    params = job.params or {}
    mapping = dict(params.get("mapping") or {})
    origin = RecordOrigin.LOG
    if job.kind == DatasetJob.Kind.FROM_FEEDBACK:
        # The pks were chosen from the feedback selector when the job started.
        mapping["expected_source"] = "correction"
        origin = RecordOrigin.FEEDBACK
    try:
        result = dataset_add_spans(
            dataset=job.dataset,
            span_pks=params.get("span_pks") or [],
            mapping=mapping,
            author=job.requested_by,
            message=params.get("message") or "",
            origin=origin,
            progress=progress,
        )
    except ApplicationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in list(exc.fields.items())[:10])
        _job_finish(job, status=JobStatus.FAILED, error=f"{exc.message} {detail}".strip())
    except Exception as exc:  # recorded on the job row for the user; the worker log has the traceback
        logger.exception("dataset job %s failed", job.pk)
        _job_finish(job, status=JobStatus.FAILED, error=f"Unexpected error: {exc.__class__.__name__}")
    else:
        _job_finish(
            job,
            status=JobStatus.SUCCEEDED,
            version=result.version,
            result={"spans": result.spans, "skipped": len(result.skipped), "skipped_span_ids": result.skipped[:50]},
        )
    job.refresh_from_db()
    return job


def _job_finish(job: DatasetJob, *, status: str, error: str = "", version=None, result=None) -> None:
    params = dict(job.params or {})
    params.pop("span_pks", None)  # no need to keep a large selection once done
    if result is not None:
        params["result"] = result
    fields = {
        "status": status,
        "error": error[:5000],
        "finished_at": timezone.now(),
        "updated_at": timezone.now(),
        "params": params,
    }
    if status == JobStatus.SUCCEEDED:
        fields["done"] = job.total if job.total else 0
        DatasetJob.objects.filter(pk=job.pk).update(version=version, **fields)
    else:
        DatasetJob.objects.filter(pk=job.pk).update(**fields)
