"""Each format, written by a real export job, read back by pandas and by pyarrow."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest

from apps.exports.formats.csv import neutralise
from tests.exports.conftest import as_buffer, read_file, run

pytestmark = pytest.mark.django_db


def test_jsonl_has_every_annotation_and_reads_back(project, annotated_spans):
    job = run(project, format="jsonl")
    assert job.status == "succeeded", job.error
    assert job.row_count == 3 and job.byte_size == len(read_file(job))
    lines = [json.loads(line) for line in read_file(job).decode().splitlines()]
    first = next(row for row in lines if row["span_id"] == "s-1")
    assert first["trace_id"] == "trace-a"
    assert first["input"] == [{"role": "user", "content": "What is the refund window?"}]
    assert first["expected"] == "30 days from delivery."
    assert first["metadata"] == {"customer": {"tier": "gold"}, "region": "eu"}
    assert [(s["config"], s["value"], s["author"]) for s in first["scores"]] == [("helpful", 0.8, "rita")]
    assert "golden" in first["tags"] and first["tag_details"][0]["added_by"] == "rita"
    assert first["comments"][0]["text"] == "Checked against policy"
    assert first["corrections"][-1]["value"] == "30 days from delivery."
    assert first["start_time"].endswith("+00:00")

    frame = pd.read_json(as_buffer(job), lines=True)
    assert sorted(frame["span_id"]) == ["s-1", "s-2", "s-3"]
    # Arrow's JSON reader wants one type per column (s-2's expected is an object, s-3's input a string).
    same_shape = run(project, format="jsonl", filters={"span_id": ["s-1"]})
    table = pajson.read_json(as_buffer(same_shape))
    assert table.num_rows == 1 and table.column("scores").to_pylist()[0][0]["config"] == "helpful"


def test_csv_flattens_neutralises_and_reads_back(project, annotated_spans):
    job = run(project, format="csv")
    assert job.status == "succeeded", job.error
    frame = pd.read_csv(as_buffer(job), dtype=str, keep_default_na=False)
    assert {"metadata.customer.tier", "metadata.region", "metrics.latency_ms", "output.content"} <= set(frame.columns)
    by_id = frame.set_index("span_id")
    assert by_id.loc["s-1", "metadata.customer.tier"] == "gold"
    # Formula-like cells are prefixed with a quote; lists stay JSON text.
    assert by_id.loc["s-2", "output.content"] == "'-1"
    assert by_id.loc["s-2", "metadata.note"] == "'@mention"
    assert json.loads(by_id.loc["s-2", "input"])[1]["content"] == '=HYPERLINK("x")'
    assert by_id.loc["s-1", "expected"] == "30 days from delivery."
    table = pacsv.read_csv(as_buffer(job))
    assert table.num_rows == 3 and "metadata.customer.tier" in table.column_names
    for row in csv.reader(io.StringIO(read_file(job).decode())):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_neutralise_every_formula_prefix(cell):
    assert neutralise(cell) == "'" + cell
    assert neutralise("plain") == "plain"


def test_parquet_refuses_gzip(project):
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        run(project, format="parquet", gzip=True)
    assert "gzip" in caught.value.fields


def test_gzip_jsonl(project, annotated_spans):
    job = run(project, format="jsonl", gzip=True)
    assert job.storage_key.endswith(f"/{job.uid}.jsonl.gz")
    assert len(read_file(job).decode().splitlines()) == 3
    frame = pd.read_json(io.BytesIO(read_file(job)), lines=True)
    assert len(frame) == 3


def test_openai_chat_lines_are_valid_conversations_and_problems_are_reported(project, annotated_spans):
    job = run(project, format="openai_chat")
    assert job.status == "succeeded", job.error
    lines = read_file(job).decode().splitlines()
    assert len(lines) == job.row_count == 2
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"messages"}
        messages = record["messages"]
        assert messages[-1]["role"] == "assistant"
        assert any(m["role"] == "user" for m in messages)
        for message in messages:
            assert message["role"] in {"system", "developer", "user", "assistant", "tool"}
            assert isinstance(message["content"], str) and message["content"].strip()
    conversations = [json.loads(line)["messages"] for line in lines]
    assert conversations[0] == [
        {"role": "user", "content": "What is the refund window?"},
        {"role": "assistant", "content": "30 days from delivery."},
    ]
    assert conversations[1][0] == {"role": "system", "content": "Be terse."}
    assert conversations[1][-1] == {"role": "assistant", "content": "Refunds take 30 days."}
    # The span without an expected answer is reported, not silently dropped.
    assert job.problem_count == 1
    assert job.problems[0]["record"] == "s-3" and "expected" in job.problems[0]["reason"]
    assert len(pd.read_json(as_buffer(job), lines=True)) == 2


@pytest.mark.parametrize(
    ("input_value", "expected", "reason"),
    [
        ([{"role": "robot", "content": "hi"}], "x", "role"),
        ([{"role": "user", "content": ""}], "x", "content"),
        ({"a": 1, "b": 2}, "x", "input"),
        ([{"role": "system", "content": "s"}], "x", "user"),
        ("hi", "  ", "empty"),
    ],
)
def test_openai_chat_invalid_conversations(input_value, expected, reason):
    from apps.exports.formats.openai_chat import InvalidConversation, conversation

    with pytest.raises(InvalidConversation, match=reason):
        conversation(input_value, expected)


def test_openai_chat_structured_expected_becomes_json_text():
    from apps.exports.formats.openai_chat import conversation

    record = conversation({"question": "Refund?"}, {"answer": "yes", "days": 30})
    assert record["messages"][0] == {"role": "user", "content": "Refund?"}
    assert json.loads(record["messages"][1]["content"]) == {"answer": "yes", "days": 30}
