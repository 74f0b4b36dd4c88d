"""Version semantics of record revisions: insert, update, delete, read at every version, diff, restore, tags."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from apps.core.exceptions import ApplicationError
from apps.datasets.models import DatasetRecord, DatasetVersion
from apps.datasets.selectors import dataset_records_at_version, dataset_version_resolve, dataset_versions_diff
from apps.datasets.services.records import dataset_records_delete, dataset_records_upsert
from apps.datasets.services.versions import dataset_version_restore, dataset_version_tag_set
from tests import factories

pytestmark = pytest.mark.django_db


def rows(dataset, version=None, **kw):
    return {r.record_id: r.expected for r in dataset_records_at_version(dataset=dataset, version=version, **kw)}


@pytest.fixture
def dataset(project):
    return factories.DatasetFactory(project=project)


def test_each_batch_is_one_version_and_reads_are_exact_at_every_version(dataset):
    v1 = dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "a", "input": "q-a", "expected": "1"},
            {"record_id": "b", "input": "q-b", "expected": "1"},
        ],
        message="first",
    )
    v2 = dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "b", "input": "q-b", "expected": "2"},
            {"record_id": "c", "input": "q-c", "expected": "2"},
        ],
    )
    v3 = dataset_records_delete(dataset=dataset, record_ids=["a"])
    v4 = dataset_records_upsert(dataset=dataset, records=[{"record_id": "d", "input": "q-d"}])

    assert [v.number for v in (v1, v2, v3, v4)] == [1, 2, 3, 4]
    assert (v1.added, v1.updated, v1.removed, v1.record_count) == (2, 0, 0, 2)
    assert (v2.added, v2.updated, v2.removed, v2.record_count) == (1, 1, 0, 3)
    assert (v3.added, v3.updated, v3.removed, v3.record_count) == (0, 0, 1, 2)
    assert v4.record_count == 3
    assert rows(dataset, 1) == {"a": "1", "b": "1"}
    assert rows(dataset, 2) == {"a": "1", "b": "2", "c": "2"}
    assert rows(dataset, 3) == {"b": "2", "c": "2"}
    assert rows(dataset, 4) == {"b": "2", "c": "2", "d": None}
    assert rows(dataset) == rows(dataset, 4)
    # A revision per change, nothing rewritten: a(1), b(1), b(2), c(2), d(4).
    assert DatasetRecord.objects.filter(dataset=dataset).count() == 5
    dataset.refresh_from_db()
    assert dataset.latest_version == 4


def test_unchanged_upsert_writes_nothing(dataset):
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "a", "input": {"q": 1}, "tags": ["x"]}])
    again = dataset_records_upsert(dataset=dataset, records=[{"record_id": "a", "input": {"q": 1}, "tags": ["x"]}])
    assert again is None
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    assert DatasetRecord.objects.filter(dataset=dataset).count() == 1
    # A batch with one change touches only that record.
    v2 = dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "a", "input": {"q": 1}, "tags": ["x"]},
            {"record_id": "b", "input": {"q": 2}},
        ],
    )
    assert (v2.added, v2.updated) == (1, 0)
    assert DatasetRecord.objects.filter(dataset=dataset).count() == 2


def test_invalid_row_names_index_and_field_and_commits_nothing(dataset):
    with pytest.raises(ApplicationError) as err:
        dataset_records_upsert(
            dataset=dataset,
            records=[
                {"record_id": "ok", "input": "fine"},
                {"record_id": "bad", "input": "x", "metadata": ["not", "a", "dict"]},
                {"record_id": "ok", "expected": "no input"},
                {"record_id": "x", "input": "x", "splits": ["has space"], "colour": "red"},
            ],
        )
    fields = err.value.fields
    assert err.value.status == 400
    assert set(fields) == {
        "records[1].metadata",
        "records[2].record_id",
        "records[2].input",
        "records[3].splits",
        "records[3].colour",
    }
    assert not DatasetRecord.objects.filter(dataset=dataset).exists()
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()


def test_generated_record_ids_and_split_and_tag_filters(dataset):
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {"input": "one", "splits": ["train"], "tags": ["hard"]},
            {"input": "two", "splits": ["train", "test"]},
            {"input": "three", "splits": ["test"], "tags": ["hard", "refunds"]},
        ],
    )
    ids = list(dataset_records_at_version(dataset=dataset).values_list("record_id", flat=True))
    assert len(set(ids)) == 3 and all(ids)
    inputs = lambda **kw: sorted(r.input for r in dataset_records_at_version(dataset=dataset, **kw))  # noqa: E731
    assert inputs(split="train") == ["one", "two"]
    assert inputs(split="test") == ["three", "two"]
    assert inputs(tag="hard") == ["one", "three"]
    assert inputs(tag="hard", split="test") == ["three"]
    assert inputs(split="tra") == []


def test_diff_between_any_two_versions(dataset):
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "a", "input": "q", "expected": "old", "metadata": {"k": 1}},
            {"record_id": "b", "input": "q"},
        ],
    )
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {"record_id": "a", "input": "q", "expected": "new", "metadata": {"k": 1}},
            {"record_id": "c", "input": "q"},
        ],
    )
    dataset_records_delete(dataset=dataset, record_ids=["b"])
    diff = dataset_versions_diff(dataset=dataset, a=1, b=3)
    assert [r["record_id"] for r in diff.added] == ["c"]
    assert [r["record_id"] for r in diff.removed] == ["b"]
    assert [c.record_id for c in diff.changed] == ["a"]
    assert diff.changed[0].fields == {"expected": {"a": "old", "b": "new"}}
    back = dataset_versions_diff(dataset=dataset, a=3, b=1)
    assert [r["record_id"] for r in back.added] == ["b"] and [r["record_id"] for r in back.removed] == ["c"]
    assert dataset_versions_diff(dataset=dataset, a=2, b=2).counts == {"added": 0, "removed": 0, "changed": 0}
    with pytest.raises(ApplicationError) as err:
        dataset_versions_diff(dataset=dataset, a=1, b=9)
    assert err.value.status == 404


def test_restore_makes_a_new_version_equal_to_the_old_one(dataset):
    dataset_records_upsert(
        dataset=dataset,
        records=[{"record_id": "a", "input": "q", "expected": "1"}, {"record_id": "b", "input": "q", "expected": "1"}],
    )
    dataset_records_upsert(
        dataset=dataset, records=[{"record_id": "a", "input": "q", "expected": "2"}, {"record_id": "c", "input": "q"}]
    )
    dataset_records_delete(dataset=dataset, record_ids=["b"])
    restored = dataset_version_restore(dataset=dataset, version=1)
    assert restored.number == 4 and restored.restored_from == 1
    assert (restored.added, restored.updated, restored.removed, restored.record_count) == (1, 1, 1, 2)
    assert rows(dataset) == rows(dataset, 1) == {"a": "1", "b": "1"}
    assert rows(dataset, 3) == {"a": "2", "c": None}  # history is untouched
    assert dataset_version_restore(dataset=dataset, version=4) is None  # already equal: no empty version
    with pytest.raises(ApplicationError) as err:
        dataset_version_restore(dataset=dataset, version=42)
    assert err.value.status == 404


def test_tags_name_versions_and_move(dataset):
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "a", "input": "q"}])
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "b", "input": "q"}])
    dataset_version_tag_set(dataset=dataset, name="prod", version=1)
    assert dataset_version_resolve(dataset=dataset, tag="prod").number == 1
    dataset_version_tag_set(dataset=dataset, name="prod", version=2)
    assert dataset_version_resolve(dataset=dataset, tag="prod").number == 2
    assert dataset_version_resolve(dataset=dataset).number == 2
    for kwargs in ({"tag": "nope"}, {"version": 3}, {"version": "x"}):
        with pytest.raises(ApplicationError) as err:
            dataset_version_resolve(dataset=dataset, **kwargs)
        assert err.value.status == 404
    with pytest.raises(ApplicationError) as err:
        dataset_version_tag_set(dataset=dataset, name="12", version=1)
    assert "name" in err.value.fields


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_make_two_consecutive_versions(project):
    dataset = factories.DatasetFactory(project=project)
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "seed", "input": "q"}])
    barrier = threading.Barrier(2)
    results, errors = [], []

    def writer(name):
        try:
            barrier.wait()
            version = dataset_records_upsert(
                dataset=dataset,
                records=[{"record_id": f"{name}-{i}", "input": name} for i in range(50)]
                + [{"record_id": "shared", "input": name}],
            )
            results.append(version.number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [2, 3]
    live = dataset_records_at_version(dataset=dataset)
    assert live.count() == 1 + 50 + 50 + 1
    assert DatasetRecord.objects.filter(dataset=dataset, record_id="shared").count() == 2
    first = min(results)
    assert dataset_records_at_version(dataset=dataset, version=first).count() == 1 + 50 + 1


def test_diff_counts_stay_exact_when_lists_are_truncated(dataset):
    dataset_records_upsert(dataset=dataset, records=[{"record_id": f"r{i:04d}", "input": i} for i in range(1200)])
    dataset_records_upsert(
        dataset=dataset,
        records=[{"record_id": f"r{i:04d}", "input": -i} for i in range(1, 700)]
        + [{"record_id": f"n{i:04d}", "input": i} for i in range(3)],
    )
    dataset_records_delete(dataset=dataset, record_ids=[f"r{i:04d}" for i in range(1100, 1200)])
    restored_equal = dataset_records_upsert(dataset=dataset, records=[{"record_id": "r0001", "input": 1}])
    assert restored_equal.updated == 1  # back to its version-1 content under a new revision
    diff = dataset_versions_diff(dataset=dataset, a=1, b=4, limit=50)
    assert diff.counts == {"added": 3, "removed": 100, "changed": 698}  # r0001 is equal again: not changed
    assert diff.truncated and len(diff.changed) == 50 and len(diff.removed) == 50 and len(diff.added) == 3
    assert [c.record_id for c in diff.changed[:2]] == ["r0002", "r0003"]
    full = dataset_versions_diff(dataset=dataset, a=1, b=4)
    assert not full.truncated and len(full.changed) == 698
