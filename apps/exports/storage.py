"""Where export files go: key building that can never leave the prefix, and atomic publication.

Files are written to a local temporary file first and published to their final key only when
complete: on a local folder by `os.replace` (atomic on one filesystem), on S3-compatible storage
by a single upload (an object, even a multipart one, becomes visible only when the upload
completes). A reader therefore never sees a half-written file at a final key.

A job writes to its project's `ExportDestination` when it names one, else to the deployment-wide
`STORAGES["exports"]`. Keys are `<prefix>/<deployment id>/<project>/<source>/dt=YYYY-MM-DD/<job uuid>.<ext>`,
so two deployments (or two databases) sharing a bucket never write the same key.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

from apps.core.exceptions import ApplicationError

_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$")


def exports_storage() -> Storage:
    return storages["exports"]


def prefix_for(destination) -> str:
    """The key prefix of a destination (None: EXPORTS_PREFIX), without building its storage."""
    prefix = settings.EXPORTS_PREFIX.strip("/")
    if destination is None:
        return prefix
    if destination.kind == "local":
        return f"{prefix}/{destination.prefix.strip('/')}"
    return destination.prefix.strip("/")


def target_for(destination) -> tuple[Storage, str]:
    """(storage, key prefix) of a destination; None: the deployment's export storage and EXPORTS_PREFIX."""
    if destination is None or destination.kind == "local":  # local: a sub-folder, still under EXPORTS_PREFIX
        return exports_storage(), prefix_for(destination)
    from storages.backends.s3 import S3Storage

    from apps.core.encryption import decrypt_json

    credentials = decrypt_json(destination.credentials_encrypted) or {}
    options = {
        "bucket_name": destination.bucket,
        "endpoint_url": destination.endpoint_url or None,
        "region_name": destination.region or None,
        "access_key": credentials.get("access_key_id") or None,
        "secret_key": credentials.get("secret_access_key") or None,
        "security_token": credentials.get("session_token") or None,
        "file_overwrite": True,
        "default_acl": None,
    }
    return S3Storage(**options), destination.prefix.strip("/")


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, fields={"storage_key": [message]})


def key_within_prefix(key: str, *, prefix: str | None = None) -> str:
    """`key` if it lies under the exports prefix; ApplicationError for `..`, absolute paths, backslashes."""
    prefix = (prefix if prefix is not None else settings.EXPORTS_PREFIX).strip("/")
    if not isinstance(key, str) or not key:
        raise _refuse("An export key is required.")
    if "\\" in key or "\x00" in key:
        raise _refuse("An export key may not contain backslashes or NUL characters.")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise _refuse("An export key must be relative to the export prefix.")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise _refuse("An export key may not contain empty, '.' or '..' segments.")
    normalised = posixpath.normpath(key)
    if normalised != key or not (normalised == prefix or normalised.startswith(prefix + "/")):
        raise _refuse(f"An export key must stay under {prefix!r}.")
    return key


def export_key(
    *, project_slug: str, source: str, created_at: datetime, name: str, deployment_id: str, prefix: str | None = None
) -> str:
    """`{prefix}/{deployment}/{project}/{source}/dt={yyyy-mm-dd}/{name}`; every segment is checked."""
    prefix = (prefix if prefix is not None else settings.EXPORTS_PREFIX).strip("/")
    for label, segment in (
        ("deployment", deployment_id),
        ("project", project_slug),
        ("source", source),
        ("name", name),
    ):
        if not _SEGMENT_RE.match(segment or "") or ".." in segment:
            raise _refuse(f"Unsafe {label} for an export key: {segment!r}.")
    key = f"{prefix}/{deployment_id}/{project_slug}/{source}/dt={created_at:%Y-%m-%d}/{name}"
    return key_within_prefix(key, prefix=prefix)


def sibling_key(key: str, name: str) -> str:
    """A file next to `key` (lineage, validation report, manifest): same folder, `<stem>.<name>`."""
    folder, file_name = key.rsplit("/", 1)
    return f"{folder}/{file_name.split('.', 1)[0]}.{name}"


def temp_dir() -> str:
    """Local folder for files being written (EXPORTS_TMP_DIR, else the system temp folder)."""
    path = getattr(settings, "EXPORTS_TMP_DIR", "") or tempfile.gettempdir()
    os.makedirs(path, exist_ok=True)
    return path


def temp_file_for(job_id: int) -> str:
    """A fresh local file for one run of one job; earlier leftovers of the same job are removed."""
    directory = temp_dir()
    stem = f"assay-export-{job_id}-"
    for name in os.listdir(directory):
        if name.startswith(stem) and name.endswith(".part"):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, name))
    fd, path = tempfile.mkstemp(prefix=stem, suffix=".part", dir=directory)
    os.close(fd)
    return path


def _local_path(storage: Storage, key: str) -> str | None:
    try:
        return storage.path(key)
    except NotImplementedError:
        return None


def publish(*, local_path: str, key: str, destination=None) -> int:
    """Move a complete local file to `key` (overwriting that key only). Returns its size in bytes."""
    storage, prefix = target_for(destination)
    key_within_prefix(key, prefix=prefix)
    size = os.path.getsize(local_path)
    target = _local_path(storage, key)
    if target is not None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # Copy next to the target first when the temp folder is on another filesystem, then rename.
        staging = f"{target}.{os.getpid()}.partial"
        try:
            os.replace(local_path, staging)
        except OSError:
            import shutil

            shutil.copyfile(local_path, staging)
            os.remove(local_path)
        os.replace(staging, target)
        return size
    with open(local_path, "rb") as fh:
        if storage.exists(key):
            storage.delete(key)
        saved = storage.save(key, File(fh, name=posixpath.basename(key)))
    os.remove(local_path)
    if saved != key:  # a storage that renames instead of overwriting would break idempotency
        storage.delete(saved)
        raise ApplicationError(f"The export storage renamed {key!r} to {saved!r}; enable overwriting.")
    return size


def publish_bytes(*, data: bytes, key: str, destination=None) -> int:
    """Write a small file (a manifest) to `key`, through the same atomic path."""
    fd, path = tempfile.mkstemp(prefix="assay-manifest-", suffix=".part", dir=temp_dir())
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return publish(local_path=path, key=key, destination=destination)


def remove(key: str, destination=None) -> None:
    if key:
        storage, prefix = target_for(destination)
        key_within_prefix(key, prefix=prefix)
        with contextlib.suppress(FileNotFoundError):
            storage.delete(key)


def exists(key: str, destination=None) -> bool:
    if not key:
        return False
    storage, prefix = target_for(destination)
    return storage.exists(key_within_prefix(key, prefix=prefix))


def open_for_download(key: str, destination=None):
    storage, prefix = target_for(destination)
    return storage.open(key_within_prefix(key, prefix=prefix), "rb")
