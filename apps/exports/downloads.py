"""An export's files as downloads (the admin's and the API's): the data file or a side file."""

from __future__ import annotations

from django.http import FileResponse

from apps.core.exceptions import ApplicationError

from . import storage
from .models import ExportJob, ExportStatus

SIDE_FILES = {"lineage": "lineage_key", "validation": "validation_key", "manifest": "manifest_key"}


def download_response(job: ExportJob, file: str = "data") -> FileResponse:
    """The file (or a side file: lineage, validation, manifest) as a streamed attachment that browsers
    never render or sniff."""
    if job.status != ExportStatus.SUCCEEDED or not job.storage_key:
        raise ApplicationError(
            "The export has no file yet.", fields={"status": [f"The export is {job.status}."]}, status=409
        )
    key = job.storage_key if file == "data" else getattr(job, SIDE_FILES.get(file, ""), "")
    if not key:
        raise ApplicationError(f"This export has no {file} file.", fields={"file": [f"No {file} file."]}, status=404)
    try:
        handle = storage.open_for_download(key, job.destination)
    except FileNotFoundError:
        raise ApplicationError("The export file is no longer in storage.", status=410)
    from .formats import writer_for

    if file != "data":
        content_type = "application/json" if file == "manifest" else "application/x-ndjson"
        filename = f"{job.pk}.{key.rsplit('/', 1)[-1].split('.', 1)[1]}"
    else:
        content_type = "application/gzip" if job.gzip else writer_for(job.format).content_type
        filename = job.file_name
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
