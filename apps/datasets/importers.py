"""Record import and export: readers (one per format) → column mapping → validation → one version.

CSV, JSON and XLSX are read with django-import-export's formats (tablib); JSON Lines with our small
reader. `DatasetRecordResource` (django-import-export) writes a version's records back out in the same
column layout, so an export re-imports unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from import_export import fields, resources
from import_export.formats import base_formats

from apps.core.exceptions import ApplicationError
from apps.core.parsing import JSON_PARSE_DEPTH_MAX, json_text_parse, value_clean

from .models import Dataset, DatasetRecord, DatasetVersion, RecordOrigin
from .services.records import dataset_records_upsert, records_validate

MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_BYTES = 50 * 1024 * 1024
WHOLE_TARGETS = ("record_id", "input", "expected", "metadata", "tags", "splits")
NESTED_TARGETS = ("input", "expected", "metadata")


# ---------------------------------------------------------------- readers


def _read_tablib(fmt, content: bytes) -> list[dict[str, Any]]:
    data = content if fmt.is_binary() else content.decode("utf-8-sig")
    dataset = fmt.create_dataset(data)
    headers = [str(h).strip() if h is not None else "" for h in (dataset.headers or [])]
    return [dict(zip(headers, row, strict=False)) for row in dataset]


def read_jsonl(content: bytes) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(content.decode("utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json_text_parse(line, field=f"line {number}", max_depth=JSON_PARSE_DEPTH_MAX)
        except ApplicationError as exc:
            if exc.message != "Malformed JSON.":
                raise
            raise ApplicationError(
                "The file is not valid JSON Lines.", fields={f"line {number}": sum(exc.fields.values(), [])}
            )
        except ValueError as exc:
            raise ApplicationError("The file is not valid JSON Lines.", fields={f"line {number}": [str(exc)]})
        if not isinstance(value, dict):
            raise ApplicationError("Each line must be a JSON object.", fields={f"line {number}": ["Not an object."]})
        rows.append(value)
    return rows


def read_json(content: bytes) -> list[dict[str, Any]]:
    try:
        value = json_text_parse(content.decode("utf-8-sig"), field="file", max_depth=JSON_PARSE_DEPTH_MAX)
    except ApplicationError as exc:
        if exc.message != "Malformed JSON.":
            raise
        raise ApplicationError("The file is not valid JSON.", fields={"file": sum(exc.fields.values(), [])})
    except ValueError as exc:
        raise ApplicationError("The file is not valid JSON.", fields={"file": [str(exc)]})
    if isinstance(value, dict) and isinstance(value.get("records"), list):
        value = value["records"]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApplicationError("A JSON import is a list of objects.", fields={"file": ["Expected [{...}, ...]."]})
    return value


READERS = {
    "csv": lambda content: _read_tablib(base_formats.CSV(), content),
    "xlsx": lambda content: _read_tablib(base_formats.XLSX(), content),
    # tablib flattens nothing, but reads only flat lists; nested objects are read directly.
    "json": read_json,
    "jsonl": read_jsonl,
}


def detect_format(filename: str, chosen: str = "auto") -> str:
    if chosen and chosen != "auto":
        return chosen
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    suffix = {"ndjson": "jsonl", "xls": "xlsx"}.get(suffix, suffix)
    if suffix not in READERS:
        raise ApplicationError(
            "Unknown file type; choose the format.", fields={"format": [f"Use one of {', '.join(READERS)}."]}
        )
    return suffix


def read_rows(*, content: bytes, filename: str, fmt: str = "auto") -> list[dict[str, Any]]:
    if len(content) > MAX_IMPORT_BYTES:
        raise ApplicationError("File too large.", fields={"file": [f"At most {MAX_IMPORT_BYTES} bytes."]}, status=413)
    fmt = detect_format(filename, fmt)
    try:
        rows = READERS[fmt](content)
    except ApplicationError:
        raise
    except Exception as exc:  # tablib/openpyxl raise many types for a broken file
        raise ApplicationError(
            f"Could not read the file as {fmt.upper()}.", fields={"file": [f"{exc.__class__.__name__}: {exc}"[:300]]}
        )
    if len(rows) > MAX_IMPORT_ROWS:
        raise ApplicationError(
            "Too many rows.", fields={"file": [f"At most {MAX_IMPORT_ROWS} rows per import."]}, status=413
        )
    if not rows:
        raise ApplicationError("The file has no rows.", fields={"file": ["No rows."]})
    # Every format's cells under the body rules: U+0000 stripped, lone surrogates and depth refused.
    return [value_clean(row, field=f"row {number}") for number, row in enumerate(rows, start=1)]


# ---------------------------------------------------------------- mapping


def _target_ok(target: str) -> bool:
    if target in WHOLE_TARGETS or target == "ignore":
        return True
    head, _, key = target.partition(".")
    return head in NESTED_TARGETS and bool(key)


def default_target(column: str) -> str:
    return column if _target_ok(column) else f"metadata.{column}"


def _cell(value: Any, *, parse_json: bool) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if parse_json and text[:1] in '{["' and text:
            try:
                return json_text_parse(text, field="cell", max_depth=JSON_PARSE_DEPTH_MAX)
            except (ApplicationError, ValueError):
                return value
        return value
    return value


def _set_path(target: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def rows_to_records(
    rows: list[dict[str, Any]],
    *,
    columns: dict[str, str] | None = None,
    tags: list[str] | None = None,
    splits: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Map file rows to record dicts. Errors name `rows[i].<column>`; the row index is 0-based, the line
    number in `row i+2` for a CSV with a header."""
    columns = columns or {}
    bad = {c: t for c, t in columns.items() if not _target_ok(t)}
    if bad:
        raise ApplicationError(
            "Invalid column mapping.", fields={f"columns.{c}": [f"Unknown target {t!r}."] for c, t in bad.items()}
        )
    records = []
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        record: dict[str, Any] = {}
        for column, raw in row.items():
            if column is None or column == "":
                continue
            target = columns.get(column) or default_target(column)
            if target == "ignore" or raw is None or raw == "":
                continue
            if target in ("input", "expected", "metadata"):
                value = _cell(raw, parse_json=True)
                if isinstance(record.get(target), dict) and isinstance(value, dict):
                    value = {**value, **record[target]}
                record[target] = value
            elif target in ("tags", "splits"):
                value = _cell(raw, parse_json=True)
                record[target] = (
                    value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
                )
            elif target == "record_id":
                record["record_id"] = (
                    str(raw).strip() if not isinstance(raw, float) or not raw.is_integer() else str(int(raw))
                )
            else:
                head, _, key = target.partition(".")
                existing = record.get(head)
                if existing is None:
                    existing = record[head] = {}
                if not isinstance(existing, dict):
                    errors.setdefault(f"rows[{index}].{column}", []).append(
                        f"{head} is already a plain value; cannot set {target}."
                    )
                    continue
                _set_path(existing, key, _cell(raw, parse_json=False))
        for name, extra in (("tags", tags), ("splits", splits)):
            if extra:
                current = record.get(name) if isinstance(record.get(name), list) else []
                record[name] = current + [v for v in extra if v not in current]
        records.append(record)
    if errors:
        raise ApplicationError("Some rows could not be mapped; nothing was written.", fields=errors)
    return records


