"""Adding spans (mapping, dedupe, API by filter, Celery job), feedback, import and generation."""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from apps.core.exceptions import ApplicationError
from apps.datasets import importers
from apps.datasets.generation import dataset_generate_records
from apps.datasets.models import DatasetJob, DatasetRecord, DatasetVersion
from apps.datasets.selectors import dataset_records_at_version
from apps.datasets.services.jobs import dataset_job_start
from apps.datasets.services.records import dataset_records_upsert
from apps.datasets.services.spans import dataset_add_spans
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(project):
    return factories.DatasetFactory(project=project)


@pytest.fixture
def curator_client(client_as, project):
    return client_as("curator", project)


def make_span(project, **kwargs):
    trace = factories.TraceFactory(project=project)
    return factories.SpanFactory(trace=trace, **kwargs)


def test_span_mapping_paths_correction_metadata_and_dedupe(project, dataset):
    corrected = make_span(
        project,
        span_id="s-1",
        input={"messages": [{"role": "user", "content": "Refund?"}]},
        output={"content": "No."},
        expected={"content": "Yes, within 30 days."},
        metadata={"model": "gpt", "user": "u1", "secret": "x"},
    )
    plain = make_span(
        project,
        span_id="s-2",
        input={"messages": [{"role": "user", "content": "Hi"}]},
        output={"content": "Hello!"},
        metadata={"model": "gpt"},
    )
    mapping = {
        "input_path": "$.messages[0].content",
        "expected_path": "$.content",
        "metadata_keys": ["model", "user"],
        "splits": ["test"],
        "tags": ["from-logs"],
    }
    result = dataset_add_spans(dataset=dataset, spans_queryset=project.spans.all(), mapping=mapping)
    assert (result.version.number, result.version.added, result.spans) == (1, 2, 2)
    records = {r.record_id: r for r in dataset_records_at_version(dataset=dataset)}
    one, two = records["span:s-1"], records["span:s-2"]
    assert one.input == "Refund?"
    assert one.expected == {"content": "Yes, within 30 days."}  # the correction wins over the output
    assert two.expected == "Hello!"  # no correction: the output, through the path
    assert one.metadata["model"] == "gpt" and one.metadata["user"] == "u1" and "secret" not in one.metadata
    assert one.metadata["source"] == {"span_id": "s-1", "trace_id": corrected.trace.trace_id, "span_name": "llm-call"}
    assert (one.origin, one.source_span_id, one.splits, one.tags) == ("log", corrected.pk, ["test"], ["from-logs"])

    # Re-adding the same spans writes nothing; a changed span updates its record instead of duplicating it.
    again = dataset_add_spans(dataset=dataset, spans_queryset=project.spans.all(), mapping=mapping)
    assert again.version is None
    plain.output = {"content": "Hello again!"}
    plain.save()
    third = dataset_add_spans(dataset=dataset, spans_queryset=project.spans.all(), mapping=mapping)
    assert (third.version.number, third.version.added, third.version.updated) == (2, 0, 1)
    assert DatasetRecord.objects.filter(dataset=dataset, record_id="span:s-2").count() == 2
    assert dataset_records_at_version(dataset=dataset).count() == 2


def test_spans_of_another_project_are_never_added(project, other_project, dataset):
    make_span(other_project, span_id="theirs")
    mine = make_span(project, span_id="mine")
    from apps.traces.models import Span

    result = dataset_add_spans(dataset=dataset, spans_queryset=Span.objects.all(), mapping={})
    assert [r.record_id for r in dataset_records_at_version(dataset=dataset)] == ["span:mine"]
    assert result.version.added == 1 and mine.pk


def test_bad_mapping_names_the_field(project, dataset):
    make_span(project)
    with pytest.raises(ApplicationError) as err:
        dataset_add_spans(
            dataset=dataset,
            spans_queryset=project.spans.all(),
            mapping={"input_path": "$[", "expected_source": "vibes", "colour": 1},
        )
    assert set(err.value.fields) == {"mapping.input_path", "mapping.expected_source", "mapping.colour"}


