"""Experiment results through the export jobs (issue 14, item 7): JSONL, CSV and Parquet opened and
checked, the score columns, the API and the admin actions, isolation across projects, bad input."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.experiments.scoring import results_score
from apps.experiments.services import experiment_results_upsert
from apps.exports.models import ExportJob, ExportSchedule
from apps.exports.services import export_job_run, export_schedule_validate
from apps.projects.models import Role
from apps.reviews.services.scores import score_record
from tests import factories
from tests.exports.conftest import export_storage, read_file, run  # noqa: F401 - export_storage is autouse

from .scorer_fixtures import scorer_make

pytestmark = pytest.mark.django_db
EXPORTS = "/api/v1/exports/"
ID = "<the experiment's id>"


@pytest.fixture
def scored(project, experiment):
    """r1 right, r2 a formula-like wrong answer, r3 a failed run; `correct` scored by json_equal v1 and by
    two people on r1, `tone` (categorical) only by a person on r2."""
    experiment_results_upsert(
        experiment=experiment,
        items=[
            {"record_id": "r1", "output": {"a": "30 days"}, "latency_ms": 812.5, "input_tokens": 120,
             "output_tokens": 30, "cost": 0.00004, "metadata": {"model": "m1"}},
            {"record_id": "r2", "output": '=HYPERLINK("http://evil")', "latency_ms": 90.0},
            {"record_id": "r3", "error": "timeout"},
        ],
    )  # fmt: skip
    correct = factories.ScoreConfigFactory(project=project, name="correct", boolean=True)
    tone = factories.ScoreConfigFactory(project=project, name="tone", categorical=True)
    factories.ScoreConfigFactory(project=project, name="unused")  # no score: no column
    version = scorer_make(project, correct, {"type": "json_equal"}, name="json equality")
    outcome = results_score(version=version, experiment=experiment)
    assert (outcome.scored, outcome.failed) == (2, 1)
    spans = {r.record_id: r.span for r in experiment.results.select_related("span")}
    for who, value in (("ann", 1.0), ("bob", 0.0)):
        score_record(span=spans["r1"], config=correct, value=value, author=factories.UserFactory(username=who))
    score_record(span=spans["r2"], config=tone, label="partially", author=factories.UserFactory(username="cy"))
    return experiment


def _job(project, experiment, fmt: str, **kwargs):
    return run(project, source="experiment", format=fmt, filters={"experiment": experiment.pk}, **kwargs)


def test_jsonl_one_row_per_result_with_score_columns(project, scored):
    job = _job(project, scored, "jsonl")
    assert job.status == "succeeded" and job.row_count == 3 and job.total_rows == 3, job.error
    rows = {row["record_id"]: row for row in map(json.loads, read_file(job).decode().splitlines())}
    first = rows["r1"]
    assert first["experiment_id"] == scored.pk and first["experiment"] == "baseline"
    assert first["dataset_version"] == 1
    assert first["input"] == {"q": "refund?"} and first["expected"] == {"a": "30 days"}  # as of v1, not v2
    assert first["output"] == {"a": "30 days"} and first["error"] == ""
    assert (first["latency_ms"], first["input_tokens"], first["output_tokens"], first["total_tokens"]) == (
        812.5, 120, 30, 150,
    )  # fmt: skip
    assert first["cost"] == 0.00004 and first["metadata"] == {"model": "m1"}
    span = scored.results.get(record_id="r1").span
    assert first["span_id"] == span.span_id and first["trace_id"] == span.trace.trace_id
    assert first["score.correct"] == 1.0 and first["score.correct.scorer"] == "json equality v1"
    assert first["score.correct.human"] == 0.5  # the mean of ann's 1 and bob's 0
    assert first["score.tone"] is None and first["score.tone.label"] is None and first["score.tone.human"] is None
    assert "score.unused" not in first
    assert rows["r2"]["score.correct"] == 0.0 and rows["r2"]["score.tone.human"] == 0.5
    failed = rows["r3"]
    assert failed["error"] == "timeout" and failed["output"] is None
    assert failed["score.correct"] is None and failed["score.correct.scorer"] is None  # a scorer failure, no score


def test_csv_neutralises_formulas_and_flattens(project, scored):
    job = _job(project, scored, "csv", gzip=True)
    assert job.status == "succeeded", job.error
    rows = {row["record_id"]: row for row in csv.DictReader(io.StringIO(read_file(job).decode()))}
    assert rows["r2"]["output"] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it as text
    assert rows["r1"]["output.a"] == "30 days" and rows["r1"]["input.q"] == "refund?"
    assert rows["r1"]["score.correct"] == "1.0" and rows["r1"]["score.correct.scorer"] == "json equality v1"
    assert rows["r1"]["score.correct.human"] == "0.5" and rows["r2"]["score.tone.human"] == "0.5"
    assert rows["r3"]["error"] == "timeout" and rows["r3"]["score.correct"] == ""
    assert rows["r1"]["latency_ms"] == "812.5" and rows["r1"]["total_tokens"] == "150"


def test_parquet_has_real_types(project, scored):
    job = _job(project, scored, "parquet")
    assert job.status == "succeeded", job.error
    table = pq.read_table(io.BytesIO(read_file(job)))
    schema = table.schema
    assert schema.field("experiment_id").type == pa.int64() and schema.field("input_tokens").type == pa.int64()
    assert schema.field("latency_ms").type == pa.float64() and schema.field("cost").type == pa.float64()
    assert schema.field("score.correct").type == pa.float64() and schema.field("score.tone.label").type == pa.string()
    assert pa.types.is_timestamp(schema.field("created_at").type)
    assert pa.types.is_struct(schema.field("input").type)  # {"q": …} on every row: a native struct
    rows = {row["record_id"]: row for row in table.to_pylist()}
    assert rows["r1"]["input"] == {"q": "refund?"} and rows["r1"]["score.correct.human"] == 0.5
    assert rows["r1"]["total_tokens"] == 150 and rows["r3"]["score.correct"] is None
    assert rows["r2"]["score.tone.human"] == 0.5 and rows["r2"]["score.correct.scorer"] == "json equality v1"


def test_several_experiments_and_an_admin_selection(project, dataset, scored):
    from apps.experiments.services import experiment_create

    other = experiment_create(project=project, dataset=dataset, version=2, name="candidate")
    experiment_results_upsert(experiment=other, items=[{"record_id": "r4", "output": "new"}])
    job = run(project, source="experiment", format="jsonl", filters={"experiment": [scored.pk, other.pk]})
    rows = [json.loads(line) for line in read_file(job).decode().splitlines()]
    assert sorted((r["experiment"], r["record_id"]) for r in rows) == [
        ("baseline", "r1"), ("baseline", "r2"), ("baseline", "r3"), ("candidate", "r4"),
    ]  # fmt: skip
    picked = [scored.results.get(record_id="r2").pk]
    job = run(project, source="experiment", format="jsonl", filters={"experiment": scored.pk}, selected_pks=picked)
    assert [json.loads(line)["record_id"] for line in read_file(job).decode().splitlines()] == ["r2"]


def test_api_creates_and_serves_the_export_and_other_projects_get_404(scored, client_a, client_b):
    created = client_a.post(
        EXPORTS, {"source": "experiment", "format": "csv", "filters": {"experiment": scored.pk}}, format="json"
    )
    assert created.status_code == 202, created.content
    job_id = created.json()["id"]
    assert created.json()["source"] == "experiment" and created.json()["filters"] == {"experiment": scored.pk}
    export_job_run(job_id=job_id)
    download = client_a.get(f"{EXPORTS}{job_id}/download/")
    assert download.status_code == 200 and b"score.correct" in b"".join(download.streaming_content)
    # Another project's key: the experiment and the job answer as if they did not exist.
    foreign = client_b.post(
        EXPORTS, {"source": "experiment", "format": "csv", "filters": {"experiment": scored.pk}}, format="json"
    )
    assert foreign.status_code == 404, foreign.content
    missing = client_b.post(
        EXPORTS, {"source": "experiment", "format": "csv", "filters": {"experiment": 99999}}, format="json"
    )
    assert missing.status_code == 404 and missing.json() == foreign.json()
    assert client_b.get(f"{EXPORTS}{job_id}/").status_code == 404
    assert client_b.get(f"{EXPORTS}{job_id}/download/").status_code == 404
    assert ExportJob.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filters": {}}, "filters.experiment"),
        ({"filters": {"experiment": "abc"}}, "filters.experiment"),
        ({"filters": {"experiment": [1.5]}}, "filters.experiment"),
        ({"filters": {"experiment": []}}, "filters.experiment"),
        ({"filters": {"experiment": True}}, "filters.experiment"),
        ({"filters": {"experiment": ID, "has_expected": True}}, "filters.has_expected"),
        ({"filters": {"experiment": ID}, "format": "openai_chat"}, "format"),
        (
            {"filters": {"experiment": ID}, "format": "csv", "options": {"reviewer_scores": True}},
            "options.reviewer_scores",
        ),
        ({"filters": "x"}, "filters"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(scored, client_a, body, field):
    if isinstance(body["filters"], dict) and body["filters"].get("experiment") == ID:
        body = {**body, "filters": {**body["filters"], "experiment": scored.pk}}  # a real id of the project
    response = client_a.post(EXPORTS, {"source": "experiment", "format": "jsonl", **body}, format="json")
    assert response.status_code == 400, (body, response.content)
    assert field in response.json()["fields"], response.json()
    assert not ExportJob.objects.exists()


def test_experiment_results_are_not_scheduled(project, scored):
    schedule = ExportSchedule(project=project, name="nightly", source="experiment", filters={"experiment": scored.pk})
    with pytest.raises(ApplicationError) as raised:
        export_schedule_validate(schedule=schedule)
    assert "source" in raised.value.fields


def test_admin_export_results_of_experiments_and_of_selected_results(client_as, project, other_project, scored):
    client = client_as(Role.CURATOR, project)
    client.user.is_staff = True
    client.user.save()
    experiments = reverse("admin:experiments_experiment_changelist")
    form = {"action": "export_experiment_results", "index": "0", "_selected_action": [str(scored.pk)]}
    page = client.post(experiments, form)
    assert page.status_code == 200 and b"results of the selected experiments" in page.content
    assert b"Every result of the 1 selected experiment of" in b" ".join(page.content.split())
    assert b"openai_chat" not in page.content  # only the table formats are offered
    done = client.post(experiments, {**form, "export_confirm": "1", "format": "parquet"})
    assert done.status_code == 302
    job = ExportJob.objects.get()
    assert (job.source, job.format, job.filters, job.selected_pks) == (
        "experiment", "parquet", {"experiment": [scored.pk]}, None,
    )  # fmt: skip
    results = reverse("admin:experiments_experimentresult_changelist")
    picked = scored.results.get(record_id="r1").pk
    form = {"action": "export_results", "index": "0", "_selected_action": [str(picked)], "export_confirm": "1"}
    assert client.post(results, {**form, "format": "jsonl"}).status_code == 302
    job = ExportJob.objects.order_by("-pk").first()
    assert job.selected_pks == [picked] and job.filters == {"experiment": [scored.pk]}
    export_job_run(job_id=job.pk)
    assert [json.loads(line)["record_id"] for line in read_file(job).decode().splitlines()] == ["r1"]
    # Someone of another project is not shown this project's experiments, so cannot export them.
    outsider = client_as(Role.CURATOR, other_project)
    outsider.user.is_staff = True
    outsider.user.save()
    outsider.post(experiments, {"action": "export_experiment_results", "index": "0",
                                "_selected_action": [str(scored.pk)], "export_confirm": "1", "format": "csv"})  # fmt: skip
    assert ExportJob.objects.count() == 2
