"""The root span of a trace: one rule (`selectors.root_span_order`) for ingest, the admin actions and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_records_at_version
from apps.queues.services.queues import review_queue_create
from apps.traces import selectors
from apps.traces.models import Span, Trace
from apps.traces.services import span_batch_ingest
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _orphans(project) -> Trace:
    """A trace whose root ("agent") has not arrived: two children, the later one stored first."""
    result = span_batch_ingest(
        project=project,
        items=[
            {
                "trace_id": "t-early",
                "span_id": "late",
                "parent_span_id": "agent",
                "name": "tool",
                "start_time": (T0 + timedelta(seconds=2)).isoformat(),
                "input": "later",
                "output": "x",
            },
            {
                "trace_id": "t-early",
                "span_id": "early",
                "parent_span_id": "agent",
                "name": "llm",
                "start_time": (T0 + timedelta(seconds=1)).isoformat(),
                "input": "first",
                "output": "y",
            },
        ],
    )
    assert result.accepted == 2, result.rejected
    return Trace.objects.get(project=project, trace_id="t-early")


def test_root_is_a_parentless_span_else_the_earliest(project):
    trace = _orphans(project)
    assert trace.root_span_id == "early"
    assert selectors.trace_root_span(trace=trace).span_id == "early"
    assert (
        selectors.trace_root_span(trace=trace, spans=Span.objects.filter(trace=trace).order_by("-pk")).span_id
        == "early"
    )
    assert list(selectors.root_spans_of(Trace.objects.filter(pk=trace.pk)).values_list("span_id", flat=True)) == [
        "early"
    ]

    span_batch_ingest(
        project=project,
        items=[
            {
                "trace_id": "t-early",
                "span_id": "agent",
                "name": "agent",
                "start_time": (T0 + timedelta(seconds=3)).isoformat(),
            },
        ],
    )
    trace.refresh_from_db()
    assert trace.root_span_id == "agent"  # the root that arrives last still wins
    assert selectors.trace_root_span(trace=trace).span_id == "agent"
    assert selectors.trace_root_span(trace=trace, spans=list(Span.objects.filter(trace=trace))).span_id == "agent"
    assert list(selectors.root_spans_of(Trace.objects.filter(pk=trace.pk)).values_list("span_id", flat=True)) == [
        "agent"
    ]


def test_unknown_start_times_come_last_then_the_first_stored(project):
    trace = factories.TraceFactory(project=project)
    a = factories.SpanFactory(trace=trace, span_id="a", parent_span_id="x", start_time=None)
    b = factories.SpanFactory(trace=trace, span_id="b", parent_span_id="x", start_time=None)
    assert selectors.trace_root_span(trace=trace) == a
    assert selectors.trace_root_span(trace=trace, spans=[b, a]) == a
    c = factories.SpanFactory(trace=trace, span_id="c", parent_span_id="x", start_time=T0)
    assert selectors.trace_root_span(trace=trace) == c
    assert selectors.trace_root_span(trace=trace, spans=[a, b, c]) == c
    assert selectors.trace_root_span(trace=trace, spans=[]) is None


def test_add_to_queue_and_add_to_dataset_pick_the_same_span_before_the_root_arrives(project, member):
    trace = _orphans(project)
    queue = review_queue_create(project=project, name="Early")
    client = Client()
    client.force_login(member(project, role="admin"))
    changelist = reverse("admin:traces_trace_changelist")
    selected = {"select_across": "0", "index": "0", "_selected_action": [str(trace.pk)]}

    queued = client.post(changelist, {**selected, "action": "add_traces_to_review_queue", "queue": str(queue.pk)})
    assert queued.status_code == 302
    added = client.post(
        changelist,
        {
            **selected,
            "action": "add_to_dataset",
            "apply": "1",
            "new_dataset_name": "early",
            "expected_source": "output",
        },
    )
    assert added.status_code == 302

    assert list(queue.items.values_list("span__span_id", flat=True)) == ["early"]
    record = dataset_records_at_version(dataset=Dataset.objects.get(project=project, name="early")).get()
    assert record.record_id == "span:early"


def test_is_root_filter_and_feedback_by_trace_use_the_same_root(project):
    from apps.reviews.services.feedback import span_for_feedback
    from apps.traces.filters import SpanFilter

    _orphans(project)
    spans = Span.objects.filter(project=project)
    assert list(SpanFilter(data={"is_root": True}, queryset=spans).qs.values_list("span_id", flat=True)) == ["early"]
    assert list(SpanFilter(data={"is_root": False}, queryset=spans).qs.values_list("span_id", flat=True)) == ["late"]
    assert span_for_feedback(project=project, span_id=None, trace_id="t-early").span_id == "early"
