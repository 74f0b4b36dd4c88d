"""The scores export: one row per score, in JSONL, CSV and Parquet, created through the API and the admin."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from apps.exports.models import ExportJob
from apps.projects.models import Role
from apps.reviews.models import ScoreConfig
from apps.reviews.services.scores import score_record
from tests import factories
from tests.exports.conftest import as_buffer, read_file, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def scores(project, annotated_spans):
    config = ScoreConfig.objects.get(project=project, name="helpful")
    verdict = factories.UserFactory(username="ben")
    from apps.reviews.services.score_configs import score_config_create

    tone = score_config_create(
        project=project,
        name="tone",
        kind="categorical",
        options=[{"label": "calm", "value": 1}, {"label": "rude", "value": 0}],
    )
    score_record(span=annotated_spans[1], config=config, value=0.2, author=verdict)
    score_record(span=annotated_spans[1], config=tone, label="calm", author=verdict)
    score_record(span=annotated_spans[2], config=config, value=1.0, source="api")
    return annotated_spans


def test_jsonl_one_row_per_score(project, scores):
    job = run(project, source="scores", format="jsonl")
    assert job.status == "succeeded", job.error
    rows = [json.loads(line) for line in read_file(job).decode().splitlines()]
    assert [(r["span_id"], r["config"], r["value"], r["reviewer"], r["source"]) for r in rows] == [
        ("s-1", "helpful", 0.8, "rita", "human"),
        ("s-2", "helpful", 0.2, "ben", "human"),
        ("s-2", "tone", 1.0, "ben", "human"),
        ("s-3", "helpful", 1.0, None, "api"),
    ]
    tone = rows[2]
    assert tone["label"] == "calm" and tone["kind"] == "categorical" and tone["trace_id"] == "trace-a"
    assert tone["created_at"].endswith("+00:00") and tone["updated_at"].endswith("+00:00")


def test_csv_and_parquet_of_scores(project, scores):
    frame = pd.read_csv(as_buffer(run(project, source="scores", format="csv")), dtype=str, keep_default_na=False)
    assert list(frame["config"]) == ["helpful", "helpful", "tone", "helpful"]
    assert list(frame["reviewer"]) == ["rita", "ben", "ben", ""]
    table = pq.read_table(as_buffer(run(project, source="scores", format="parquet")))
    assert table.schema.field("updated_at").type.tz == "UTC"
    assert table.column("value").to_pylist() == [0.8, 0.2, 1.0, 1.0]


def test_span_filters_pick_the_scores(project, scores):
    job = run(project, source="scores", format="jsonl", filters={"span_id": ["s-2"]})
    assert job.row_count == 2


def test_scores_export_through_the_api(project, scores, key_client, other_project):
    client = key_client(project, scopes=("read", "write"))
    response = client.post("/api/v1/exports/", {"source": "scores", "format": "csv"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["source"] == "scores"
    bad = client.post("/api/v1/exports/", {"source": "scores", "format": "openai_chat"}, format="json")
    assert bad.status_code == 400 and "format" in bad.json()["fields"]


def test_scores_export_through_the_admin(client, project, member, scores):
    client.force_login(member(project, role=Role.CURATOR))
    response = client.post(
        "/admin/exports/exportjob/new/",
        {
            "project": project.pk,
            "source": "scores",
            "format": "parquet",
            "filters": "{}",
            "options": "{}",
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    assert ExportJob.objects.get().source == "scores"
