"""Files published next to an export's data, before its manifest: the lineage of a dataset-version
export (`<job>.lineage.jsonl`) and the validation report of a fine-tuning format (`<job>.validation.jsonl`)."""

from __future__ import annotations

import contextlib
import os
import tempfile

from . import storage
from .lineage import write_dataset_lineage
from .models import ExportSource


def _publish_lineage(job, writer) -> str:
    fd, path = tempfile.mkstemp(prefix=f"assay-lineage-{job.pk}-", suffix=".part", dir=storage.temp_dir())
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            write_dataset_lineage(job=job, fh=fh, skipped=frozenset(p.record for p in writer.problems))
        key = storage.sibling_key(job.storage_key, "lineage.jsonl")
        storage.publish(local_path=path, key=key, destination=job.destination)
        return key
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def publish_side_files(*, job, writer) -> dict:
    """Publish the side files of a finished writer; the job fields that name them."""
    fields: dict = {}
    report = getattr(writer, "report", None)
    try:
        if job.source == ExportSource.DATASET:
            fields["lineage_key"] = _publish_lineage(job, writer)
        if report is not None:
            key = storage.sibling_key(job.storage_key, "validation.jsonl")
            storage.publish(local_path=report.path, key=key, destination=job.destination)
            fields.update(validation_key=key, validation=report.summary())
    finally:
        if report is not None:
            report.discard()
    return fields