def _rename_errors(exc: ApplicationError) -> ApplicationError:
    fields = {key.replace("records[", "rows[", 1): value for key, value in exc.fields.items()}
    return ApplicationError(exc.message, fields=fields, status=exc.status)


def dataset_import_file(
    *,
    dataset: Dataset,
    content: bytes,
    filename: str,
    fmt: str = "auto",
    columns: dict[str, str] | None = None,
    tags: list[str] | None = None,
    splits: list[str] | None = None,
    author=None,
    message: str = "",
    dry_run: bool = False,
) -> tuple[int, DatasetVersion | None]:
    """Validate every row, then commit them all as ONE version (origin import). Returns (rows, version)."""
    rows = read_rows(content=content, filename=filename, fmt=fmt)
    records = rows_to_records(rows, columns=columns, tags=tags, splits=splits)
    try:
        if dry_run:
            records_validate(records)
            return len(records), None
        version = dataset_records_upsert(
            dataset=dataset,
            records=records,
            author=author,
            origin=RecordOrigin.IMPORT,
            message=message or f"Import {filename}"[:500],
        )
    except ApplicationError as exc:
        raise _rename_errors(exc)
    return len(records), version


# ---------------------------------------------------------------- export (django-import-export)


class JSONColumn(fields.Field):
    def get_value(self, obj):
        value = super().get_value(obj)
        return None if value is None else json.dumps(value, ensure_ascii=False)


class DatasetRecordResource(resources.ModelResource):
    """A version's records as flat rows: JSON columns are JSON text, tags and splits comma-separated."""

    input = JSONColumn(attribute="input", column_name="input")
    expected = JSONColumn(attribute="expected", column_name="expected")
    metadata = JSONColumn(attribute="metadata", column_name="metadata")
    tags = fields.Field(column_name="tags")
    splits = fields.Field(column_name="splits")

    class Meta:
        model = DatasetRecord
        fields = ("record_id", "input", "expected", "metadata", "tags", "splits", "origin", "version_from")
        export_order = fields

    def dehydrate_tags(self, record):
        return ",".join(record.tags or [])

    def dehydrate_splits(self, record):
        return ",".join(record.splits or [])


EXPORT_FORMATS = {"csv": base_formats.CSV, "json": base_formats.JSON, "xlsx": base_formats.XLSX}


def records_export(*, queryset, fmt: str) -> tuple[bytes | str, str]:
    """The records as a file in `fmt` (csv, json, xlsx): (content, content type)."""
    format_class = EXPORT_FORMATS[fmt]()
    data = DatasetRecordResource().export(queryset=queryset)
    return format_class.export_data(data), format_class.get_content_type()
