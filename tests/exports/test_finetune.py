"""Fine-tuning files: OpenAI chat lines checked rule by rule with a per-record report; preference (DPO)
lines from corrected vs. original outputs."""

from __future__ import annotations

import json

import pytest

from apps.exports import storage
from apps.exports.finetune import chat_line_problems, preference_line_problems
from apps.reviews.services.corrections import correction_record
from tests import factories
from tests.exports.conftest import read_file, run

USER = {"role": "user", "content": "Weather in Paris?"}
ANSWER = {"role": "assistant", "content": "Sunny."}
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}


def _rules(line) -> set[str]:
    return {p["rule"] for p in chat_line_problems(line)}


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ([USER, ANSWER], "line.shape"),
        ({"messages": [USER, ANSWER], "extra": 1}, "line.shape"),
        ({"messages": []}, "messages.empty"),
        ({"messages": [USER, "hi"]}, "message.shape"),
        ({"messages": [{"role": "robot", "content": "x"}, ANSWER]}, "message.role"),
        ({"messages": [{"role": "developer", "content": "x"}, USER, ANSWER]}, "message.role"),
        ({"messages": [USER]}, "assistant.missing"),
        ({"messages": [{"role": "system", "content": "x"}, USER]}, "assistant.missing"),
        ({"messages": [USER, {"role": "assistant", "content": "  "}]}, "message.content"),
        ({"messages": [USER, {"role": "assistant", "content": 42}]}, "message.content"),
        ({"messages": [USER, {"role": "assistant", "content": None}]}, "message.content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}, ANSWER]}, "content.part"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}, ANSWER]}, "content.part"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}, ANSWER]},
            "content.part",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                    },
                ]
            },
            "tool_calls.shape",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [{**CALL, "type": "code"}]}]},
            "tool_calls.shape",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{**CALL, "function": {"name": "weather", "arguments": {"city": "Paris"}}}],
                    },
                ]
            },
            "tool_calls.shape",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{**CALL, "function": {"name": "weather", "arguments": "{not json"}}],
                    },
                ]
            },
            "tool_calls.arguments",
        ),
        ({"messages": [{"role": "user", "content": "x", "tool_calls": [CALL]}, ANSWER]}, "tool_calls.role"),
        ({"messages": [{**USER, "colour": "red"}, ANSWER]}, "message.keys"),
        (
            {
                "messages": [
                    USER,
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    {"role": "tool", "content": "18C"},
                    ANSWER,
                ]
            },
            "tool.tool_call_id",
        ),
        (
            {
                "messages": [
                    USER,
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    {"role": "tool", "tool_call_id": "call_9", "content": "18C"},
                    ANSWER,
                ]
            },
            "tool.tool_call_id",
        ),
        ({"messages": [USER, {**ANSWER, "weight": 2}]}, "message.weight"),
    ],
)
def test_each_documented_rule(line, rule):
    assert rule in _rules(line), chat_line_problems(line)


@pytest.mark.parametrize(
    "line",
    [
        {"messages": [USER, ANSWER]},
        {"messages": [{"role": "system", "content": "Be terse."}, USER, {**ANSWER, "weight": 0}, USER, ANSWER]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                },
                ANSWER,
            ]
        },
        {
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                ANSWER,
            ],
            "tools": [{"type": "function", "function": {"name": "weather"}}],
        },
    ],
)
def test_valid_lines_have_no_problems(line):
    assert chat_line_problems(line) == []


def test_preference_line_rules():
    good = {
        "input": {"messages": [USER]},
        "preferred_output": [ANSWER],
        "non_preferred_output": [{"role": "assistant", "content": "Rainy."}],
    }
    assert preference_line_problems(good) == []
    assert {p["rule"] for p in preference_line_problems({**good, "non_preferred_output": [ANSWER]})} == {
        "preference.same"
    }
    two = {**good, "preferred_output": [ANSWER, ANSWER]}
    assert {p["rule"] for p in preference_line_problems(two)} == {"preference.output"}
    assert {p["rule"] for p in preference_line_problems({"input": [USER]})} == {"line.shape"}


