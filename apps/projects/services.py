from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record, audit_snapshot
from apps.core.exceptions import ApplicationError

from .models import Membership, Project, ProjectAPIKey, Role, Scope

VALID_SCOPES = {s.value for s in Scope}


@transaction.atomic
def project_create(*, slug: str, name: str = "", description: str = "") -> Project:
    slug = slugify(slug)
    if not slug:
        raise ApplicationError("A project needs a slug.", fields={"slug": ["This field is required."]})
    if Project.objects.filter(slug=slug).exists():
        raise ApplicationError(f"Project {slug!r} exists.", fields={"slug": ["A project with this slug exists."]})
    return Project.objects.create(slug=slug, name=name or slug, description=description)


@transaction.atomic
def membership_set(*, project: Project, user, role: str = Role.VIEWER, actor: Any = None) -> Membership:
    if role not in Role.values:
        raise ApplicationError("Unknown role.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    before = audit_snapshot(Membership.objects.filter(project=project, user=user).first())
    membership, created = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    if before != audit_snapshot(membership):
        audit_record(actor=actor, action="membership.create" if created else "membership.update", obj=membership,
                     parent=project, before=before, after=audit_snapshot(membership))
    return membership


def api_key_create(
    *, project: Project, scopes: Iterable[str], name: str = "", created_by=None
) -> tuple[ProjectAPIKey, str]:
    scopes = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in scopes if s not in VALID_SCOPES]
    if unknown or not scopes:
        raise ApplicationError(
            "Unknown or missing scopes.",
            fields={"scopes": [f"Choose from {', '.join(sorted(VALID_SCOPES))}; got {', '.join(unknown) or 'none'}."]},
        )
    api_key, key = ProjectAPIKey.objects.create_key(
        name=name or f"{project.slug} {'+'.join(scopes)}", project=project, scopes=scopes, created_by=created_by
    )
    audit_record(actor=created_by, action="api_key.create", obj=api_key, parent=project,
                 after=audit_snapshot(api_key))
    return api_key, key


KEY_USE_WRITE_SECONDS = 60  # last_used_at is kept to the minute: one UPDATE a minute per key at most
KEY_USE_AUDIT_SECONDS = 3600  # a "used" audit event when a key is first used in an hour


def api_key_mark_used(*, api_key: ProjectAPIKey) -> None:
    """Keep `last_used_at`; each conditional UPDATE lets exactly one of concurrent requests through."""
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=KEY_USE_WRITE_SECONDS))
    if api_key.last_used_at and api_key.last_used_at >= now - timedelta(seconds=KEY_USE_WRITE_SECONDS):
        return
    with transaction.atomic():
        idle = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=KEY_USE_AUDIT_SECONDS))
        previous = api_key.last_used_at
        if ProjectAPIKey.objects.filter(idle, pk=api_key.pk).update(last_used_at=now):
            audit_record(actor=api_key, action="api_key.use", obj=api_key, parent=api_key.project,
                         before={"last_used_at": previous.isoformat() if previous else None},
                         after={"last_used_at": now.isoformat()})
        else:
            ProjectAPIKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
