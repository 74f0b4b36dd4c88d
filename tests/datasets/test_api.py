"""The datasets API through APIClient: CRUD, records at versions, batches, versions, tags, diff, restore."""

from __future__ import annotations

import json

import pytest

from apps.datasets.models import DatasetRecord, DatasetVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(project, member):
    """A curator's session (the admin and scripts run as members; keys are tested below)."""
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(member(project, role="curator"))
    return session


@pytest.fixture
def dataset_id(client):
    response = client.post("/api/v1/datasets/", {"name": "refunds", "description": "Refund Qs"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def upsert(client, dataset_id, records, **extra):
    return client.post(f"/api/v1/datasets/{dataset_id}/records/", {"records": records, **extra}, format="json")


def ids(response):
    return [r["record_id"] for r in response.json()["results"]]


def test_dataset_create_refuses_a_duplicate_name_then_update_list_delete(client, project):
    created = client.post("/api/v1/datasets/", {"name": "qa", "description": "d"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert (body["project"], body["name"], body["latest_version"], body["record_count"]) == ("acme", "qa", 0, 0)
    dup = client.post("/api/v1/datasets/", {"name": "qa"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()["fields"]
    assert (
        client.patch(f"/api/v1/datasets/{body['id']}/", {"description": "new"}, format="json").json()["description"]
        == "new"
    )
    assert [d["name"] for d in client.get("/api/v1/datasets/").json()["results"]] == ["qa"]
    assert client.delete(f"/api/v1/datasets/{body['id']}/").status_code == 204
    assert client.get(f"/api/v1/datasets/{body['id']}/").status_code == 404


def test_other_projects_dataset_is_404_like_a_missing_one(client, other_project):
    theirs = factories.DatasetFactory(project=other_project)
    missing = client.get("/api/v1/datasets/999999/")
    for url in (
        f"/api/v1/datasets/{theirs.pk}/",
        f"/api/v1/datasets/{theirs.pk}/records/",
        f"/api/v1/datasets/{theirs.pk}/versions/",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == missing.json()
    assert upsert(client, theirs.pk, [{"input": "x"}]).status_code == 404
    assert not DatasetRecord.objects.filter(dataset=theirs).exists()
    assert client.get("/api/v1/datasets/").json()["results"] == []


def test_batches_make_versions_and_pinned_reads_are_exact(client, dataset_id):
    first = upsert(client, dataset_id, [{"record_id": f"r{i}", "input": {"q": i}} for i in range(3)], message="v1")
    assert first.status_code == 201
    assert first.json() == {"created": True, "version": 1, "added": 3, "updated": 0, "removed": 0, "record_count": 3}
    upsert(client, dataset_id, [{"record_id": "r0", "input": {"q": 0}, "expected": "zero"}])
    third = upsert(client, dataset_id, [{"record_id": "r9", "input": {"q": 9}, "splits": ["test"]}])
    assert third.json()["version"] == 3
    fourth = upsert(client, dataset_id, [{"record_id": "r10", "input": {"q": 10}}])
    assert fourth.json()["version"] == 4

    at3 = client.get(f"/api/v1/datasets/{dataset_id}/records/?version=3")
    assert at3.json()["version"] == 3
    assert ids(at3) == ["r0", "r1", "r2", "r9"]  # never the record added in version 4
    at1 = client.get(f"/api/v1/datasets/{dataset_id}/records/?version=1").json()["results"]
    assert at1[0]["expected"] is None and at1[0]["version_from"] == 1
    assert ids(client.get(f"/api/v1/datasets/{dataset_id}/records/")) == ["r0", "r1", "r10", "r2", "r9"]
    assert ids(client.get(f"/api/v1/datasets/{dataset_id}/records/?split=test")) == ["r9"]
    # The same batch again changes nothing and makes no version.
    again = upsert(client, dataset_id, [{"record_id": "r10", "input": {"q": 10}}])
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["version"] == 4

    versions = client.get(f"/api/v1/datasets/{dataset_id}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [4, 3, 2, 1]
    assert versions[-1]["message"] == "v1" and versions[-2]["updated"] == 1


def test_record_cursor_pagination_walks_every_record_once(client, dataset_id):
    upsert(client, dataset_id, [{"record_id": f"r{i:03d}", "input": i} for i in range(25)])
    seen, url = [], f"/api/v1/datasets/{dataset_id}/records/?page_size=10&version=1"
    while url:
        body = client.get(url).json()
        seen += [r["record_id"] for r in body["results"]]
        url = body["next"]
    assert seen == [f"r{i:03d}" for i in range(25)]
    # Without ?version the next pages stay on the version the first page read.
    first = client.get(f"/api/v1/datasets/{dataset_id}/records/?page_size=10").json()
    upsert(client, dataset_id, [{"record_id": "r000a", "input": "late"}, {"record_id": "r999", "input": "late"}])
    rest, url = [], first["next"]
    while url:
        body = client.get(url).json()
        assert body["version"] == 1
        rest += [r["record_id"] for r in body["results"]]
        url = body["next"]
    assert rest == [f"r{i:03d}" for i in range(10, 25)]


def test_bad_rows_are_400_naming_index_and_field_and_write_nothing(client, dataset_id):
    response = upsert(
        client,
        dataset_id,
        [{"input": "ok"}, {"input": "x", "tags": "a,b"}, {"expected": "y"}, {"input": "z", "metadata": "nope"}],
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"records[2].input", "records[3].metadata"}
    assert not DatasetVersion.objects.exists()
    assert upsert(client, dataset_id, "nope").status_code == 400


def test_oversized_batch_is_413(client, dataset_id, settings):
    response = upsert(client, dataset_id, [{"input": i} for i in range(1001)])
    assert response.status_code == 413
    assert "records" in response.json()["fields"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post(
        f"/api/v1/datasets/{dataset_id}/records/",
        data=json.dumps({"records": [{"input": "x" * 2000}]}),
        content_type="application/json",
    )
    assert big.status_code == 413
    assert not DatasetRecord.objects.exists()


def test_delete_records_tags_diff_and_restore(client, dataset_id):
    upsert(client, dataset_id, [{"record_id": "a", "input": 1, "expected": "one"}, {"record_id": "b", "input": 2}])
    upsert(client, dataset_id, [{"record_id": "a", "input": 1, "expected": "uno"}])
    removed = client.delete(f"/api/v1/datasets/{dataset_id}/records/", {"record_ids": ["b", "zzz"]}, format="json")
    assert removed.json()["version"] == 3 and removed.json()["removed"] == 1
    assert client.delete(f"/api/v1/datasets/{dataset_id}/records/zzz/").status_code == 404

    tag = client.post(f"/api/v1/datasets/{dataset_id}/tags/", {"name": "prod", "version": 1}, format="json")
    assert tag.status_code == 200 and tag.json()["version"] == 1
    assert ids(client.get(f"/api/v1/datasets/{dataset_id}/records/?tag=prod")) == ["a", "b"]
    moved = client.put(f"/api/v1/datasets/{dataset_id}/tags/prod/", {"version": 3}, format="json")
    assert moved.json()["version"] == 3
    assert ids(client.get(f"/api/v1/datasets/{dataset_id}/records/?tag=prod")) == ["a"]
    assert client.get(f"/api/v1/datasets/{dataset_id}/").json()["version_tags"] == {"prod": 3}

    diff = client.get(f"/api/v1/datasets/{dataset_id}/diff/?a=1&b=3").json()
    assert diff["counts"] == {"added": 0, "removed": 1, "changed": 1}
    assert diff["changed"] == [{"record_id": "a", "fields": {"expected": {"a": "one", "b": "uno"}}}]

    restored = client.post(f"/api/v1/datasets/{dataset_id}/versions/1/restore/")
    assert restored.status_code == 201 and restored.json()["version"] == 4
    records = client.get(f"/api/v1/datasets/{dataset_id}/records/").json()["results"]
    assert [(r["record_id"], r["expected"]) for r in records] == [("a", "one"), ("b", None)]
    assert client.get(f"/api/v1/datasets/{dataset_id}/versions/4/").json()["restored_from"] == 1


def test_unknown_version_or_tag_is_404(client, dataset_id):
    upsert(client, dataset_id, [{"input": 1}])
    for query in ("version=7", "tag=nope", "version=abc"):
        assert client.get(f"/api/v1/datasets/{dataset_id}/records/?{query}").status_code == 404, query
    assert client.get(f"/api/v1/datasets/{dataset_id}/versions/7/").status_code == 404
    assert client.post(f"/api/v1/datasets/{dataset_id}/versions/7/restore/").status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset_id}/diff/?a=1&b=7").status_code == 404
    assert client.put(f"/api/v1/datasets/{dataset_id}/tags/prod/", {"version": 7}, format="json").status_code == 404
    assert client.delete(f"/api/v1/datasets/{dataset_id}/tags/nope/").status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset_id}/diff/?a=1").status_code == 400


def test_keys_write_with_the_write_scope_only(project, key_client, dataset_id):
    writer = key_client(project, scopes=("read", "write"))
    assert upsert(writer, dataset_id, [{"record_id": "k", "input": 1}]).status_code == 201
    reader = key_client(project, scopes=("read",))
    assert ids(reader.get(f"/api/v1/datasets/{dataset_id}/records/")) == ["k"]
    assert upsert(reader, dataset_id, [{"input": 2}]).status_code == 403


def test_reviewer_session_cannot_write(project, member, dataset_id):
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(member(project, role="reviewer"))
    assert session.get(f"/api/v1/datasets/{dataset_id}/").status_code == 200
    assert upsert(session, dataset_id, [{"input": 1}]).status_code == 403
    curator_user = member(project, role="curator")
    curator = APIClient()
    curator.force_login(curator_user)
    assert upsert(curator, dataset_id, [{"input": 1}]).status_code == 201
    assert DatasetVersion.objects.get().author == curator_user


def test_generate_through_the_api(client, dataset_id, llm):
    llm.answer = {"records": [{"input": "q1", "expected": "a1"}, {"input": "q2", "expected": "a2"}]}
    response = client.post(f"/api/v1/datasets/{dataset_id}/generate/", {"count": 2}, format="json")
    assert response.status_code == 201 and response.json()["added"] == 2
    listed = client.get(f"/api/v1/datasets/{dataset_id}/records/?record_tag=needs-review").json()["results"]
    assert sorted(r["input"] for r in listed) == ["q1", "q2"] and {r["origin"] for r in listed} == {"generated"}
    assert client.post(f"/api/v1/datasets/{dataset_id}/generate/", {"count": 500}, format="json").status_code == 400


def test_record_history(client, dataset_id):
    upsert(client, dataset_id, [{"record_id": "h", "input": 1, "expected": "a"}])
    upsert(client, dataset_id, [{"record_id": "h", "input": 1, "expected": "b"}])
    client.delete(f"/api/v1/datasets/{dataset_id}/records/h/")
    body = client.get(f"/api/v1/datasets/{dataset_id}/records/h/?history=1").json()
    assert [(r["expected"], r["version_from"], r["version_to"]) for r in body["revisions"]] == [
        ("b", 2, 3),
        ("a", 1, 2),
    ]
    assert client.get(f"/api/v1/datasets/{dataset_id}/records/h/").status_code == 404  # not in the latest
    assert client.get(f"/api/v1/datasets/{dataset_id}/records/h/?version=1").json()["expected"] == "a"
