"""Scorers and their immutable versions: a new definition (or config) makes version number + 1."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.reviews.models import ScoreConfig

from ..models import Scorer, ScorerKind, ScorerVersion
from .definitions import config_check, definition_clean, definition_hash


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _version_add(*, scorer: Scorer, config: ScoreConfig, definition: Any, note: str, created_by) -> ScorerVersion:
    config_check(kind=scorer.kind, config=config, project_id=scorer.project_id)
    cleaned = definition_clean(kind=scorer.kind, definition=definition, config=config)
    digest = definition_hash(cleaned)
    latest = scorer.versions.filter(number=scorer.latest_version).first()
    if latest is not None and latest.definition_hash == digest and latest.config_id == config.pk:
        return latest  # the same definition again is the same version
    scorer.latest_version += 1
    scorer.save(update_fields=["latest_version", "updated_at"])
    return ScorerVersion.objects.create(
        scorer=scorer,
        number=scorer.latest_version,
        config=config,
        definition=cleaned,
        definition_hash=digest,
        note=(note or "")[:500],
        created_by=_user(created_by),
    )


def scorer_create(
    *,
    project: Project,
    name: str,
    kind: str,
    config: ScoreConfig,
    definition: Any,
    description: str = "",
    note: str = "",
    created_by=None,
) -> Scorer:
    """A scorer with its version 1."""
    if kind not in ScorerKind.values:
        raise ApplicationError("Invalid kind.", fields={"kind": [f"Choose one of {', '.join(ScorerKind.values)}."]})
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError("Invalid name.", fields={"name": ["A name of 1 to 100 characters."]})
    try:
        with transaction.atomic():
            scorer = Scorer.objects.create(project=project, name=name, kind=kind, description=description or "")
            _version_add(scorer=scorer, config=config, definition=definition, note=note, created_by=created_by)
    except IntegrityError:
        raise ApplicationError("Name taken.", fields={"name": ["A scorer with this name exists."]}, status=409)
    return scorer


@transaction.atomic
def scorer_version_create(
    *, scorer: Scorer, definition: Any, config: ScoreConfig | None = None, note: str = "", created_by=None
) -> ScorerVersion:
    """A new version (the scorer's row is locked, so two at once get consecutive numbers)."""
    scorer = Scorer.objects.select_for_update().get(pk=scorer.pk)
    if scorer.is_archived:
        raise ApplicationError("Archived scorer.", fields={"scorer": ["This scorer is archived."]})
    if config is None:
        config = scorer.versions.get(number=scorer.latest_version).config
    return _version_add(scorer=scorer, config=config, definition=definition, note=note, created_by=created_by)
