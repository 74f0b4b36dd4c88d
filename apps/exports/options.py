"""Format options of an export job or schedule (`ExportJob.options`), checked before a job is saved."""

from __future__ import annotations

from apps.core.exceptions import ApplicationError

from .models import ExportFormat, ExportSource

# option -> (what it does, the formats it applies to, the sources it applies to)
OPTIONS: dict[str, tuple[str, set[str], set[str]]] = {
    "reviewer_scores": (
        "CSV: a score.<config>.<reviewer> column per reviewer next to each config's mean.",
        {ExportFormat.CSV},
        {ExportSource.SPANS, ExportSource.TRACES},
    ),
    "spans_column": (
        "Traces CSV: also the span tree as one JSON cell (left out by default).",
        {ExportFormat.CSV},
        {ExportSource.TRACES},
    ),
}


def export_options_clean(*, options, source: str, format: str) -> dict:
    if options in (None, ""):
        return {}
    if not isinstance(options, dict):
        raise ApplicationError("Options must be an object.", fields={"options": ["Give an object of options."]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, bool] = {}
    for name, value in options.items():
        if name not in OPTIONS:
            errors[f"options.{name}"] = [f"Unknown option; choose from {', '.join(OPTIONS)}."]
            continue
        _, formats, sources = OPTIONS[name]
        if not isinstance(value, bool):
            errors[f"options.{name}"] = ["true or false."]
        elif value and (format not in formats or source not in sources):
            errors[f"options.{name}"] = [
                f"Only for {'/'.join(sorted(sources))} exports as {'/'.join(sorted(formats))}."
            ]
        elif value:
            clean[name] = True
    if source == ExportSource.SCORES and format == ExportFormat.OPENAI_CHAT:
        errors["format"] = ["A scores export has no conversations; choose jsonl, csv or parquet."]
    if source == ExportSource.EXPERIMENT and format not in (ExportFormat.JSONL, ExportFormat.CSV, ExportFormat.PARQUET):
        errors["format"] = ["Experiment results export as jsonl, csv or parquet."]
    if errors:
        raise ApplicationError("Invalid export options.", fields=errors)
    return clean


def export_choices_validate(*, source: str, format: str, gzip: bool) -> None:
    """The source, format and gzip of a job or schedule: known, and fitting each other."""
    from .formats import writer_for

    errors: dict[str, list[str]] = {}
    if source not in ExportSource.values:
        errors["source"] = [f"Choose from {', '.join(ExportSource.values)}."]
    if format not in ExportFormat.values:
        errors["format"] = [f"Choose from {', '.join(ExportFormat.values)}."]
    elif gzip and not writer_for(format).supports_gzip:
        errors["gzip"] = ["Parquet files are compressed internally; gzip is not available for them."]
    elif source in ExportSource.values and source not in getattr(writer_for(format), "sources", (source,)):
        errors["format"] = [f"{format} exports read {' or '.join(writer_for(format).sources)}, not {source}."]
    if errors:
        raise ApplicationError("Invalid export.", fields=errors)
