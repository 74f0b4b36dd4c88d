"""Reads of experiments: project-scoped lists, one experiment by id, its results, its pinned records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from apps.core.exceptions import not_found
from apps.core.parsing import is_id
from apps.datasets.models import DatasetRecord
from apps.datasets.selectors import dataset_records_at_version

from .models import Experiment, ExperimentResult

RECORDS = DatasetRecord._meta.db_table
LOOKUP_CHUNK = 500  # SQLite allows ~32k bound parameters; chunks keep every IN list well below


def json_as_text(name: str) -> Cast:
    """A JSON column read as its text: copied without parsing, or parsed by orjson (faster than Django's)."""
    return Cast(name, TextField())


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
    (None for NULL): results copy them without parsing.

    Driven by the ids (the `(dataset, record_id, version_from)` index, one probe an id): filtering the
    version's records by id instead read every live record of the dataset for each batch when the
    table's statistics were stale, as they are right after a large import.
    """
    ids = sorted(set(record_ids))
    found: dict[str, tuple[Any, Any]] = {}
    number = experiment.version_number
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The revision live at N is the newest one from N or before, if it was not closed by N.
            cursor.execute(
                "SELECT l.record_id, r.input::text, r.expected::text FROM unnest(%s::varchar[]) AS l(record_id) "
                f"CROSS JOIN LATERAL (SELECT input, expected, version_to FROM {RECORDS} r "
                "WHERE r.dataset_id = %s AND r.record_id = l.record_id AND r.version_from <= %s "
                "ORDER BY r.version_from DESC LIMIT 1) r WHERE r.version_to IS NULL OR r.version_to > %s",
                [ids, experiment.dataset_id, number, number],
            )
            return {record_id: (value, expected) for record_id, value, expected in cursor.fetchall()}
    records = experiment_records(experiment=experiment).order_by()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for record_id, value, expected in records.filter(record_id__in=chunk).values_list(
            "record_id", json_as_text("input"), json_as_text("expected")
        ):
            found[record_id] = (value, expected)
    return found
