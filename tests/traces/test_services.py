"""The ingest service: upsert, trace summaries whatever the arrival order, tags, hooks, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections

from apps.core import registry
from apps.traces.ingest import parse_time, span_item_clean
from apps.traces.models import Span, SpanTag, Tag, Trace
from apps.traces.services import span_batch_ingest
from apps.traces.trace_summaries import trace_summaries_refresh

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def agent_trace(trace_id: str = "t-1", prefix: str = "") -> list[dict]:
    """A root agent span, a retrieval child and an LLM grandchild."""
    return [
        {
            "trace_id": trace_id,
            "span_id": f"{prefix}root",
            "name": "support-agent",
            "type": "task",
            "start_time": T0,
            "end_time": T0 + 3,
            "input": [{"role": "user", "content": "Where is my parcel?"}],
            "output": {"role": "assistant", "content": "It ships tomorrow."},
            "metadata": {"user_id": "u-42", "session_id": "s-7"},
            "tags": ["prod"],
        },
        {
            "trace_id": trace_id,
            "span_id": f"{prefix}retrieve",
            "parent_span_id": f"{prefix}root",
            "name": "search-orders",
            "type": "retrieval",
            "start_time": T0 + 0.5,
            "end_time": T0 + 1,
            "input": {"query": "parcel"},
            "output": [{"doc": "order 1"}],
            "tags": ["rag"],
        },
        {
            "trace_id": trace_id,
            "span_id": f"{prefix}llm",
            "parent_span_id": f"{prefix}retrieve",
            "name": "chat",
            "type": "llm",
            "start_time": T0 + 1,
            "end_time": T0 + 4.5,
            "input": [{"role": "user", "content": "Where is my parcel?"}],
            "output": "It ships tomorrow.",
            "metrics": {"prompt_tokens": 100, "completion_tokens": 20, "cost": 0.0012, "model": "gpt-4o-mini"},
            "error": {"message": "rate limited", "code": 429},
        },
    ]


def assert_agent_summary(trace: Trace) -> None:
    assert trace.span_count == 3
    assert trace.name == "support-agent"
    assert trace.root_span_id == "root"
    assert trace.start_time == datetime.fromtimestamp(T0, UTC)
    assert trace.end_time == datetime.fromtimestamp(T0 + 4.5, UTC)
    assert trace.duration_ms == pytest.approx(4500, abs=0.1)
    assert trace.has_error is True
    assert (trace.input_tokens, trace.output_tokens, trace.total_tokens) == (100, 20, 120)
    assert trace.total_cost == pytest.approx(0.0012)
    assert trace.input_preview == "Where is my parcel?"
    assert trace.output_preview == "It ships tomorrow."
    assert (trace.user_id, trace.session_id) == ("u-42", "s-7")
    assert trace.tags == ["prod", "rag"]


def test_batch_creates_spans_and_trace_summary(project):
    result = span_batch_ingest(project=project, items=agent_trace())
    assert result.accepted == 3 and result.rejected == []
    trace = Trace.objects.get(project=project, trace_id="t-1")
    assert result.trace_pks == [trace.pk]
    assert_agent_summary(trace)
    llm = Span.objects.get(span_id="llm")
    assert llm.trace_id == trace.pk and llm.type == "llm" and llm.model == "gpt-4o-mini"
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens) == (100, 20, 120)
    assert llm.is_error and llm.error == "rate limited"
    assert llm.duration_ms == pytest.approx(3500)
    assert llm.metrics["prompt_tokens"] == 100
    assert Span.objects.get(span_id="retrieve").output == [{"doc": "order 1"}]


def test_same_batch_twice_never_duplicates(project):
    span_batch_ingest(project=project, items=agent_trace())
    again = span_batch_ingest(project=project, items=agent_trace())
    assert again.accepted == 3
    assert Span.objects.filter(project=project).count() == 3
    assert Trace.objects.filter(project=project).count() == 1
    assert SpanTag.objects.count() == 2 and Tag.objects.filter(project=project).count() == 2
    assert_agent_summary(Trace.objects.get())


@pytest.mark.parametrize("order", [(2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_children_first_in_separate_batches(project, order):
    spans = agent_trace()
    for position, index in enumerate(order):
        span_batch_ingest(project=project, items=[spans[index]])
        trace = Trace.objects.get()
        assert trace.span_count == position + 1
        if 0 not in order[: position + 1]:
            # No root yet: the earliest span stands in for it.
            earliest = min((spans[i] for i in order[: position + 1]), key=lambda s: s["start_time"])
            assert trace.root_span_id == earliest["span_id"]
    assert_agent_summary(Trace.objects.get())


def test_bad_items_are_listed_and_good_ones_kept(project):
    items = [
        agent_trace()[0],
        {"trace_id": "t-1", "name": "no span id"},
        "not an object",
        {"trace_id": "t-1", "span_id": "x", "type": "banana", "start_time": "yesterday", "metadata": [1]},
        agent_trace()[1],
    ]
    result = span_batch_ingest(project=project, items=items)
    assert result.accepted == 2
    assert [r["index"] for r in result.rejected] == [1, 2, 3]
    assert set(result.rejected[0]["fields"]) == {"span_id"}
    assert set(result.rejected[2]["fields"]) == {"type", "start_time", "metadata"}
    assert set(Span.objects.values_list("span_id", flat=True)) == {"root", "retrieve"}


def test_span_cannot_move_to_another_trace(project):
    span_batch_ingest(project=project, items=agent_trace())
    moved = dict(agent_trace()[2], trace_id="t-2")
    fresh = dict(agent_trace()[2], span_id="new", trace_id="t-3")
    result = span_batch_ingest(project=project, items=[moved, fresh])
    assert result.accepted == 1
    assert [r["index"] for r in result.rejected] == [0]
    assert list(result.rejected[0]["fields"]) == ["trace_id"]
    assert Span.objects.get(span_id="llm").trace.trace_id == "t-1"
    # The refused span's trace was new and would stay empty: it is not created.
    assert set(Trace.objects.values_list("trace_id", flat=True)) == {"t-1", "t-3"}


def test_resend_updates_but_keeps_annotations(project):
    span_batch_ingest(project=project, items=agent_trace())
    Span.objects.filter(span_id="llm").update(annotation_metadata={"checked": True}, expected={"answer": "30 days"})
    update = {
        "trace_id": "t-1",
        "span_id": "llm",
        "parent_span_id": "retrieve",
        "name": "chat-v2",
        "type": "llm",
        "output": "Tomorrow.",
        "metrics": {"input_tokens": 10, "output_tokens": 5},
        "tags": ["reviewed"],
    }
    span_batch_ingest(project=project, items=[update])
    llm = Span.objects.get(span_id="llm")
    assert llm.name == "chat-v2" and llm.output == "Tomorrow."
    # Absent fields keep what is stored; reviewer-side data is untouched; tags accumulate.
    assert llm.input == [{"role": "user", "content": "Where is my parcel?"}]
    assert llm.start_time == datetime.fromtimestamp(T0 + 1, UTC) and llm.duration_ms == pytest.approx(3500)
    assert llm.expected == {"answer": "30 days"} and llm.annotation_metadata == {"checked": True}
    assert llm.is_error is False and llm.total_tokens == 15
    assert llm.tags == ["reviewed"]
    trace = Trace.objects.get()
    assert trace.has_error is False and trace.total_tokens == 15
    assert trace.tags == ["prod", "rag", "reviewed"]
    span_batch_ingest(project=project, items=[dict(update, tags=["again"], expected={"answer": "2 days"})])
    llm.refresh_from_db()
    assert llm.tags == ["again", "reviewed"] and llm.expected == {"answer": "2 days"}


def test_otel_style_metadata_keys_fill_user_and_session(project):
    span_batch_ingest(
        project=project,
        items=[
            {"trace_id": "t", "span_id": "child", "parent_span_id": "r", "metadata": {"session.id": "s-9"}},
            {"trace_id": "t", "span_id": "r", "metadata": {"user.id": "u-1"}, "input": "hello"},
        ],
    )
    trace = Trace.objects.get()
    assert (trace.user_id, trace.session_id, trace.input_preview) == ("u-1", "s-9", "hello")


def test_projects_are_isolated(project, other_project):
    span_batch_ingest(project=project, items=agent_trace())
    span_batch_ingest(project=other_project, items=agent_trace())
    assert Span.objects.filter(project=project).count() == 3
    assert Span.objects.filter(project=other_project).count() == 3
    assert Trace.objects.filter(trace_id="t-1").count() == 2
    assert Tag.objects.filter(name="prod").count() == 2


def test_hooks_run_after_commit(project, django_capture_on_commit_callbacks):
    calls = []

    def hook(*, project, trace_pks):
        calls.append((project.pk, trace_pks))

    registry.ingest_hooks.append(hook)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = span_batch_ingest(project=project, items=agent_trace())
            assert calls == []
    finally:
        registry.ingest_hooks.remove(hook)
    assert calls == [(project.pk, result.trace_pks)]


def test_trace_summaries_refresh_recomputes(project):
    span_batch_ingest(project=project, items=agent_trace())
    trace = Trace.objects.get()
    Span.objects.filter(span_id="llm").delete()
    trace_summaries_refresh(trace_pks=[trace.pk])
    trace.refresh_from_db()
    assert trace.span_count == 2 and trace.total_tokens == 0 and trace.has_error is False
    assert trace.end_time == datetime.fromtimestamp(T0 + 3, UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, datetime.fromtimestamp(T0, UTC)),
        (T0 * 1000 + 250, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        (T0 * 1_000_000_000 + 1_500, datetime(2023, 11, 14, 22, 13, 20, 2, tzinfo=UTC)),
        ("2023-11-14T22:13:20.5Z", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        ("2023-11-14 23:13:20+01:00", datetime.fromtimestamp(T0, UTC)),
        ("2023-11-14T22:13:20", datetime.fromtimestamp(T0, UTC)),
    ],
)
def test_epoch_seconds_millis_nanos_and_iso_times_parse_to_utc(value, expected):
    assert parse_time(value) == expected


def test_clean_rejects_bad_shapes():
    cases = {
        "tags": {"tags": ["x" * 201]},
        "metrics.input_tokens": {"metrics": {"input_tokens": "many"}},
        "metrics": {"metrics": 3},
        "end_time": {"start_time": T0 + 10, "end_time": T0},
        "error": {"error": 12},
        "trace_id": {"trace_id": ["a"]},
        "name": {"name": {"a": 1}},
    }
    for field, extra in cases.items():
        span, errors = span_item_clean({"trace_id": "t", "span_id": "s", **extra})
        assert span is None and field in errors, field


def _ingest_in_threads(project, batches, threads: int) -> list:
    barrier = threading.Barrier(threads)
    outcomes: list = []

    def run():
        try:
            barrier.wait()
            for batch in batches:
                outcomes.append(span_batch_ingest(project=project, items=batch))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_never_duplicate_or_deadlock(project):
    # Overlapping batches: the same traces and spans in different batch compositions and orders.
    spans = [s for n in range(20) for s in agent_trace(trace_id=f"t-{n}", prefix=f"{n}-")]
    batches = [spans[:30], list(reversed(spans)), spans[15:45], spans[::2]]
    outcomes = _ingest_in_threads(project, batches, threads=10)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert all(o.rejected == [] for o in outcomes)
    assert Span.objects.filter(project=project).count() == 60
    assert Trace.objects.filter(project=project).count() == 20
    assert SpanTag.objects.count() == 40
    for trace in Trace.objects.filter(project=project):
        assert trace.span_count == 3 and trace.total_tokens == 120 and trace.tags == ["prod", "rag"]


def test_times_with_offsets_are_stored_as_the_same_instant(project):
    span_batch_ingest(
        project=project,
        items=[
            {
                "trace_id": "t",
                "span_id": "s",
                "start_time": "2023-11-14T23:13:20+01:00",
                "end_time": "2023-11-14T22:13:21.5Z",
            }
        ],
    )
    span = Span.objects.get()
    assert span.start_time == datetime.fromtimestamp(T0, UTC)
    assert span.end_time == datetime.fromtimestamp(T0 + 1.5, UTC)
    assert span.duration_ms == pytest.approx(1500)
    assert Trace.objects.get().duration_ms == pytest.approx(1500, abs=0.1)
