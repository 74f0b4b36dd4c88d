from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify

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


def membership_set(*, project: Project, user, role: str = Role.VIEWER) -> Membership:
    if role not in Role.values:
        raise ApplicationError("Unknown role.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
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
    return api_key, key