@pytest.mark.django_db
def test_chat_export_writes_a_validation_report_and_skips_invalid_records(project, annotated_spans):
    bad_role = factories.SpanFactory(
        trace=annotated_spans[0].trace,
        span_id="s-4",
        input=[{"role": "developer", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
    )
    correction_record(span=bad_role, value="Hello!")
    job = run(project, format="openai_chat")
    assert job.status == "succeeded", job.error
    lines = [json.loads(line) for line in read_file(job).splitlines()]
    assert len(lines) == 2 and all(chat_line_problems(line) == [] for line in lines)
    assert job.validation == {
        "valid": 2,
        "invalid": 2,
        "rules": {"conversion": 1, "message.role": 1},
        "invalid_records": "skipped",
    }
    assert job.validation_key == job.storage_key.rsplit(".", 1)[0] + ".validation.jsonl"
    with storage.open_for_download(job.validation_key) as fh:
        report = {r["record"]: r for r in map(json.loads, fh.read().splitlines())}
    assert set(report) == {"s-1", "s-2", "s-3", "s-4"}
    assert report["s-1"] == {"record": "s-1", "valid": True, "problems": []}
    assert report["s-3"]["valid"] is False and report["s-3"]["problems"][0]["rule"] == "conversion"
    assert [p["rule"] for p in report["s-4"]["problems"]] == ["message.role"]
    assert job.problem_count == 2


@pytest.mark.django_db
def test_preference_export_pairs_corrections_with_original_outputs(project, annotated_spans, key_client):
    trace = annotated_spans[0].trace
    same = factories.SpanFactory(trace=trace, span_id="s-5", output={"role": "assistant", "content": "Same."})
    correction_record(span=same, value={"role": "assistant", "content": "Same."})
    job = run(project, format="openai_dpo")
    assert job.status == "succeeded", job.error
    lines = [json.loads(line) for line in read_file(job).splitlines()]
    by_input = {json.dumps(line["input"]): line for line in lines}
    assert len(lines) == 2 and all(preference_line_problems(line) == [] for line in lines)
    second = by_input[
        json.dumps(
            {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": '=HYPERLINK("x")'}]}
        )
    ]
    assert second["preferred_output"] == [{"role": "assistant", "content": "Refunds take 30 days."}]
    assert second["non_preferred_output"] == [{"role": "assistant", "content": "-1"}]
    first = next(line for line in lines if line is not second)
    assert first["preferred_output"] == [{"role": "assistant", "content": "30 days from delivery."}]
    assert first["non_preferred_output"] == [{"role": "assistant", "content": "30 days."}]
    assert job.validation["valid"] == 2 and job.validation["invalid"] == 2  # s-3: no correction; s-5: same
    assert job.validation["rules"] == {"conversion": 1, "preference.same": 1}
    client = key_client(project, scopes=("read",))
    report = client.get(f"/api/v1/exports/{job.pk}/download/?file=validation")
    assert report.status_code == 200 and report["Content-Type"] == "application/x-ndjson"
    records = [json.loads(line) for line in b"".join(report.streaming_content).splitlines()]
    assert {r["record"] for r in records if not r["valid"]} == {"s-3", "s-5"}
    assert client.get(f"/api/v1/exports/{job.pk}/download/?file=lineage").status_code == 404
    assert client.get(f"/api/v1/exports/{job.pk}/download/?file=secrets").status_code == 400


@pytest.mark.django_db
def test_preference_format_refuses_dataset_exports(project):
    from apps.core.exceptions import ApplicationError

    dataset = factories.DatasetFactory(project=project)
    with pytest.raises(ApplicationError) as refused:
        run(project, source="dataset", dataset=dataset, format="openai_dpo")
    assert "format" in refused.value.fields
