"""Fixtures for the scorer, judge, runner and online tests: experiments on a pinned dataset version, results
backed by spans, score configs and scorers. Import the ones a module uses (pytest finds them by name)."""

from __future__ import annotations

import pytest

from apps.datasets.services.records import dataset_records_upsert
from apps.experiments.models import Experiment, ExperimentResult
from apps.experiments.scorers.versions import scorer_create
from apps.traces.models import TraceOrigin
from tests import factories

# The fixtures a test module takes with `from .scorer_fixtures import *`.
__all__ = ["boolean_config", "categorical_config", "qa_experiment", "ratio_config"]


def experiment_make(project, records: list[dict], name: str | None = None) -> Experiment:
    """A dataset with `records` as version 1, and an experiment pinned to it."""
    name = name or f"run-{Experiment.objects.count() + 1}"
    dataset = factories.DatasetFactory(project=project)
    version = dataset_records_upsert(dataset=dataset, records=records)
    return Experiment.objects.create(
        project=project,
        dataset=dataset,
        dataset_version=version,
        version_number=version.number,
        version_ref=str(version.number),
        name=name,
        record_count=len(records),
    )


def results_add(experiment: Experiment, outputs: dict[str, object], *, span: bool = True) -> list[ExperimentResult]:
    """One result a record of the pinned version with the given output, each on its own experiment span."""
    from apps.datasets.selectors import dataset_records_at_version

    results = []
    records = dataset_records_at_version(dataset=experiment.dataset, version=experiment.version_number)
    for record in records.filter(record_id__in=list(outputs)):
        backing = None
        if span:
            trace = factories.TraceFactory(project=experiment.project, origin=TraceOrigin.EXPERIMENT)
            backing = factories.SpanFactory(trace=trace, input=record.input, output=outputs[record.record_id])
        results.append(
            ExperimentResult.objects.create(
                experiment=experiment,
                record_id=record.record_id,
                input=record.input,
                expected=record.expected,
                output=outputs[record.record_id],
                span=backing,
            )
        )
    return results


def scorer_make(project, config, definition: dict, *, kind: str = "deterministic", name: str | None = None):
    scorer = scorer_create(
        project=project, name=name or f"scorer-{config.name}", kind=kind, config=config, definition=definition
    )
    return scorer.versions.get(number=1)


@pytest.fixture
def boolean_config(project):
    return factories.ScoreConfigFactory(project=project, name="correct", boolean=True)


@pytest.fixture
def ratio_config(project):
    return factories.ScoreConfigFactory(project=project, name="similarity", min_value=0, max_value=10)


@pytest.fixture
def categorical_config(project):
    return factories.ScoreConfigFactory(project=project, name="verdict", categorical=True)


@pytest.fixture
def qa_experiment(project):
    """Three questions with expected answers, pinned at version 1."""
    return experiment_make(
        project,
        [
            {"record_id": "q1", "input": {"question": "Refund window?"}, "expected": "30 days"},
            {"record_id": "q2", "input": {"question": "Shipping cost?"}, "expected": "Free"},
            {"record_id": "q3", "input": {"question": "Support hours?"}, "expected": "9 to 5"},
        ],
    )