def test_api_adds_spans_by_filter(project, curator_client, dataset):
    make_span(project, span_id="keep-1", name="answer")
    make_span(project, span_id="keep-2", name="answer")
    make_span(project, span_id="other", name="retrieve")
    response = curator_client.post(
        f"/api/v1/datasets/{dataset.pk}/add-spans/",
        {"filters": {"name": "answer"}, "mapping": {"splits": ["train"]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 1 and response.json()["added"] == 2
    assert sorted(dataset_records_at_version(dataset=dataset).values_list("record_id", flat=True)) == [
        "span:keep-1",
        "span:keep-2",
    ]
    bad = curator_client.post(f"/api/v1/datasets/{dataset.pk}/add-spans/", {"filters": {"type": "nope"}}, format="json")
    assert bad.status_code == 400 and "type" in bad.json()["fields"]
    none = curator_client.post(f"/api/v1/datasets/{dataset.pk}/add-spans/", {}, format="json")
    assert none.status_code == 400


def test_large_add_runs_as_a_job_on_a_real_worker(project, celery_worker):
    dataset = factories.DatasetFactory(project=project)
    trace = factories.TraceFactory(project=project)
    from apps.traces.models import Span

    Span.objects.bulk_create(
        [
            Span(project=project, trace=trace, span_id=f"bulk-{i:05d}", name="llm", input={"q": i}, output={"a": i})
            for i in range(1205)
        ]
    )
    client = APIClient()
    from apps.projects.services import membership_set

    user = factories.UserFactory()
    membership_set(project=project, user=user, role="curator")
    client.force_login(user)
    response = client.post(f"/api/v1/datasets/{dataset.pk}/add-spans/", {"filters": {"name": "llm"}}, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    for _ in range(150):
        body = client.get(f"/api/v1/dataset-jobs/{job_id}/").json()
        if body["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert body["status"] == "succeeded", body
    assert (body["done"], body["total"], body["progress"], body["version"]) == (1205, 1205, 1.0, 1)
    assert dataset_records_at_version(dataset=dataset).count() == 1205
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


def test_job_dispatches_on_commit_and_records_success_and_failure(project, dataset, django_capture_on_commit_callbacks):
    spans = [make_span(project, span_id=f"j{i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = dataset_job_start(dataset=dataset, kind="add_spans", span_pks=[s.pk for s in spans], mapping={})
    assert len(callbacks) == 1  # the task is sent only once the job row is committed
    from apps.datasets.services.jobs import dataset_job_execute

    done = dataset_job_execute(job_id=job.pk)
    assert (done.status, done.done, done.version.number) == ("succeeded", 3, 1)
    assert "span_pks" not in done.params and done.params["result"]["spans"] == 3

    broken = dataset_job_start(dataset=dataset, kind="add_spans", span_pks=[spans[0].pk], mapping={})
    DatasetJob.objects.filter(pk=broken.pk).update(params={"span_pks": [spans[0].pk], "mapping": {"input_path": "$["}})
    failed = dataset_job_execute(job_id=broken.pk)
    assert failed.status == "failed" and "mapping.input_path" in failed.error


# ---------------------------------------------------------------- import


def test_import_csv_with_dotted_columns_is_one_version(dataset):
    content = (
        b"id,input.question,input.lang,expected,difficulty,tags\n"
        b'q1,Refund window?,en,30 days,easy,"refunds,policy"\n'
        b"q2,Damaged item?,en,Replace it,hard,\n"
    )
    count, version = importers.dataset_import_file(
        dataset=dataset, content=content, filename="qa.csv", columns={"id": "record_id"}, splits=["test"]
    )
    assert count == 2 and version.number == 1 and version.added == 2
    records = {r.record_id: r for r in dataset_records_at_version(dataset=dataset)}
    assert records["q1"].input == {"question": "Refund window?", "lang": "en"}
    assert records["q1"].expected == "30 days"
    assert records["q1"].metadata == {"difficulty": "easy"}
    assert records["q1"].tags == ["refunds", "policy"] and records["q1"].splits == ["test"]
    assert records["q1"].origin == "import"


def test_import_errors_name_every_bad_row_and_write_nothing(dataset):
    lines = [
        json.dumps({"record_id": "ok", "input": "fine"}),
        json.dumps({"record_id": "no-input", "expected": "x"}),
        json.dumps({"input": "x", "metadata": "not an object"}),
    ]
    with pytest.raises(ApplicationError) as err:
        importers.dataset_import_file(dataset=dataset, content="\n".join(lines).encode(), filename="rows.jsonl")
    assert set(err.value.fields) == {"rows[1].input", "rows[2].metadata"}
    assert not DatasetRecord.objects.filter(dataset=dataset).exists()
    with pytest.raises(ApplicationError) as err:
        importers.dataset_import_file(dataset=dataset, content=b'{"input": 1}\nnot json', filename="x.jsonl")
    assert "line 2" in err.value.fields


def test_export_reimports_unchanged_in_every_format(dataset):
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {
                "record_id": "a",
                "input": {"q": "é"},
                "expected": "x",
                "metadata": {"k": [1, 2]},
                "tags": ["t1", "t2"],
                "splits": ["train"],
            },
            {"record_id": "b", "input": "plain text"},
        ],
    )
    for fmt in ("csv", "json", "xlsx"):
        content, _ = importers.records_export(queryset=dataset_records_at_version(dataset=dataset), fmt=fmt)
        content = content.encode() if isinstance(content, str) else content
        count, version = importers.dataset_import_file(
            dataset=dataset,
            content=content,
            filename=f"out.{fmt}",
            columns={"origin": "ignore", "version_from": "ignore"},
        )
        assert count == 2 and version is None, fmt  # identical records: nothing to write


# ---------------------------------------------------------------- generation


def test_generation_inserts_one_tagged_version_in_the_style_of_samples(dataset, llm):
    dataset_records_upsert(
        dataset=dataset, records=[{"record_id": "seed", "input": {"question": "Refund?"}, "expected": "30 days"}]
    )
    llm.answer = {
        "records": [
            {"input": {"question": "Exchange?"}, "expected": "Yes"},
            {"input": {"question": "Gift card refund?"}, "expected": "No", "metadata": {"topic": "gifts"}},
        ]
    }
    version = dataset_generate_records(dataset=dataset, count=2, instructions="Cover exchanges")
    assert (version.number, version.added) == (2, 2)
    generated = dataset_records_at_version(dataset=dataset).filter(origin="generated")
    assert sorted(r.input["question"] for r in generated) == ["Exchange?", "Gift card refund?"]
    assert all("needs-review" in r.tags for r in generated)
    sent = llm.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "stub-model"
    prompt = json.loads(sent["body"]["messages"][1]["content"])
    assert prompt["instructions"] == "Cover exchanges" and prompt["count"] == 2
    assert prompt["examples"] == [{"input": {"question": "Refund?"}, "expected": "30 days", "metadata": {}}]


def test_generation_rejects_invalid_answers_and_writes_nothing(dataset, llm):
    llm.answer = {"records": [{"expected": "no input"}]}
    with pytest.raises(ApplicationError) as err:
        dataset_generate_records(dataset=dataset, count=1)
    assert err.value.status == 502
    llm.answer = {"records": [{"input": "ok", "metadata": {"bad": float("inf")}}]}  # inf is not JSON
    with pytest.raises(ApplicationError):
        dataset_generate_records(dataset=dataset, count=1)
    assert not DatasetRecord.objects.filter(dataset=dataset).exists()


def test_generation_without_configuration_explains(dataset, settings, curator_client):
    settings.LLM_BASE_URL = ""
    response = curator_client.post(f"/api/v1/datasets/{dataset.pk}/generate/", {"count": 2}, format="json")
    assert response.status_code == 503
    assert "LLM_BASE_URL" in response.json()["error"]


def test_feedback_job_uses_the_correction_as_expected(project, dataset, django_capture_on_commit_callbacks):
    from apps.datasets.services.jobs import dataset_job_execute

    span = make_span(project, span_id="fb-job", output={"content": "wrong"}, expected="right")
    with django_capture_on_commit_callbacks(execute=False):
        job = dataset_job_start(
            dataset=dataset, kind="from_feedback", span_pks=[span.pk], mapping={"expected_source": "output"}
        )
    assert dataset_job_execute(job_id=job.pk).status == "succeeded"
    record = dataset_records_at_version(dataset=dataset).get()
    assert (record.record_id, record.expected, record.origin) == ("span:fb-job", "right", "feedback")
