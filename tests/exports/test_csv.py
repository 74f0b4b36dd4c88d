"""Flat CSV: one column per score config (the mean), optional per-reviewer columns, the latest comment
and the correction, no JSON blob of annotations; traces CSV without the span tree by default."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.services.comments import comment_add
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import score_record
from tests import factories
from tests.exports.conftest import as_buffer, read_file, run

pytestmark = pytest.mark.django_db


def _frame(job):
    assert job.status == "succeeded", job.error
    return pd.read_csv(as_buffer(job), dtype=str, keep_default_na=False)


@pytest.fixture
def second_reviewer(project, annotated_spans):
    ben = factories.UserFactory(username="ben")
    from apps.reviews.models import ScoreConfig

    helpful = ScoreConfig.objects.get(project=project, name="helpful")
    score_record(span=annotated_spans[0], config=helpful, value=0.4, author=ben)
    score_config_create(project=project, name="unused", kind="boolean")
    comment_add(span=annotated_spans[0], text="Second look: fine", author=ben)
    return ben


def test_spans_csv_has_a_mean_per_config_the_latest_comment_and_the_correction(project, second_reviewer):
    frame = _frame(run(project, format="csv"))
    by_id = frame.set_index("span_id")
    assert float(by_id.loc["s-1", "score.helpful"]) == pytest.approx(0.6)  # rita 0.8, ben 0.4
    assert by_id.loc["s-2", "score.helpful"] == ""
    assert "score.unused" in frame.columns  # every config of the project is a column, scored or not
    assert by_id.loc["s-1", "latest_comment"] == "Second look: fine"
    assert by_id.loc["s-1", "expected"] == "30 days from delivery."
    assert not {"scores", "comments", "corrections", "tag_details"} & set(frame.columns)
    assert not any(c.startswith("score.helpful.") for c in frame.columns)  # per reviewer only when asked
    assert json.loads(by_id.loc["s-1", "tags"]) == ["golden"]


def test_reviewer_columns_when_asked(project, second_reviewer):
    frame = _frame(run(project, format="csv", options={"reviewer_scores": True}))
    by_id = frame.set_index("span_id")
    assert float(by_id.loc["s-1", "score.helpful.rita"]) == pytest.approx(0.8)
    assert float(by_id.loc["s-1", "score.helpful.ben"]) == pytest.approx(0.4)
    assert by_id.loc["s-2", "score.helpful.ben"] == ""
    assert "score" not in frame.columns


def test_formula_cells_stay_neutralised_in_the_new_columns(project, annotated_spans):
    comment_add(span=annotated_spans[1], text="=cmd|' /C calc'!A0", author=None)
    job = run(project, format="csv")
    by_id = _frame(job).set_index("span_id")
    assert by_id.loc["s-2", "latest_comment"] == "'=cmd|' /C calc'!A0"
    for row in csv.reader(io.StringIO(read_file(job).decode())):
        assert not any(cell.startswith(("=", "+", "@")) for cell in row)


def test_traces_csv_has_no_span_blob_and_root_metrics_as_columns(project, annotated_spans):
    frame = _frame(run(project, source="traces", format="csv"))
    assert "spans" not in frame.columns
    row = frame.iloc[0]
    assert json.loads(row["input"]) == [{"role": "user", "content": "What is the refund window?"}]
    assert row["output"] == json.dumps({"role": "assistant", "content": "30 days."}, separators=(",", ":"))
    assert row["expected"] == "30 days from delivery."  # a string value is the text itself
    assert row["metrics.latency_ms"] == "120"
    assert float(row["score.helpful"]) == pytest.approx(0.8)
    assert row["latest_comment"] == "Checked against policy"
    with_spans = _frame(run(project, source="traces", format="csv", options={"spans_column": True}))
    assert len(json.loads(with_spans.iloc[0]["spans"])) == 3


@pytest.mark.parametrize(
    "options,field",
    [
        ({"nope": True}, "options.nope"),
        ({"reviewer_scores": "yes"}, "options.reviewer_scores"),
        ({"spans_column": True}, "options.spans_column"),  # a spans export has no span tree
    ],
)
def test_invalid_options_are_refused(project, options, field):
    with pytest.raises(ApplicationError) as caught:
        run(project, format="csv", options=options)
    assert field in caught.value.fields


def test_a_column_first_seen_in_a_later_chunk_pads_the_rows_before_it(project, settings):
    """Rows are spooled as CSV with the columns known so far; a metadata key first seen in a later
    chunk becomes a column after them, and the rows written before it get an empty cell."""
    settings.EXPORTS_CHUNK_SIZE = 2
    trace = factories.TraceFactory(project=project)
    for i, metadata in enumerate([{"a": 1}, {"a": 2}, {"a": 3, "b": {"c": "x,\ny"}}, {}]):
        factories.SpanFactory(project=project, trace=trace, span_id=f"s-{i}", metadata=metadata)
    job = run(project, format="csv")
    rows = list(csv.reader(io.StringIO(read_file(job).decode())))
    header, body = rows[0], rows[1:]
    assert header[-2:] == ["metadata.b.c", "metadata"]  # after every column known before them
    assert all(len(row) == len(header) for row in body)
    by_id = {row[header.index("span_id")]: dict(zip(header, row, strict=True)) for row in body}
    assert by_id["s-0"]["metadata.b.c"] == "" and by_id["s-0"]["metadata.a"] == "1"
    assert by_id["s-2"]["metadata.b.c"] == "x,\ny"
    assert by_id["s-3"]["metadata"] == "{}" and by_id["s-3"]["metadata.a"] == ""
