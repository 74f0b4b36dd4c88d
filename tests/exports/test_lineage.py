"""Lineage: a dataset-version export writes data, then lineage.jsonl, then the manifest; the lineage
endpoint answers the same entry for one record."""

from __future__ import annotations

import json

import pytest

from apps.datasets.services.records import dataset_records_upsert
from apps.exports import storage
from apps.exports.lineage import config_definition_hash
from apps.exports.services import export_job_run
from apps.projects.models import Role
from apps.reviews.models import ScoreConfig
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import score_record
from tests import factories
from tests.exports.conftest import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed_dataset(project, annotated_spans):
    """A dataset with a record from s-1 (scored by rita, an end-user thumbs-up, corrected) and a manual one."""
    first = annotated_spans[0]
    thumbs = score_config_create(project=project, name="thumbs", kind="boolean")
    score_record(span=first, config=thumbs, value=True, source="end_user")
    dataset = factories.DatasetFactory(project=project)
    dataset_records_upsert(
        dataset=dataset,
        origin="log",
        records=[
            {
                "record_id": "from-s1",
                "input": {"q": "refund?"},
                "expected": "30 days from delivery.",
                "source_span_id": first.pk,
            },
            {"record_id": "manual", "input": {"q": "hello?"}, "expected": "hi"},
        ],
    )
    return dataset


def _lineage_lines(job) -> list[dict]:
    with storage.open_for_download(job.lineage_key) as fh:
        return [json.loads(line) for line in fh.read().splitlines()]


def test_dataset_export_writes_data_then_lineage_then_manifest(project, reviewed_dataset, monkeypatch):
    published: list[str] = []
    original = storage.publish

    def recording(*, local_path, key, destination=None):
        published.append(key)
        return original(local_path=local_path, key=key, destination=destination)

    monkeypatch.setattr(storage, "publish", recording)
    job = run(project, source="dataset", dataset=reviewed_dataset)
    assert job.status == "succeeded", job.error
    stem = job.storage_key.rsplit(".", 1)[0]
    assert published == [job.storage_key, f"{stem}.lineage.jsonl", f"{stem}.manifest.json"]
    assert job.lineage_key == published[1] and job.manifest_key == published[2]
    with storage.open_for_download(job.manifest_key) as fh:
        manifest = json.load(fh)
    assert [f["key"] for f in manifest["files"]] == [job.storage_key, job.lineage_key]
    assert manifest["files"][1]["kind"] == "lineage" and manifest["dataset_version"] == job.dataset_version


def test_lineage_content(project, reviewed_dataset, annotated_spans):
    job = run(project, source="dataset", dataset=reviewed_dataset)
    lines = _lineage_lines(job)
    assert [line["record_id"] for line in lines] == ["from-s1", "manual"]
    traced, manual = lines
    assert traced["dataset_id"] == reviewed_dataset.pk and traced["version"] == 1
    assert traced["revision"]["version_from"] == 1 and traced["revision"]["version_to"] is None
    assert traced["origin"] == "log" and traced["source"] == {"span_id": "s-1", "trace_id": "trace-a"}
    helpful = ScoreConfig.objects.get(project=project, name="helpful")
    [review] = traced["reviews"]
    assert review["reviewer"] == "rita" and review["config"] == "helpful" and review["value"] == 0.8
    assert review["config_hash"] == config_definition_hash(helpful) and review["config_hash"].startswith("sha256:")
    assert review["after_revision"] is False
    [feedback] = traced["feedback"]
    assert feedback["config"] == "thumbs" and feedback["source"] == "end_user" and feedback["value"] == 1.0
    assert traced["corrections"] == [
        {"author": "rita", "source": "human", "created_at": traced["corrections"][0]["created_at"]}
    ]
    assert traced["adjudication"] is None  # nothing adjudicated on this span
    assert manual["source"] is None and manual["reviews"] == [] and manual["feedback"] == []
    # A changed definition changes the hash, so a consumer sees the reviews were made against another rubric.
    helpful.max_value = 10
    assert config_definition_hash(helpful) != review["config_hash"]


