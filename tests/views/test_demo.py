"""The demo project gets a view per gallery template, each readable on the demo's own traces."""

import pytest
from django.core.management import call_command

from apps.projects.models import Project
from apps.traces.models import Trace
from apps.views.models import TraceView
from apps.views.renderer import render_html, render_tree
from apps.views.selectors import trace_view_default

pytestmark = pytest.mark.django_db


def test_demo_views_render_the_demo_traces():
    call_command("load_demo", "--traces", "40")
    project = Project.objects.get(slug="demo")
    views = {v.name: v for v in TraceView.objects.filter(project=project)}
    assert set(views) == {
        "Chat conversation",
        "RAG: question, retrieved documents and answer",
        "Agent tool-call timeline",
        "Classification",
    }
    assert trace_view_default(project=project) is None  # each trace gets the default view fitting its shape

    def rendered(view_name, trace_name):
        trace = Trace.objects.filter(project=project, name=trace_name, has_error=False).first()
        assert trace is not None, trace_name
        nodes = render_tree(views[view_name].spec, trace)
        render_html(nodes)  # renders without error
        return {n.get("title") or n["type"]: n for n in nodes}

    chat = rendered("Chat conversation", "chat")
    assert "error" not in chat["Conversation"] and len(chat["Conversation"]["messages"]) == 3
    rag = rendered("RAG: question, retrieved documents and answer", "rag-answer")
    assert "error" not in rag["Question"] and rag["Retrieved documents"]["count"] == 3
    assert "error" not in rag["Answer"]
    agent = rendered("Agent tool-call timeline", "support-agent")
    assert len(agent["Tool calls"]["rows"]) == 1 and agent["Tokens per model"]["total"] > 0
    assert agent["LLM calls"]["total"] == 2
    assert "panel" not in agent["Your scores"] and agent["Your scores"]["configs"] == ["correctness"]
    triage = rendered("Classification", "ticket-triage")
    assert "error" not in triage["Input"] and triage["Prediction"]["rows"][0]["missing"] is False
