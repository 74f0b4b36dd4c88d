"""Creating, renaming and deleting datasets."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.projects.models import Project

from ..models import (
    Dataset,
)


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


@transaction.atomic
def dataset_delete(*, dataset: Dataset, actor: Any = None) -> None:
    if dataset.experiments.exists():  # experiments pin a version of it: their results would lose their records
        raise ApplicationError(
            "This dataset has experiments; delete them first.", fields={"dataset": ["Used by experiments."]}, status=409
        )
    audit_record(actor=actor, action="dataset.delete", obj=dataset, before=audit_snapshot(dataset))
    dataset.delete()
