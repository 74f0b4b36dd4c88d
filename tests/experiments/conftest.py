"""Fixtures of the experiments tests: a dataset with two versions (a tag `prod` on the first), an
experiment pinned to version 1, and API clients of its project and of another project."""

from __future__ import annotations

import pytest

from apps.datasets.services.records import dataset_records_upsert
from apps.datasets.services.versions import dataset_version_tag_set
from apps.experiments.services import experiment_create
from tests import factories

V1_RECORDS = [
    {"record_id": "r1", "input": {"q": "refund?"}, "expected": {"a": "30 days"}},
    {"record_id": "r2", "input": {"q": "late parcel?"}, "expected": {"a": "courier"}},
    {"record_id": "r3", "input": {"q": "reset password?"}, "expected": {"a": "link"}},
]


@pytest.fixture
def author(db):
    return factories.UserFactory(username="curator", is_staff=True)


@pytest.fixture
def dataset(project, author):
    """v1: r1–r3 (tagged prod); v2: r1 changed, r4 added."""
    dataset = factories.DatasetFactory(project=project, name="refunds")
    dataset_records_upsert(dataset=dataset, records=V1_RECORDS, author=author)
    dataset_version_tag_set(dataset=dataset, name="prod", version=1, author=author)
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "r1", "input": {"q": "refund? (v2)"}, "expected": {"a": "14 days"}},
            {"record_id": "r4", "input": {"q": "new in v2"}},
        ],
        author=author,
    )
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def experiment(project, dataset, author):
    return experiment_create(project=project, dataset=dataset, version="prod", name="baseline", user=author)


@pytest.fixture
def client_a(project, key_client):
    return key_client(project, scopes=("ingest", "read", "write"))


@pytest.fixture
def client_b(other_project, key_client):
    return key_client(other_project, scopes=("ingest", "read", "write"))


def results_url(experiment) -> str:
    return f"/api/v1/experiments/{experiment.pk}/results/"


def post_results(client, experiment, results, **extra):
    return client.post(results_url(experiment), {"results": results}, format="json", **extra)
