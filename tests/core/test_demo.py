"""`manage.py load_demo`: a demo project with realistic, multi-span traces through the real ingest path."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min, Sum

from apps.projects.models import Project
from apps.traces.demo import demo_trace_spans
from apps.traces.models import Span, SpanTag, Trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    out = StringIO()
    call_command("load_demo", stdout=out)
    return Project.objects.get(slug="demo"), out.getvalue()


def test_load_demo_makes_realistic_traces(demo):
    project, output = demo
    traces = Trace.objects.filter(project=project, origin="production")  # experiment traces come on top
    assert traces.count() >= 200
    assert "Loaded demo project demo" in output
    # multi-span agent and RAG traces: retrieval -> LLM -> tool
    names = set(traces.values_list("name", flat=True))
    assert {"support-agent", "rag-answer", "ticket-triage", "chat"} <= names
    assert traces.filter(span_count__gte=4).count() > 50
    rag = traces.filter(name="rag-answer").first()
    assert set(rag.spans.values_list("type", flat=True)) >= {"retrieval", "llm", "task"}
    agent = traces.filter(name="support-agent", has_error=False).first()
    assert set(agent.spans.values_list("type", flat=True)) >= {"tool", "llm", "task"}
    plan = agent.spans.get(name="plan")
    assert plan.output["tool_calls"][0]["function"]["name"] in {"lookup_order", "refund_policy_check"}
    assert plan.input["messages"][0]["role"] == "system"
    # errors, and not too many
    errors = traces.filter(has_error=True).count()
    assert 5 <= errors <= traces.count() * 0.25
    # users, sessions, tags, spread over two weeks
    assert traces.exclude(user_id="").count() == traces.count()
    assert traces.values("session_id").distinct().count() > 20
    assert SpanTag.objects.filter(span__project=project).exists()
    bounds = traces.aggregate(first=Min("start_time"), last=Max("start_time"))
    assert (bounds["last"] - bounds["first"]).days >= 10
    # some reviewed answers already carry an expected value
    assert Span.objects.filter(project=project, expected__isnull=False).exists()


def test_demo_trace_summaries_match_their_spans(demo):
    project, _ = demo
    sums = {
        row["trace"]: row
        for row in Span.objects.filter(project=project)
        .values("trace")
        .annotate(
            n=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost"), first=Min("start_time"), last=Max("end_time")
        )
    }
    for trace in Trace.objects.filter(project=project):
        row = sums[trace.pk]
        assert trace.span_count == row["n"]
        assert trace.total_tokens == row["tokens"]
        assert trace.total_cost == pytest.approx(row["cost"])
        assert trace.start_time == row["first"]
        assert trace.end_time == row["last"]
        assert trace.duration_ms == pytest.approx((row["last"] - row["first"]).total_seconds() * 1000, abs=1)
        assert trace.has_error == trace.spans.filter(is_error=True).exists()
        assert trace.input_preview


def test_load_demo_twice_leaves_the_project_alone(demo):
    project, _ = demo
    count = Trace.objects.filter(project=project).count()
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "exists" in out.getvalue()
    assert Trace.objects.filter(project=project).count() == count


def test_demo_data_is_deterministic():
    from datetime import UTC, datetime

    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert demo_trace_spans(traces=30, now=now) == demo_trace_spans(traces=30, now=now)
