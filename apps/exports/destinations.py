"""Export destinations of a project (create, change, delete) and this deployment's id in object keys."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.core.encryption import encrypt_json
from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from .models import DeploymentIdentity, DestinationKind, ExportDestination

_DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_PREFIX_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "session_token")
# What an audit event keeps of a destination: never the credentials, only whether there are some.
DESTINATION_AUDIT_FIELDS = ("name", "kind", "bucket", "prefix", "endpoint_url", "region")


def deployment_id() -> str:
    """EXPORTS_DEPLOYMENT_ID, else a random id stored in the database the first time it is needed."""
    configured = (getattr(settings, "EXPORTS_DEPLOYMENT_ID", "") or "").strip()
    if configured:
        if not _DEPLOYMENT_RE.match(configured):
            raise ApplicationError("EXPORTS_DEPLOYMENT_ID may hold letters, digits, '.', '_' and '-' only.")
        return configured
    row = DeploymentIdentity.objects.order_by("pk").first()
    if row is None:
        try:
            with transaction.atomic():
                row = DeploymentIdentity.objects.create(deployment_id=f"d-{secrets.token_hex(6)}")
        except IntegrityError:  # pragma: no cover - 48 random bits colliding
            pass
        row = DeploymentIdentity.objects.order_by("pk").first()  # two first uses at once: the older row wins
    return row.deployment_id


def _snapshot(destination: ExportDestination) -> dict[str, Any]:
    return {
        **{name: getattr(destination, name) for name in DESTINATION_AUDIT_FIELDS},
        "has_credentials": destination.has_credentials,
    }


def export_destination_validate(*, destination: ExportDestination, credentials: dict | None = None) -> None:
    errors: dict[str, list[str]] = {}
    if destination.kind not in DestinationKind.values:
        errors["kind"] = [f"Choose from {', '.join(DestinationKind.values)}."]
    prefix = destination.prefix.strip("/")
    if not prefix or not all(_PREFIX_SEGMENT_RE.match(part) and ".." not in part for part in prefix.split("/")):
        errors["prefix"] = ["One or more segments of letters, digits, '.', '_' or '-', separated by '/'."]
    if destination.kind == DestinationKind.S3:
        if not _BUCKET_RE.match(destination.bucket or ""):
            errors["bucket"] = ["An S3 bucket name (3-63 lowercase letters, digits, '.' and '-')."]
        if destination.endpoint_url:
            parts = urlsplit(destination.endpoint_url)
            allowed = [h.lower() for h in getattr(settings, "EXPORTS_DESTINATION_ENDPOINT_HOSTS", []) or []]
            host = (parts.hostname or "").lower()
            if allowed and host not in allowed:
                errors["endpoint_url"] = [f"This deployment allows endpoints on {', '.join(allowed)} only."]
            elif not allowed and parts.scheme != "https":
                errors["endpoint_url"] = ["Use an https:// endpoint."]
            elif parts.scheme not in ("http", "https") or parts.username or parts.password:
                errors["endpoint_url"] = ["An http(s) URL without user or password."]
    elif destination.bucket or destination.endpoint_url or destination.region or credentials:
        errors["kind"] = [
            "A local destination is a folder of this deployment's export storage: no bucket, "
            "endpoint, region or credentials."
        ]
    if credentials is not None:
        if (
            not isinstance(credentials, dict)
            or set(credentials) - set(CREDENTIAL_KEYS)
            or not all(isinstance(v, str) for v in credentials.values())
        ):
            errors["credentials"] = [f"An object with {', '.join(CREDENTIAL_KEYS)} (text)."]
        elif credentials and not (credentials.get("access_key_id") and credentials.get("secret_access_key")):
            errors["credentials"] = ["access_key_id and secret_access_key go together."]
    if errors:
        raise ApplicationError("Invalid export destination.", fields=errors)


@transaction.atomic
def export_destination_save(
    *, destination: ExportDestination, credentials: dict | None = None, actor: Any = None
) -> ExportDestination:
    """Create or change a destination. `credentials` None keeps the stored ones; {} removes them."""
    export_destination_validate(destination=destination, credentials=credentials)
    before = None
    if destination.pk:
        stored = ExportDestination.objects.filter(pk=destination.pk).first()
        before = _snapshot(stored) if stored else None
    if credentials is not None:
        destination.credentials_encrypted = encrypt_json(credentials)
    if (
        ExportDestination.objects.filter(project=destination.project, name=destination.name)
        .exclude(pk=destination.pk)
        .exists()
    ):
        raise ApplicationError("A destination with this name exists.", fields={"name": ["Already used."]})
    destination.save()
    after = _snapshot(destination)
    changed = before != after or credentials is not None
    if changed:
        audit_record(
            actor=actor,
            action="export_destination.update" if before else "export_destination.create",
            obj=destination,
            before=before,
            after={**after, "credentials_changed": credentials is not None},
        )
    return destination


def export_destination_create(
    *,
    project: Project,
    name: str,
    kind: str = DestinationKind.S3,
    bucket: str = "",
    prefix: str = "assay-exports",
    endpoint_url: str = "",
    region: str = "",
    credentials: dict | None = None,
    actor: Any = None,
) -> ExportDestination:
    destination = ExportDestination(
        project=project,
        name=name,
        kind=kind,
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=region,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return export_destination_save(destination=destination, credentials=credentials, actor=actor)


@transaction.atomic
def export_destination_delete(*, destination: ExportDestination, actor: Any = None) -> None:
    """Refused (409) while a schedule or a job names it: their files are found through it."""
    if destination.schedules.exists() or destination.jobs.exists():
        raise ApplicationError(
            "Schedules or exports use this destination; remove them first.",
            fields={"destination": ["In use."]},
            status=409,
        )
    audit_record(actor=actor, action="export_destination.delete", obj=destination, before=_snapshot(destination))
    destination.delete()


def destination_for_project(*, project: Project, destination) -> ExportDestination | None:
    """A destination given as an object or an id, refused unless it belongs to `project`."""
    if destination in (None, ""):
        return None
    pk = destination.pk if isinstance(destination, ExportDestination) else destination
    found = ExportDestination.objects.filter(project=project, pk=pk).first() if isinstance(pk, int) else None
    if found is None:
        raise ApplicationError("Unknown destination.", fields={"destination": ["Unknown destination."]})
    return found