def test_lineage_endpoint_answers_the_exported_entry(project, reviewed_dataset, key_client):
    job = run(project, source="dataset", dataset=reviewed_dataset)
    exported = {line["record_id"]: line for line in _lineage_lines(job)}
    client = key_client(project, scopes=("read",))
    for record_id in ("from-s1", "manual"):
        response = client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/{record_id}/lineage/")
        assert response.status_code == 200, response.content
        assert response.json() == exported[record_id]
    response = client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/from-s1/lineage/?version=1")
    assert response.json()["version"] == 1
    assert client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/nope/lineage/").status_code == 404


def test_lineage_endpoint_hides_other_projects(project, other_project, reviewed_dataset, key_client, client, member):
    other = key_client(other_project, scopes=("read",))
    hidden = other.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/from-s1/lineage/")
    missing = other.get("/api/v1/datasets/999999/records/from-s1/lineage/")
    assert hidden.status_code == missing.status_code == 404 and hidden.json() == missing.json()
    client.force_login(member(project, role=Role.VIEWER))
    assert client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/from-s1/lineage/").status_code == 200


def test_lineage_marks_records_a_fine_tuning_export_left_out(project, reviewed_dataset):
    dataset_records_upsert(dataset=reviewed_dataset, records=[{"record_id": "no-answer", "input": {"q": "x?"}}])
    job = run(project, source="dataset", dataset=reviewed_dataset, format="openai_chat")
    assert job.status == "succeeded", job.error
    written = {line["record_id"]: line["written"] for line in _lineage_lines(job)}
    assert written == {"from-s1": True, "manual": True, "no-answer": False}


def test_span_exports_write_no_lineage(project, annotated_spans):
    job = run(project)
    assert job.lineage_key == "" and job.manifest_key == ""
    job = export_job_run(job_id=job.pk)  # already finished: nothing happens
    assert job is None


def test_lineage_endpoint_follows_blind_review(project, reviewed_dataset, annotated_spans, client, member):
    from apps.queues.services.filling import review_items_add
    from apps.traces.models import Span

    queue = factories.ReviewQueueFactory(project=project, blind=True)
    review_items_add(queue=queue, spans=Span.objects.filter(pk=annotated_spans[0].pk))
    client.force_login(member(project, role=Role.REVIEWER))
    entry = client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/from-s1/lineage/").json()
    assert entry["reviews"] == [] and entry["feedback"] == [] and entry["corrections"] == []
    client.force_login(member(project, role=Role.CURATOR))  # a lead sees everyone's scores
    entry = client.get(f"/api/v1/datasets/{reviewed_dataset.pk}/records/from-s1/lineage/").json()
    assert [r["reviewer"] for r in entry["reviews"]] == ["rita"]


def test_a_lineage_failure_fails_the_job_and_leaves_no_file(project, reviewed_dataset, monkeypatch):
    from apps.exports import side_files

    def explode(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(side_files, "write_dataset_lineage", explode)
    job = run(project, source="dataset", dataset=reviewed_dataset)
    assert job.status == "failed" and "disk full" in job.error
    assert not storage.exists(job.storage_key) and job.lineage_key == "" and job.manifest_key == ""


def test_lineage_carries_the_adjudication_of_the_source_span(project):
    from apps.queues.adjudication import item_adjudicate
    from tests.queues.gold_world import standalone

    w = standalone(project)
    item_adjudicate(actor=w.lead, item=w.items[0], decisions={"tone": {"from": w.bob.pk}}, note="bob is right")
    dataset = factories.DatasetFactory(project=project)
    dataset_records_upsert(
        dataset=dataset,
        origin="log",
        records=[
            {"record_id": "settled", "input": {"q": "?"}, "source_span_id": w.items[0].span_id},
            {"record_id": "open", "input": {"q": "?"}, "source_span_id": w.items[2].span_id},
        ],
    )
    lines = {line["record_id"]: line for line in _lineage_lines(run(project, source="dataset", dataset=dataset))}
    [decision] = lines["settled"]["adjudication"]
    assert decision["config"] == "tone" and decision["value"] == "rude"
    assert decision["chosen_from"] == "bob" and decision["decided_by"] == "lead" and decision["note"] == "bob is right"
    assert decision["item_id"] == w.items[0].pk and decision["queue_id"] == w.items[0].queue_id
    assert lines["open"]["adjudication"] is None
