"""The read API: /api/v1/traces/ and /api/v1/spans/, their filters, pagination and the span tree."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.projects.models import Role
from apps.traces import api as traces_api
from apps.traces.models import SpanTag, Tag
from tests.factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(project):
    """root (task) -> retrieve (retrieval), llm (llm) -> tool (tool)."""
    t0 = timezone.now() - timedelta(minutes=5)
    trace = TraceFactory(
        project=project,
        trace_id="tr-1",
        name="support-agent",
        start_time=t0,
        span_count=4,
        input_preview="Where is my order?",
        output_preview="It ships today.",
        user_id="u-7",
    )
    root = SpanFactory(
        trace=trace,
        span_id="s-root",
        name="agent",
        type="task",
        start_time=t0,
        input={"messages": [{"role": "user", "content": "Where is my order?"}]},
        output="It ships today.",
        metadata={"user_id": "u-7"},
        annotation_metadata={"topic": "orders"},
    )
    SpanFactory(
        trace=trace,
        span_id="s-ret",
        parent_span_id="s-root",
        name="retrieve",
        type="retrieval",
        start_time=t0 + timedelta(seconds=1),
        output=[{"doc": "orders.md"}],
    )
    SpanFactory(
        trace=trace,
        span_id="s-llm",
        parent_span_id="s-root",
        name="chat",
        type="llm",
        start_time=t0 + timedelta(seconds=2),
        model="gpt-4o-mini",
        input_tokens=120,
        output_tokens=30,
        total_tokens=150,
        cost=0.0004,
        metrics={"input_tokens": 120, "output_tokens": 30},
        expected={"role": "assistant", "content": "Today."},
    )
    SpanFactory(
        trace=trace,
        span_id="s-tool",
        parent_span_id="s-llm",
        name="lookup_order",
        type="tool",
        start_time=t0 + timedelta(seconds=3),
        error="KeyError: 'id'",
        is_error=True,
    )
    return trace, root


def test_trace_list_shows_summaries_not_full_json(key_client, tree):
    response = key_client(tree[0].project, scopes=["read"]).get("/api/v1/traces/")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    (item,) = body["results"]
    assert item["trace_id"] == "tr-1"
    assert item["project"] == "acme"
    assert item["input_preview"] == "Where is my order?"
    assert "spans" not in item and "input" not in item


def test_trace_detail_is_the_span_tree_with_every_field(key_client, tree):
    response = key_client(tree[0].project, scopes=["read"]).get("/api/v1/traces/tr-1/")
    assert response.status_code == 200
    body = response.json()
    (root,) = body["spans"]
    assert root["span_id"] == "s-root"
    assert root["input"] == {"messages": [{"role": "user", "content": "Where is my order?"}]}
    assert root["output"] == "It ships today."
    assert root["annotation_metadata"] == {"topic": "orders"}
    assert [c["span_id"] for c in root["children"]] == ["s-ret", "s-llm"]
    llm = root["children"][1]
    assert llm["expected"] == {"role": "assistant", "content": "Today."}
    assert llm["metrics"] == {"input_tokens": 120, "output_tokens": 30}
    assert llm["model"] == "gpt-4o-mini" and llm["total_tokens"] == 150 and llm["trace_id"] == "tr-1"
    (tool,) = llm["children"]
    assert tool["is_error"] is True and tool["error"] == "KeyError: 'id'" and tool["children"] == []
    for key in ["metadata", "tags", "start_time", "end_time", "duration_ms", "parent_span_id", "type", "cost"]:
        assert key in tool


def test_span_whose_parent_has_not_arrived_is_a_root(key_client, tree):
    SpanFactory(trace=tree[0], span_id="s-orphan", parent_span_id="not-yet")
    body = key_client(tree[0].project, scopes=["read"]).get("/api/v1/traces/tr-1/").json()
    assert [s["span_id"] for s in body["spans"]] == ["s-root", "s-orphan"]


def test_span_extensions_add_keys(key_client, tree):
    def scores(spans, request):
        return {s.pk: {"scores": [s.span_id.upper()]} for s in spans}

    traces_api.register_span_extension(scores)
    try:
        client = key_client(tree[0].project, scopes=["read"])
        body = client.get("/api/v1/traces/tr-1/").json()
        assert body["spans"][0]["scores"] == ["S-ROOT"]
        assert body["spans"][0]["children"][1]["children"][0]["scores"] == ["S-TOOL"]
        assert client.get("/api/v1/spans/s-llm/").json()["scores"] == ["S-LLM"]
        assert client.get("/api/v1/spans/").json()["results"][0]["scores"]
    finally:
        traces_api.span_extensions.remove(scores)


def test_span_list_and_detail(key_client, tree):
    client = key_client(tree[0].project, scopes=["read"])
    body = client.get("/api/v1/spans/", {"trace_id": "tr-1"}).json()
    # newest first
    assert [s["span_id"] for s in body["results"]] == ["s-tool", "s-llm", "s-ret", "s-root"]
    assert client.get("/api/v1/spans/", {"type": "llm"}).json()["results"][0]["span_id"] == "s-llm"
    assert [s["span_id"] for s in client.get("/api/v1/spans/", {"has_error": "true"}).json()["results"]] == ["s-tool"]
    assert [s["span_id"] for s in client.get("/api/v1/spans/?has_expected=true").json()["results"]] == ["s-llm"]
    detail = client.get("/api/v1/spans/s-llm/")
    assert detail.status_code == 200
    assert detail.json()["expected"] == {"role": "assistant", "content": "Today."}


def test_span_filters_by_tag_metadata_and_review_status(key_client, tree):
    trace, root = tree
    tag = Tag.objects.create(project=trace.project, name="vip")
    SpanTag.objects.create(span=root, tag=tag)
    client = key_client(trace.project, scopes=["read"])
    assert [s["span_id"] for s in client.get("/api/v1/spans/?tags=vip").json()["results"]] == ["s-root"]
    assert [s["span_id"] for s in client.get("/api/v1/spans/?metadata=user_id:u-7").json()["results"]] == ["s-root"]
    assert client.get("/api/v1/spans/?review_status=reviewed").json()["results"] == []
    assert len(client.get("/api/v1/spans/?review_status=none").json()["results"]) == 4


def test_trace_filters(key_client, project):
    now = timezone.now()
    TraceFactory(project=project, trace_id="old", name="rag", start_time=now - timedelta(days=10), has_error=True)
    TraceFactory(
        project=project,
        trace_id="new",
        name="chat",
        start_time=now,
        session_id="sess-1",
        output_preview="Refund issued",
        review_status="reviewed",
    )
    client = key_client(project, scopes=["read"])

    def ids(**params):
        response = client.get("/api/v1/traces/", params)
        assert response.status_code == 200, response.json()
        return [t["trace_id"] for t in response.json()["results"]]

    assert ids() == ["new", "old"]
    assert ids(name="rag") == ["old"]
    assert ids(has_error="true") == ["old"]
    assert ids(start_time_after=(now - timedelta(days=1)).isoformat()) == ["new"]
    assert ids(start_time_before=(now - timedelta(days=1)).isoformat()) == ["old"]
    assert ids(session_id="sess-1") == ["new"]
    assert ids(review_status="reviewed") == ["new"]
    assert ids(q="refund") == ["new"]
    assert ids(project="acme") == ["new", "old"]


def test_bad_filters_answer_400_naming_the_field(key_client, project):
    client = key_client(project, scopes=["read"])
    for params, field in [
        ({"has_error": "perhaps"}, "has_error"),
        ({"start_time_after": "not a date"}, "start_time_after"),
        ({"span_type": "robot"}, "span_type"),
        ({"metadata": "nocolon"}, "metadata"),
        ({"cursor": "!!garbage"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "100000"}, "page_size"),
    ]:
        response = client.get("/api/v1/traces/", params)
        assert response.status_code == 400, (params, response.content)
        assert field in response.json()["fields"], response.json()
    response = client.get("/api/v1/spans/", {"type": "robot"})
    assert response.status_code == 400 and "type" in response.json()["fields"]
    response = client.get("/api/v1/spans/", {"has_expected": "maybe"})
    assert response.status_code == 400 and "has_expected" in response.json()["fields"]
    assert client.get("/api/v1/spans/", {"has_expected": "1", "is_root": "no"}).status_code == 200


def test_cursor_pagination_walks_every_trace_once(key_client, project):
    now = timezone.now()
    # equal start times on purpose: the cursor breaks ties by id
    for i in range(7):
        TraceFactory(project=project, trace_id=f"p{i}", start_time=now - timedelta(minutes=i // 2))
    TraceFactory(project=project, trace_id="no-time", start_time=None)
    TraceFactory(project=project, trace_id="no-time-2", start_time=None)
    client = key_client(project, scopes=["read"])
    for size in (1, 3, 50):
        seen, url = [], f"/api/v1/traces/?page_size={size}"
        while url:
            body = client.get(url).json()
            assert len(body["results"]) <= size
            seen += [t["trace_id"] for t in body["results"]]
            url = body["next"]
        # rows without a start time first (as the index orders them), then newest first, ties by newest id
        assert seen == ["no-time-2", "no-time", "p1", "p0", "p3", "p2", "p5", "p4", "p6"], size


def test_read_needs_read_scope_and_authentication(key_client, api_client, tree):
    assert api_client.get("/api/v1/traces/").status_code in (401, 403)
    response = key_client(tree[0].project, scopes=["ingest"]).get("/api/v1/traces/")
    assert response.status_code == 403
    assert "read" in response.json()["error"]


def test_member_session_reads_its_projects(api_client, member, tree):
    user = member(tree[0].project, role=Role.VIEWER)
    api_client.force_login(user)
    assert [t["trace_id"] for t in api_client.get("/api/v1/traces/").json()["results"]] == ["tr-1"]
    assert api_client.get("/api/v1/traces/tr-1/").status_code == 200


def test_session_user_with_two_projects_sharing_a_trace_id(api_client, member, project, other_project):
    user = member(project, role=Role.VIEWER)
    from apps.projects.services import membership_set

    membership_set(project=other_project, user=user, role=Role.VIEWER)
    TraceFactory(project=project, trace_id="same", name="in-acme")
    TraceFactory(project=other_project, trace_id="same", name="in-other")
    api_client.force_login(user)
    assert api_client.get("/api/v1/traces/same/").status_code == 200
    assert api_client.get("/api/v1/traces/same/?project=acme").json()["name"] == "in-acme"
    assert api_client.get("/api/v1/traces/same/?project=other").json()["name"] == "in-other"


def test_missing_ids_answer_404(key_client, project):
    client = key_client(project, scopes=["read"])
    for url in ["/api/v1/traces/nope/", "/api/v1/spans/nope/"]:
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found.", "fields": {}}


def test_schema_and_docs_render(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/traces/{trace_id}/" in text and "/api/v1/spans/" in text
    assert "metadata" in text and "start_time_after" in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_schema_of_the_trace_endpoints_has_no_warnings_or_errors():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("apps.traces.urls"))])
    schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS, (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
    params = {p["name"] for p in schema["paths"]["/api/v1/traces/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "metadata", "tags", "q", "start_time_after", "span_type"} <= params
    assert "spans" in schema["components"]["schemas"]["TraceDetail"]["properties"]


def test_documented_trace_filters_on_end_time_and_duration(key_client, project):
    """docs/api.md: `end_time_after` / `end_time_before`, `min_duration_ms` / `max_duration_ms`."""
    from datetime import UTC, datetime

    ends = {
        "quick": (datetime(2026, 1, 1, 10, tzinfo=UTC), 120.0),
        "slow": (datetime(2026, 1, 2, 10, tzinfo=UTC), 9000.0),
        "open": (None, None),
    }
    for trace_id, (end, duration) in ends.items():
        TraceFactory(project=project, trace_id=trace_id, end_time=end, duration_ms=duration)
    client = key_client(project, scopes=["read"])

    def ids(**params):
        response = client.get("/api/v1/traces/", params)
        assert response.status_code == 200, response.json()
        return sorted(t["trace_id"] for t in response.json()["results"])

    assert ids(end_time_after="2026-01-01T12:00:00Z") == ["slow"]
    assert ids(end_time_before="2026-01-01T12:00:00Z") == ["quick"]
    assert ids(min_duration_ms=1000) == ["slow"]
    assert ids(max_duration_ms=1000) == ["quick"]
    assert ids(min_duration_ms=100, max_duration_ms=10_000) == ["quick", "slow"]
    bad = client.get("/api/v1/traces/", {"min_duration_ms": "long"})
    assert bad.status_code == 400 and "min_duration_ms" in bad.json()["fields"]


def test_documented_span_filters_on_parent_model_and_duration(key_client, tree):
    """docs/api.md: `parent_span_id`, `model` (repeatable as a comma list), durations."""
    from apps.traces.models import Span

    Span.objects.filter(span_id="s-llm").update(model="gpt-4o", duration_ms=800)
    Span.objects.filter(span_id="s-ret").update(model="", duration_ms=40)
    Span.objects.filter(span_id="s-tool").update(model="claude-3", duration_ms=5)
    client = key_client(tree[0].project, scopes=["read"])

    def ids(**params):
        response = client.get("/api/v1/spans/", params)
        assert response.status_code == 200, response.json()
        return sorted(s["span_id"] for s in response.json()["results"])

    assert ids(parent_span_id="s-root") == ["s-llm", "s-ret"]
    assert ids(parent_span_id="s-llm") == ["s-tool"]
    assert ids(model="gpt-4o") == ["s-llm"]
    assert ids(model="gpt-4o,claude-3") == ["s-llm", "s-tool"]
    assert ids(min_duration_ms=30, max_duration_ms=100) == ["s-ret"]
