"""TraceFilter / SpanFilter as other apps reuse them: with a QueryDict or a JSON dict."""

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from apps.traces.filters import SpanFilter, TraceFilter, filter_parameter_names
from apps.traces.models import Span, SpanTag, Tag, Trace
from tests.factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db


def _tag(span, name):
    tag, _ = Tag.objects.get_or_create(project=span.project, name=name)
    SpanTag.objects.create(span=span, tag=tag)


@pytest.fixture
def data(project):
    now = timezone.now()
    a = TraceFactory(
        project=project,
        trace_id="t-a",
        name="chat",
        start_time=now - timedelta(hours=1),
        has_error=False,
        input_preview="How do I reset my password?",
        user_id="u1",
    )
    b = TraceFactory(
        project=project,
        trace_id="t-b",
        name="rag",
        start_time=now - timedelta(days=3),
        has_error=True,
        output_preview="Timeout talking to the vector store",
        session_id="s9",
    )
    a_root = SpanFactory(trace=a, span_id="a-root", type="task", metadata={"user_id": "u1", "env": "prod"})
    a_llm = SpanFactory(
        trace=a,
        span_id="a-llm",
        parent_span_id="a-root",
        type="llm",
        metadata={"temperature": 0.2},
        expected={"answer": "x"},
    )
    b_root = SpanFactory(trace=b, span_id="b-root", type="task", metadata={"env": "staging", "n": 3}, is_error=True)
    SpanFactory(trace=b, span_id="b-ret", parent_span_id="b-root", type="retrieval")
    _tag(a_llm, "good")
    _tag(a_llm, "billing")
    _tag(b_root, "good")
    return {"a": a, "b": b, "a_root": a_root, "a_llm": a_llm, "b_root": b_root}


def trace_ids(data, queryset=None):
    fs = TraceFilter(data=data, queryset=queryset or Trace.objects.all())
    assert fs.is_valid(), fs.errors
    return sorted(fs.qs.values_list("trace_id", flat=True))


def span_ids(data):
    fs = SpanFilter(data=data, queryset=Span.objects.all())
    assert fs.is_valid(), fs.errors
    return sorted(fs.qs.values_list("span_id", flat=True))


def test_trace_filters_from_query_string(data):
    assert trace_ids(QueryDict("name=chat")) == ["t-a"]
    assert trace_ids(QueryDict("name=chat,rag")) == ["t-a", "t-b"]
    assert trace_ids(QueryDict("has_error=true")) == ["t-b"]
    assert trace_ids(QueryDict("has_error=false")) == ["t-a"]
    assert trace_ids(QueryDict("tags=good")) == ["t-a", "t-b"]
    assert trace_ids(QueryDict("tags=good&tags=billing")) == ["t-a"]
    assert trace_ids(QueryDict("span_type=retrieval")) == ["t-b"]
    assert trace_ids(QueryDict("user_id=u1")) == ["t-a"]
    assert trace_ids(QueryDict("session_id=s9")) == ["t-b"]
    assert trace_ids(QueryDict("q=PASSWORD")) == ["t-a"]
    assert trace_ids(QueryDict("q=vector store")) == ["t-b"]
    assert trace_ids(QueryDict("q=t-b")) == ["t-b"]


def test_trace_time_range(data):
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert trace_ids({"start_time_after": since}) == ["t-a"]
    assert trace_ids({"start_time_before": since}) == ["t-b"]


def test_metadata_matches_root_or_any_span(data):
    assert trace_ids(QueryDict("metadata=env:prod")) == ["t-a"]
    # on a child span only
    assert trace_ids(QueryDict("metadata=temperature:0.2")) == ["t-a"]
    # numbers compare as text
    assert trace_ids(QueryDict("metadata=n:3")) == ["t-b"]
    # repeated: all must match
    assert trace_ids(QueryDict("metadata=env:prod&metadata=user_id:u1")) == ["t-a"]
    assert trace_ids(QueryDict("metadata=env:prod&metadata=n:3")) == []
    # JSON callers may give a dict
    assert trace_ids({"metadata": {"env": "staging"}}) == ["t-b"]


def test_metadata_key_with_sql_characters_is_a_value_not_a_lookup(data):
    assert trace_ids({"metadata": ["env__contains:prod"]}) == []
    fs = TraceFilter(data={"metadata": "env');drop table x;--:1"}, queryset=Trace.objects.all())
    assert not fs.is_valid()
    assert "metadata" in fs.errors
    fs = TraceFilter(data={"metadata": "no-colon"}, queryset=Trace.objects.all())
    assert not fs.is_valid() and "metadata" in fs.errors


def test_span_filters(data):
    assert span_ids({"trace_id": "t-a"}) == ["a-llm", "a-root"]
    assert span_ids({"type": ["llm", "retrieval"]}) == ["a-llm", "b-ret"]
    assert span_ids({"has_expected": True}) == ["a-llm"]
    assert span_ids({"has_expected": "false"}) == ["a-root", "b-ret", "b-root"]
    assert span_ids({"has_error": "true"}) == ["b-root"]
    assert span_ids({"tags": ["good"]}) == ["a-llm", "b-root"]
    assert span_ids({"tags": "good,billing"}) == ["a-llm"]
    assert span_ids({"metadata": "env:staging"}) == ["b-root"]
    assert span_ids({"is_root": True}) == ["a-root", "b-root"]
    assert span_ids({"review_status": ["none"]}) == ["a-llm", "a-root", "b-ret", "b-root"]


def test_bad_values_are_errors_naming_the_field(data):
    fs = SpanFilter(data={"type": "banana"}, queryset=Span.objects.all())
    assert not fs.is_valid() and "type" in fs.errors
    fs = TraceFilter(data={"span_type": "llm,banana"}, queryset=Trace.objects.all())
    assert not fs.is_valid() and "span_type" in fs.errors
    fs = TraceFilter(data={"start_time_after": "yesterday-ish"}, queryset=Trace.objects.all())
    assert not fs.is_valid() and "start_time" in fs.errors
    fs = TraceFilter(data={"review_status": "maybe"}, queryset=Trace.objects.all())
    assert not fs.is_valid() and "review_status" in fs.errors
    fs = SpanFilter(data={"tags": {"x": 1}}, queryset=Span.objects.all())
    assert not fs.is_valid() and "tags" in fs.errors


def test_filters_never_widen_the_given_queryset(data, other_project):
    other = TraceFactory(project=other_project, trace_id="t-other", name="chat")
    SpanFactory(trace=other, span_id="o-root", metadata={"env": "prod"})
    scoped = Trace.objects.filter(project=data["a"].project)
    assert trace_ids({"metadata": "env:prod"}, scoped) == ["t-a"]
    assert trace_ids({"name": "chat"}) == ["t-a", "t-other"]


def test_filter_parameter_names_lists_every_accepted_key():
    """Reusers reject unknown keys with `set(data) - filter_parameter_names(...)`."""
    trace_keys = filter_parameter_names(TraceFilter)
    assert {
        "start_time_after",
        "start_time_before",
        "end_time_after",
        "end_time_before",
        "metadata",
        "tags",
        "span_type",
        "q",
        "has_error",
        "review_status",
    } <= trace_keys
    assert "start_time" not in trace_keys
    span_keys = filter_parameter_names(SpanFilter)
    assert {"start_time_after", "start_time_before", "trace_id", "type", "has_expected", "is_root"} <= span_keys
