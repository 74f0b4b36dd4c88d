"""Dataset admin screens, the "Add to dataset…" changelist action and "from feedback", as a member would use them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.datasets.models import DatasetRecord, DatasetVersion, DatasetVersionTag
from apps.datasets.selectors import dataset_records_at_version
from apps.datasets.services.records import dataset_records_upsert
from tests import factories

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"


@pytest.fixture
def dataset(project):
    ds = factories.DatasetFactory(project=project, name="golden")
    dataset_records_upsert(
        dataset=ds,
        records=[
            {
                "record_id": "r1",
                "input": {"question": "Refund?"},
                "expected": "30 days",
                "tags": ["refunds"],
                "splits": ["test"],
            },
            {"record_id": "r2", "input": {"question": XSS}, "expected": XSS, "splits": ["train"]},
        ],
    )
    return ds


@pytest.fixture
def curator(project, member):
    client = Client()
    client.force_login(member(project, role="curator"))
    return client


@pytest.fixture
def viewer(project, member):
    client = Client()
    client.force_login(member(project, role="viewer"))
    return client


def url(name, dataset, **query):
    base = reverse(f"admin:datasets_dataset_{name}", args=[dataset.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_records_page_lists_current_version_escaped_with_search_and_filters(curator, dataset):
    page = curator.get(url("records", dataset)).content.decode()
    assert 'data-record-id="r1"' in page and 'data-record-id="r2"' in page
    assert XSS not in page and "&lt;script&gt;" in page
    assert 'data-record-id="r2"' not in curator.get(url("records", dataset, q="Refund")).content.decode()
    by_split = curator.get(url("records", dataset, split="train")).content.decode()
    assert 'data-record-id="r2"' in by_split and 'data-record-id="r1"' not in by_split
    by_tag = curator.get(url("records", dataset, tag="refunds")).content.decode()
    assert 'data-record-id="r1"' in by_tag and 'data-record-id="r2"' not in by_tag


def test_inline_edit_makes_a_version_and_bad_json_writes_nothing(curator, dataset):
    prefix = "r1x"
    response = curator.post(
        url("record_save", dataset),
        {
            "prefix": prefix,
            f"{prefix}-record_id": "r1",
            f"{prefix}-input": '{"question": "Refund?"}',
            f"{prefix}-expected": "Within 30 days",
            f"{prefix}-metadata": "{}",
            f"{prefix}-tags": "refunds, policy",
            f"{prefix}-splits": "test",
            f"{prefix}-message": "Sharper answer",
        },
    )
    assert response.status_code == 302
    version = DatasetVersion.objects.get(dataset=dataset, number=2)
    assert (version.message, version.updated, version.added) == ("Sharper answer", 1, 0)
    record = dataset_records_at_version(dataset=dataset).get(record_id="r1")
    assert record.expected == "Within 30 days" and record.tags == ["refunds", "policy"]

    bad = curator.post(
        url("record_save", dataset),
        {"prefix": prefix, f"{prefix}-record_id": "r1", f"{prefix}-input": "x", f"{prefix}-metadata": "[1, 2]"},
    )
    assert bad.status_code == 200 and "Enter a JSON object" in bad.content.decode()
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 2


def test_viewer_reads_but_cannot_write(viewer, dataset):
    assert viewer.get(url("records", dataset)).status_code == 200
    assert viewer.post(url("record_delete", dataset), {"record_id": "r1"}).status_code == 403
    assert viewer.post(url("restore", dataset), {"version": 1}).status_code == 403
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


def test_other_projects_dataset_is_404(curator, other_project):
    theirs = factories.DatasetFactory(project=other_project)
    assert curator.get(url("records", theirs)).status_code == 404
    assert curator.post(url("record_delete", theirs), {"record_id": "x"}).status_code == 404


def test_history_diff_restore_and_tag_move(curator, dataset):
    assert curator.post(url("record_delete", dataset), {"record_id": "r2"}).status_code == 302
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {
                "record_id": "r1",
                "input": {"question": "Refund?"},
                "expected": XSS,
                "tags": ["refunds"],
                "splits": ["test"],
            }
        ],
    )
    history = curator.get(url("versions", dataset)).content.decode()
    assert 'data-version="3"' in history and 'data-version="1"' in history
    export_link = f"/admin/exports/exportjob/add/?dataset={dataset.pk}&amp;version=3"
    assert export_link in history
    assert curator.get(export_link.replace("&amp;", "&")).status_code == 200

    diff = curator.get(url("diff", dataset, a=1, b=3)).content.decode()
    assert "1 changed, 1 removed" in diff.replace("0 added, ", "")
    assert XSS not in diff and "&lt;script&gt;" in diff
    assert "<caption>expected</caption>" in diff

    curator.post(url("tag", dataset), {"name": "prod", "version": 1})
    assert DatasetVersionTag.objects.get(dataset=dataset, name="prod").version.number == 1
    curator.post(url("tag", dataset), {"name": "prod", "version": 3})
    assert DatasetVersionTag.objects.get(dataset=dataset, name="prod").version.number == 3

    assert curator.post(url("restore", dataset), {"version": 1}).status_code == 302
    dataset.refresh_from_db()
    assert dataset.latest_version == 4
    assert {r.record_id: r.expected for r in dataset_records_at_version(dataset=dataset)} == {
        "r1": "30 days",
        "r2": XSS,
    }
    assert curator.get(url("diff", dataset, a=1, b=99)).status_code == 404


def test_import_page_shows_row_errors_then_commits_one_version(curator, dataset):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("rows.csv", b"input.question,expected,metadata\nQ1,A1,{}\n,A2,{}\nQ3,A3,[1]\n")
    page = curator.post(url("import", dataset), {"file": bad, "format": "auto"}).content.decode()
    assert "rows[1].input" in page and "rows[2].metadata" in page
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1

    good = SimpleUploadedFile("rows.csv", b"input.question,expected\nQ1,A1\nQ2,A2\n")
    dry = curator.post(url("import", dataset), {"file": good, "format": "csv", "dry_run": "on"}).content.decode()
    assert "All 2 rows are valid" in dry
    good.seek(0)
    response = curator.post(url("import", dataset), {"file": good, "format": "csv", "splits": "holdout"})
    assert response.status_code == 302
    version = DatasetVersion.objects.get(dataset=dataset, number=2)
    assert version.added == 2
    imported = dataset_records_at_version(dataset=dataset, split="holdout")
    assert sorted(r.input["question"] for r in imported) == ["Q1", "Q2"]


def test_generate_page_explains_configuration_when_missing(curator, dataset, settings):
    settings.LLM_BASE_URL = ""
    page = curator.get(url("generate", dataset)).content.decode()
    assert "LLM_BASE_URL" in page and "LLM_MODEL" in page


def test_export_download_is_an_attachment(curator, dataset):
    response = curator.get(url("records_export", dataset, format="csv"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"r1" in response.content


# ---------------------------------------------------------------- "Add to dataset…" and feedback


def _spans(project, n, name="answer"):
    trace = factories.TraceFactory(project=project)
    return [
        factories.SpanFactory(
            trace=trace, name=name, span_id=f"{name}-{i}", input={"question": f"q{i}"}, output={"content": f"a{i}"}
        )
        for i in range(n)
    ]


def test_add_to_dataset_action_honours_select_across_with_filters(curator, project, dataset):
    _spans(project, 3, name="answer")
    others = _spans(project, 2, name="retrieve")
    changelist = reverse("admin:traces_span_changelist") + "?name=answer"
    first = curator.post(
        changelist, {"action": "add_to_dataset", "select_across": "1", "index": "0", "_selected_action": [others[0].pk]}
    )
    assert first.status_code == 200
    body = first.content.decode()
    assert 'id="ds-add-form"' in body and "3 spans" in body
    preview = curator.post(
        changelist,
        {
            "action": "add_to_dataset",
            "select_across": "1",
            "_selected_action": [others[0].pk],
            "preview": "1",
            "dataset": dataset.pk,
            "input_path": "$.question",
            "expected_source": "auto",
        },
    ).content.decode()
    assert 'id="ds-mapping-preview"' in preview and "&quot;q0&quot;" in preview
    assert not dataset_records_at_version(dataset=dataset).filter(origin="log").exists()
    second = curator.post(
        changelist,
        {
            "action": "add_to_dataset",
            "select_across": "1",
            "_selected_action": [others[0].pk],
            "apply": "1",
            "dataset": dataset.pk,
            "input_path": "$.question",
            "expected_source": "auto",
            "splits": "train",
            "carry_annotations": "on",
        },
    )
    assert second.status_code == 302, second.content.decode()[:500]
    added = dataset_records_at_version(dataset=dataset).filter(origin="log")
    assert sorted(added.values_list("record_id", flat=True)) == ["span:answer-0", "span:answer-1", "span:answer-2"]
    assert added.get(record_id="span:answer-1").input == "q1"
    assert "annotations" in added.get(record_id="span:answer-1").metadata


def test_add_to_dataset_creates_a_new_dataset_from_selected_traces(curator, project):
    spans = _spans(project, 1, name="root")
    changelist = reverse("admin:traces_trace_changelist")
    response = curator.post(
        changelist,
        {
            "action": "add_to_dataset",
            "select_across": "0",
            "_selected_action": [spans[0].trace_id],
            "apply": "1",
            "new_dataset_name": "from-traces",
            "expected_source": "output",
        },
    )
    assert response.status_code == 302
    from apps.datasets.models import Dataset

    created = Dataset.objects.get(project=project, name="from-traces")
    record = dataset_records_at_version(dataset=created).get()
    assert record.record_id == "span:root-0" and record.expected == {"content": "a0"}


def test_from_feedback_turns_corrected_thumbs_down_into_records(curator, project, dataset):
    from apps.reviews.services.corrections import correction_record
    from apps.reviews.services.score_configs import score_config_create
    from apps.reviews.services.scores import score_record

    thumbs = score_config_create(project=project, name="thumbs", kind="boolean")
    down, up, uncorrected = _spans(project, 3, name="fb")
    score_record(span=down, config=thumbs, value=False, source="end_user")
    correction_record(span=down, value="The right answer")
    score_record(span=up, config=thumbs, value=True, source="end_user")
    correction_record(span=up, value="Fine anyway")
    score_record(span=uncorrected, config=thumbs, value=False, source="end_user")

    response = curator.post(url("from_feedback", dataset))
    assert response.status_code == 302
    records = DatasetRecord.objects.filter(dataset=dataset, origin="feedback")
    assert [(r.record_id, r.expected) for r in records] == [("span:fb-0", "The right answer")]
    assert records.get().metadata["annotations"]["scores"][0]["config"] == "thumbs"

    api = curator.post(f"/api/v1/datasets/{dataset.pk}/from-feedback/", {}, content_type="application/json")
    assert api.status_code == 200 and api.json()["created"] is False  # already there, unchanged


def test_job_page_and_status_poll(curator, project, dataset, django_capture_on_commit_callbacks):
    from apps.datasets.services.jobs import dataset_job_execute, dataset_job_start

    spans = _spans(project, 2, name="job")
    with django_capture_on_commit_callbacks(execute=False):
        job = dataset_job_start(dataset=dataset, kind="add_spans", span_pks=[s.pk for s in spans], mapping={})
    page = curator.get(reverse("admin:datasets_dataset_job", args=[job.pk])).content.decode()
    assert 'id="ds-job"' in page and "datasets/job.js" in page
    status_url = reverse("admin:datasets_dataset_job_status", args=[job.pk])
    assert curator.get(status_url).json()["status"] == "queued"
    dataset_job_execute(job_id=job.pk)
    assert curator.get(status_url).json() == {
        "status": "succeeded",
        "done": 2,
        "total": 2,
        "progress": 1.0,
        "error": "",
        "version": 2,
    }


def test_job_of_another_project_is_404(curator, other_project):
    from apps.datasets.models import DatasetJob

    theirs = factories.DatasetFactory(project=other_project)
    job = DatasetJob.objects.create(project=other_project, dataset=theirs, kind="add_spans")
    assert curator.get(reverse("admin:datasets_dataset_job_status", args=[job.pk])).status_code == 404


def test_demo_loader_builds_versions_tags_and_splits(project):
    import io

    from apps.datasets.demo import load_demo_datasets
    from apps.datasets.models import Dataset

    for i in range(45):
        trace = factories.TraceFactory(project=project)
        factories.SpanFactory(trace=trace, span_id=f"demo-{i}", input={"question": f"q{i}"})
    load_demo_datasets(project=project, traces=45, stdout=io.StringIO())
    dataset = Dataset.objects.get(project=project, name="support-golden")
    assert dataset.latest_version >= 4
    assert set(dataset.version_tags.values_list("name", flat=True)) == {"baseline", "prod"}
    assert dataset_records_at_version(dataset=dataset, split="test").exists()
    assert dataset_records_at_version(dataset=dataset, split="train").exists()
    load_demo_datasets(project=project, traces=45, stdout=io.StringIO())  # idempotent
    assert Dataset.objects.filter(project=project).count() == 1


def test_dataset_change_page_previews_current_records_and_links_screens(curator, dataset):
    page = curator.get(reverse("admin:datasets_dataset_change", args=[dataset.pk])).content.decode()
    assert 'id="ds-preview"' in page and "2 records" in page and "<code>r1</code>" in page
    assert XSS not in page
    for name in ("records", "versions", "diff", "import", "generate"):
        assert url(name, dataset) in page
    listing = curator.get(reverse("admin:datasets_dataset_changelist")).content.decode()
    assert "golden" in listing and url("versions", dataset) in listing


def test_generate_page_adds_records_for_review(curator, dataset, llm):
    llm.answer = {"records": [{"input": {"question": "Exchange a gift?"}, "expected": "Yes, within 60 days."}]}
    page = curator.get(url("generate", dataset)).content.decode()
    assert "LLM_BASE_URL" not in page and 'name="instructions"' in page
    response = curator.post(url("generate", dataset), {"count": 1, "instructions": "gifts", "sample_size": 2})
    assert response.status_code == 302 and "tag=needs-review" in response["Location"]
    generated = dataset_records_at_version(dataset=dataset, tag="needs-review").get()
    assert generated.origin == "generated" and generated.input == {"question": "Exchange a gift?"}
    # The endpoint came from settings; a posted URL is ignored.
    curator.post(url("generate", dataset), {"count": 1, "sample_size": 0, "base_url": "http://evil.invalid"})
    assert len(llm.requests) == 2 and all(r["path"] == "/v1/chat/completions" for r in llm.requests)


def test_record_history_shows_every_revision_escaped(curator, dataset):
    dataset_records_upsert(
        dataset=dataset,
        records=[{"record_id": "r2", "input": {"question": XSS}, "expected": "fixed", "splits": ["train"]}],
    )
    page = curator.get(url("record_history", dataset, record_id="r2")).content.decode()
    assert 'data-revision-from="2"' in page and 'data-revision-from="1"' in page
    assert "<caption>expected</caption>" in page and XSS not in page
    assert curator.get(url("record_history", dataset, record_id="nope")).status_code == 404
