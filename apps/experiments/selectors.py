"""Reads of experiments: project-scoped lists, one experiment by id, its results, its pinned records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from apps.core.exceptions import not_found
from apps.core.parsing import is_id
from apps.datasets.selectors import dataset_records_at_version

from .models import Experiment, ExperimentResult

LOOKUP_CHUNK = 500  # SQLite allows ~32k bound parameters; chunks keep every IN list well below


def experiments_visible(*, projects) -> QuerySet[Experiment]:
    return Experiment.objects.filter(project__in=projects).select_related("project", "dataset")


def experiment_get(*, projects, pk: Any) -> Experiment:
    """The experiment with this id in one of `projects`; another project's answers exactly like a missing one."""
    experiment = experiments_visible(projects=projects).filter(pk=int(pk)).first() if is_id(pk) else None
    if experiment is None:
        raise not_found()
    return experiment


def experiment_results(*, experiment: Experiment) -> QuerySet[ExperimentResult]:
    return ExperimentResult.objects.filter(experiment=experiment)


def experiment_records(*, experiment: Experiment) -> QuerySet:
    """The dataset records as of the experiment's pinned version (never the dataset's latest)."""
    return dataset_records_at_version(dataset=experiment.dataset, version=experiment.version_number)


def experiment_records_by_id(*, experiment: Experiment, record_ids: Iterable[str]) -> dict[str, tuple[Any, Any]]:
    """{record_id: (input, expected)} of the pinned version, for the ids that are in it, as JSON text
    (None for NULL): results copy them without parsing."""
    ids = sorted(set(record_ids))
    found: dict[str, tuple[Any, Any]] = {}
    records = experiment_records(experiment=experiment).order_by()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for record_id, value, expected in records.filter(record_id__in=chunk).values_list(
            "record_id", Cast("input", TextField()), Cast("expected", TextField())
        ):
            found[record_id] = (value, expected)
    return found
