"""The trace/span/tag admin: scoped changelists, the readable trace page, registry hooks."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core import registry
from apps.projects.models import Role
from apps.traces.models import SpanTag, Tag
from tests.factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db

CHAT_INPUT = {
    "messages": [
        {"role": "system", "content": "You are the support assistant."},
        {"role": "user", "content": [{"type": "text", "text": "Where is order 42?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": 42}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    ],
    "model": "gpt-4o-mini",
}


@pytest.fixture
def trace(project):
    t0 = timezone.now() - timedelta(minutes=3)
    trace = TraceFactory(
        project=project,
        trace_id="trace-abc",
        name="support-agent",
        start_time=t0,
        span_count=3,
        duration_ms=2300,
        total_tokens=321,
        total_cost=0.0021,
        has_error=True,
        input_preview="Where is order 42?",
        output_preview="<b>shipped</b>",
        tags=["vip"],
    )
    root = SpanFactory(
        trace=trace,
        span_id="root-1",
        name="agent",
        type="task",
        start_time=t0,
        input=CHAT_INPUT,
        output={"role": "assistant", "content": "It has shipped."},
        metadata={"user_id": "u-1"},
    )
    SpanFactory(
        trace=trace,
        span_id="llm-1",
        parent_span_id="root-1",
        name="chat-completion",
        type="llm",
        start_time=t0 + timedelta(seconds=1),
        output="<script>alert(1)</script>",
        total_tokens=321,
        model="gpt-4o-mini",
    )
    SpanFactory(
        trace=trace,
        span_id="tool-1",
        parent_span_id="llm-1",
        name="lookup_order",
        type="tool",
        start_time=t0 + timedelta(seconds=2),
        is_error=True,
        error="Timeout <img src=x onerror=alert(2)>",
        input={"order_id": 42},
        output=None,
    )
    return trace, root


def trace_url(trace):
    return reverse("admin:traces_trace_change", args=[trace.pk])


def test_trace_changelist_shows_summary_columns(admin_client, trace):
    response = admin_client.get(reverse("admin:traces_trace_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "support-agent" in html
    assert "2.30 s" in html and "$0.0021" in html and "vip" in html
    assert html.count('<span class="assay-error-badge">error</span>') == 1
    # previews are escaped, never rendered as markup
    assert "&lt;b&gt;shipped&lt;/b&gt;" in html and "<b>shipped</b>" not in html
    assert "1 trace" in html


def test_changelist_filters(admin_client, trace, project):
    TraceFactory(project=project, trace_id="old", name="rag", start_time=timezone.now() - timedelta(days=20))
    url = reverse("admin:traces_trace_changelist")

    def names(params):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {t.trace_id for t in response.context["cl"].result_list}

    assert names({}) == {"trace-abc", "old"}
    assert names({"started": "7d"}) == {"trace-abc"}
    assert names({"has_error__exact": "1"}) == {"trace-abc"}
    assert names({"name": "rag"}) == {"old"}
    assert names({"span_type": "tool"}) == {"trace-abc"}
    assert names({"q": "trace-abc"}) == {"trace-abc"}
    assert names({"q": "order 42"}) == {"trace-abc"}


def test_tag_filter(admin_client, trace):
    tag = Tag.objects.create(project=trace[0].project, name="refund")
    SpanTag.objects.create(span=trace[1], tag=tag)
    response = admin_client.get(reverse("admin:traces_trace_changelist"), {"tag": "refund"})
    assert [t.trace_id for t in response.context["cl"].result_list] == ["trace-abc"]
    response = admin_client.get(reverse("admin:traces_span_changelist"), {"tag": "refund"})
    assert [s.span_id for s in response.context["cl"].result_list] == ["root-1"]


def test_count_is_capped(admin_client, project, monkeypatch):
    from apps.traces.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    for i in range(5):
        TraceFactory(project=project, trace_id=f"t{i}")
    html = admin_client.get(reverse("admin:traces_trace_changelist")).content.decode()
    assert "more than 3 traces" in html


def test_trace_page_shows_tree_and_readable_io(admin_client, trace):
    response = admin_client.get(trace_url(trace[0]))
    assert response.status_code == 200
    html = response.content.decode()
    # the tree, indented by depth, root selected by default
    assert 'data-depth="0"' in html and 'data-depth="1"' in html and 'data-depth="2"' in html
    assert "lookup_order" in html and "chat-completion" in html
    # the conversation: roles, tool call name and pretty-printed arguments
    assert "assay-role-system" in html and "assay-role-tool" in html
    assert "You are the support assistant." in html
    assert "Tool call <code>lookup_order</code>" in html
    assert "&quot;order_id&quot;: 42" in html
    assert "It has shipped." in html
    assert "u-1" in html  # metadata


def test_trace_page_escapes_span_output(admin_client, trace):
    response = admin_client.get(trace_url(trace[0]), {"span": "llm-1"})
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    response = admin_client.get(trace_url(trace[0]), {"span": "tool-1"})
    html = response.content.decode()
    assert "Timeout &lt;img src=x onerror=alert(2)&gt;" in html
    assert "<img src=x" not in html


def test_trace_page_loads_json_of_the_selected_span_only(admin_client, trace, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        admin_client.get(trace_url(trace[0]), {"span": "llm-1"})
    span_selects = [q["sql"] for q in queries.captured_queries if 'FROM "traces_span"' in q["sql"]]
    full = [sql for sql in span_selects if '"traces_span"."input"' in sql]
    assert len(full) == 1, span_selects


def test_registry_panels_render_for_the_selected_span(admin_client, trace):
    def panel(*, request, trace, span):
        return {
            "title": "Scores",
            "template": "traces/_span_io.html",
            "context": {"value": f"panel for {span.span_id} <i>", "label": "Panel body"},
        }

    registry.trace_page_panels.append(panel)
    try:
        html = admin_client.get(trace_url(trace[0]), {"span": "tool-1"}).content.decode()
        assert "Scores" in html and "panel for tool-1 &lt;i&gt;" in html
        span = trace[0].spans.get(span_id="llm-1")
        html = admin_client.get(reverse("admin:traces_span_change", args=[span.pk])).content.decode()
        assert "panel for llm-1" in html
    finally:
        registry.trace_page_panels.remove(panel)


def test_registry_actions_appear_and_get_the_filtered_queryset(admin_client, trace, project):
    TraceFactory(project=project, trace_id="other-name", name="rag")
    seen = {}

    def add_to_queue(modeladmin, request, queryset):
        seen["ids"] = sorted(queryset.values_list("trace_id", flat=True))

    add_to_queue.short_description = "Add to review queue…"
    registry.trace_admin_actions.append(add_to_queue)
    registry.span_admin_actions.append(add_to_queue)
    try:
        url = reverse("admin:traces_trace_changelist")
        html = admin_client.get(url).content.decode()
        assert "Add to review queue…" in html
        # select across every trace matching the filter
        response = admin_client.post(
            url + "?name=support-agent",
            {
                "action": "add_to_queue",
                "select_across": "1",
                "index": "0",
                "_selected_action": [trace[0].pk],
            },
        )
        assert response.status_code == 302
        assert seen["ids"] == ["trace-abc"]
        assert "Add to review queue…" in admin_client.get(reverse("admin:traces_span_changelist")).content.decode()
    finally:
        registry.trace_admin_actions.remove(add_to_queue)
        registry.span_admin_actions.remove(add_to_queue)


def test_span_changelist_and_page(admin_client, trace):
    response = admin_client.get(reverse("admin:traces_span_changelist"), {"type__exact": "llm"})
    assert response.status_code == 200
    assert [s.span_id for s in response.context["cl"].result_list] == ["llm-1"]
    html = response.content.decode()
    assert "gpt-4o-mini" in html and "trace-abc" in html
    span = trace[0].spans.get(span_id="llm-1")
    html = admin_client.get(reverse("admin:traces_span_change", args=[span.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert admin_client.get(reverse("admin:traces_span_changelist"), {"q": "trace-abc"}).context["cl"].result_count == 3


def test_member_sees_only_their_project(client, member, trace, other_project):
    other = TraceFactory(project=other_project, trace_id="secret-trace", name="secret")
    other_span = SpanFactory(trace=other, span_id="secret-span")
    user = member(trace[0].project, role=Role.VIEWER)
    client.force_login(user)
    html = client.get(reverse("admin:traces_trace_changelist")).content.decode()
    assert "support-agent" in html and "secret" not in html
    assert client.get(trace_url(trace[0])).status_code == 200
    missing = client.get(reverse("admin:traces_trace_change", args=[999999]))
    foreign = client.get(trace_url(other))
    assert missing.status_code == foreign.status_code == 404
    assert client.get(reverse("admin:traces_span_change", args=[other_span.pk])).status_code == 404
    html = client.get(reverse("admin:traces_span_changelist")).content.decode()
    assert "secret-span" not in html and "chat-completion" in html
    # a viewer cannot delete
    assert "delete_selected" not in html


def test_by_trace_id_redirects_to_the_trace_page(admin_client, trace):
    response = admin_client.get(reverse("admin:traces_trace_by_id", args=["trace-abc"]) + "?span=llm-1")
    assert response.status_code == 302
    assert response["Location"] == trace_url(trace[0]) + "?span=llm-1"
    assert admin_client.get(reverse("admin:traces_trace_by_id", args=["nope"])).status_code == 404


def test_tag_admin_validates_colour(admin_client, project):
    url = reverse("admin:traces_tag_add")
    response = admin_client.post(url, {"project": project.pk, "name": "urgent", "colour": "red;x"})
    assert response.status_code == 200 and "A colour like" in response.content.decode()
    response = admin_client.post(url, {"project": project.pk, "name": "urgent", "colour": "#ff0000"})
    assert response.status_code == 302
    assert Tag.objects.get(name="urgent").colour == "#ff0000"
    assert "urgent" in admin_client.get(reverse("admin:traces_tag_changelist")).content.decode()


def test_a_failing_panel_does_not_take_the_trace_page_down(admin_client, trace):
    def broken(*, request, trace, span):
        raise RuntimeError("boom")

    registry.trace_page_panels.append(broken)
    try:
        response = admin_client.get(trace_url(trace[0]))
        assert response.status_code == 200
        assert "A panel failed to render" in response.content.decode()
    finally:
        registry.trace_page_panels.remove(broken)


def test_admin_of_one_project_cannot_delete_anothers_traces(client, member, trace, other_project):
    from apps.projects.services import membership_set
    from apps.traces.models import Trace

    user = member(trace[0].project, role=Role.ADMIN)
    membership_set(project=other_project, user=user, role=Role.VIEWER)
    theirs = TraceFactory(project=other_project, trace_id="theirs")
    client.force_login(user)
    url = reverse("admin:traces_trace_changelist")
    client.post(url, {"action": "delete_selected", "_selected_action": [theirs.pk, trace[0].pk], "post": "yes"})
    assert Trace.objects.filter(pk=theirs.pk).exists()
    assert Trace.objects.filter(pk=trace[0].pk).exists()  # the selection was refused whole
    client.post(url, {"action": "delete_selected", "_selected_action": [trace[0].pk], "post": "yes"})
    assert not Trace.objects.filter(pk=trace[0].pk).exists()
    assert Trace.objects.filter(pk=theirs.pk).exists()


def test_tag_of_a_project_where_the_user_is_viewer_is_read_only(client, member, project, other_project):
    from apps.projects.services import membership_set

    user = member(project, role=Role.ADMIN)
    membership_set(project=other_project, user=user, role=Role.VIEWER)
    tag = Tag.objects.create(project=other_project, name="theirs", colour="#112233")
    client.force_login(user)
    url = reverse("admin:traces_tag_change", args=[tag.pk])
    response = client.post(url, {"project": project.pk, "name": "stolen", "colour": "#000000"})
    assert response.status_code == 403
    tag.refresh_from_db()
    assert (tag.project_id, tag.name) == (other_project.pk, "theirs")


def test_trace_page_of_a_trace_without_spans(admin_client, project):
    empty = TraceFactory(project=project, trace_id="empty", span_count=0)
    response = admin_client.get(trace_url(empty), {"span": "whatever"})
    assert response.status_code == 200
    assert "No spans yet." in response.content.decode()


def test_trace_detail_serializer_works_on_its_own(trace):
    from apps.traces.api import TraceDetailSerializer

    data = TraceDetailSerializer(trace[0]).data
    assert data["spans"][0]["span_id"] == "root-1"
    assert data["spans"][0]["children"][0]["children"][0]["span_id"] == "tool-1"


def test_trace_page_waterfall_places_spans_in_time(admin_client, project):
    t0 = timezone.now() - timedelta(minutes=1)
    trace = TraceFactory(project=project, trace_id="waterfall", start_time=t0)
    SpanFactory(trace=trace, span_id="w-root", start_time=t0, end_time=t0 + timedelta(seconds=4))
    SpanFactory(
        trace=trace,
        span_id="w-child",
        parent_span_id="w-root",
        start_time=t0 + timedelta(seconds=1),
        end_time=t0 + timedelta(seconds=2),
    )
    html = admin_client.get(trace_url(trace)).content.decode()
    assert "--offset: 0.00%; --width: 100.00%" in html
    assert "--offset: 25.00%; --width: 25.00%" in html
