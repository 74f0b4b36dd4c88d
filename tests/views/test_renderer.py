"""Each component rendered from sample traces: the tree (what the API returns) and the HTML."""

import re

import pytest

from apps.views.documents import safe_image_src
from apps.views.renderer import render_html, render_tree

from .conftest import make_trace

pytestmark = pytest.mark.django_db


def one(spec_component, trace):
    nodes = render_tree({"components": [spec_component]}, trace)
    return nodes[0], render_html(nodes)


def test_conversation_roles_and_collapsible_tool_calls(chat_trace):
    node, html = one({"type": "conversation", "path": ["$.input", "$.output"]}, chat_trace)
    roles = [m["role"] for m in node["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert node["messages"][2]["tool_calls"][0]["name"] == "lookup_order"
    assert '"order": "1234"' in node["messages"][2]["tool_calls"][0]["arguments"]  # pretty-printed JSON args
    assert "tv-role-user" in html and "tv-role-tool" in html
    assert re.search(r'<details class="tv-tool-call">\s*<summary>Tool call <strong>lookup_order</strong>', html)
    assert '<details class="tv-tool-result">' in html
    assert "Your order has shipped." in html


def test_conversation_anthropic_blocks(project):
    trace = make_trace(
        project,
        [
            {
                "input": [
                    {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "tu1", "name": "weather", "input": {"c": "Oslo"}}],
                    },
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": "rain"}]},
                ],
                "output": "Rain in Oslo.",
            }
        ],
        trace_id="anth",
    )
    node, html = one({"type": "conversation", "path": "$.input"}, trace)
    assert node["messages"][1]["tool_calls"][0]["name"] == "weather"
    assert node["messages"][2]["parts"][0] == {"kind": "tool_result", "id": "tu1", "text": "rain"}


def test_conversation_missing_path_says_so(chat_trace):
    node, html = one({"type": "conversation", "path": "$.input.nope"}, chat_trace)
    assert node["error"] == "No messages at $.input.nope."
    assert "No messages at $.input.nope." in html


def test_fields_table_shows_values_marks_missing_and_blocks_nested(chat_trace):
    node, html = one(
        {
            "type": "fields",
            "fields": [
                {"label": "Model", "path": "$.model"},
                {"label": "Customer", "path": "$.metadata.customer"},
                {"label": "Tokens", "path": "$.metrics.total_tokens"},
                {"label": "Missing", "path": "$.metadata.none"},
                {"label": "Nested", "path": "$.metadata.nested"},
            ],
        },
        chat_trace,
    )
    assert [r["text"] for r in node["rows"][:3]] == ["gpt-4o-mini", "c-77", "42"]
    assert node["rows"][3]["missing"] is True
    assert node["rows"][4]["block"] is True
    assert '<th scope="row">Customer</th>' in html


def test_markdown_is_rendered_and_sanitised(project):
    trace = make_trace(
        project,
        [
            {
                "output": "# Title\n\n**bold** <script>window.__xss=1</script>"
                " [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
            }
        ],
        trace_id="md",
    )
    node, html = one({"type": "markdown", "path": "$.output"}, trace)
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html


def test_json_tree_is_collapsible_and_escaped(chat_trace):
    node, html = one({"type": "json", "path": "$.metadata", "open_depth": 1}, chat_trace)
    assert node["value"]["customer"] == "c-77"
    assert html.count("<details") >= 3  # metadata, nested, deep list, its object
    assert '<details class="tv-j-node" open>' in html  # first level open
    assert '<span class="tv-j-key">customer</span>' in html


def test_carousel_items_with_nested_components(rag_trace):
    node, html = one(
        {
            "type": "carousel",
            "span": {"type": "retrieval"},
            "path": "$.output.documents",
            "item_title": "$.title",
            "components": [
                {"type": "markdown", "path": "$.text"},
                {"type": "fields", "fields": [{"label": "Score", "path": "$.score"}]},
            ],
        },
        rag_trace,
    )
    assert node["count"] == 2
    assert [item["title"] for item in node["items"]] == ["Refund policy", "Shipping"]
    assert node["items"][0]["components"][1]["rows"][0]["text"] == "0.91"
    assert html.count("data-carousel-item") == 2 and "data-carousel-next" in html


def test_diff_expected_vs_output(rag_trace):
    node, html = one(
        {"type": "diff", "expected_path": "$.expected.answer", "output_path": "$.output.answer"}, rag_trace
    )
    deleted = "".join(o["text"] for o in node["ops"] if o["op"] == "delete")
    inserted = "".join(o["text"] for o in node["ops"] if o["op"] == "insert")
    assert "delivery." in deleted and "**30" in inserted
    assert "<del>" in html and "<ins>" in html


def test_diff_without_expected_says_so(project):
    trace = make_trace(project, [{"output": "x", "expected": None}], trace_id="noexp")
    node, _ = one({"type": "diff"}, trace)
    assert node["error"].startswith("No expected value")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("https://example.com/cat.png", True),
        ("http://example.com/cat.png", True),
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("data:image/webp;base64,UklGRg==", True),
        ("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", False),
        ("data:image/svg+xml,<svg onload=alert(1)>", False),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("//evil.example/x.png", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ('https://e.com/x.png" onerror="alert(1)', False),
        (42, False),
    ],
)
def test_image_sources_are_restricted(value, allowed):
    assert (safe_image_src(value) is not None) is allowed


def test_image_component(project):
    trace = make_trace(
        project,
        [{"input": {"images": ["https://example.com/a.png", "data:image/svg+xml;base64,AAAA"]}}],
        trace_id="img",
    )
    node, html = one({"type": "image", "path": "$.input.images", "alt": "upload"}, trace)
    assert node["images"] == [{"src": "https://example.com/a.png"}, {"blocked": True}]
    assert '<img class="tv-img" src="https://example.com/a.png" alt="upload"' in html
    assert "svg" not in html and "Image not shown" in html


def test_aggregate_table_of_tool_calls(agent_trace):
    node, html = one(
        {
            "type": "aggregate",
            "spans": {"type": "tool"},
            "display": "table",
            "columns": [{"label": "Tool", "path": "$.name"}, {"label": "Args", "path": "$.input"}],
        },
        agent_trace,
    )
    assert node["columns"] == ["Tool", "Args"]
    assert node["rows"] == [
        ["search_restaurants", '{"city": "Paris"}'],
        ["book_table", '{"name": "Chez Nous", "people": 2}'],
    ]
    assert "<td>book_table</td>" in html


def test_aggregate_sum_grouped_by_model(agent_trace):
    node, html = one(
        {
            "type": "aggregate",
            "spans": {"type": "llm"},
            "display": "sum",
            "path": "$.metrics.total_tokens",
            "group_by": "$.model",
        },
        agent_trace,
    )
    assert node["groups"] == [{"key": "gpt-4o", "value": 125}, {"key": "gpt-4o-mini", "value": 50}]
    assert node["total"] == 175
    assert '<td>gpt-4o</td><td class="tv-num">125</td>' in html


def test_aggregate_count_list_and_by_name(agent_trace):
    count, _ = one({"type": "aggregate", "spans": {"type": "tool"}, "display": "count"}, agent_trace)
    assert count["total"] == 2 and count["span_count"] == 2
    listed, _ = one(
        {"type": "aggregate", "spans": {"name": "answer"}, "display": "list", "path": "$.output"}, agent_trace
    )
    assert [i["text"] for i in listed["items"]] == ["Booked.", "Done."]
    by_name, _ = one(
        {"type": "aggregate", "spans": {"name": "answer", "type": "llm"}, "display": "count", "group_by": "$.model"},
        agent_trace,
    )
    assert by_name["groups"] == [{"key": "gpt-4o", "value": 1}, {"key": "gpt-4o-mini", "value": 1}]


def test_span_selector_by_name_type_index_and_missing(agent_trace):
    node, _ = one(
        {"type": "fields", "span": {"name": "answer", "index": 1}, "fields": [{"label": "m", "path": "$.model"}]},
        agent_trace,
    )
    assert node["rows"][0]["text"] == "gpt-4o" and node["span_id"] == "agent-1-s5"
    node, _ = one(
        {"type": "fields", "span": {"type": "retrieval"}, "fields": [{"label": "m", "path": "$.name"}]}, agent_trace
    )
    assert node["error"] == "No span with type 'retrieval' in this trace."


def test_root_span_is_default(rag_trace):
    node, _ = one({"type": "markdown", "path": "$.input.question"}, rag_trace)
    assert node["markdown"] == "What is the refund window?"


def test_score_controls_outside_review_are_not_live(chat_trace):
    node, html = one({"type": "score_controls", "configs": ["correctness"]}, chat_trace)
    assert node["configs"] == ["correctness"] and node["span_id"] == "chat-1-s0"
    assert "<form" not in html and "Scores are given in review" in html


def test_conversation_shows_non_message_values_whole(rag_trace):
    node, html = one({"type": "conversation", "path": ["$.input", "$.output"]}, rag_trace)
    assert [m["role"] for m in node["messages"]] == ["message", "message"]
    assert "What is the refund window?" in node["messages"][0]["parts"][0]["text"]


def test_markdown_of_a_chat_message_renders_its_text(chat_trace):
    node, html = one({"type": "markdown", "path": "$.output"}, chat_trace)
    assert node["markdown"] == "Your order has shipped."


def test_a_stale_spec_never_fails_the_page(chat_trace):
    nodes = render_tree(
        {
            "components": [
                {"type": "gauge"},
                {"type": "markdown"},
                {"type": "fields"},
                {"type": "markdown", "path": "$.output"},
            ]
        },
        chat_trace,
    )
    assert nodes[0]["error"] == "Unknown component type 'gauge'."
    assert "incomplete" in nodes[1]["error"] and "incomplete" in nodes[2]["error"]
    assert nodes[3]["markdown"] == "Your order has shipped."
    assert "Your order has shipped." in render_html(nodes)


# ---------------------------------------------------------------- the default view fits the trace


def default_view(trace, focus=None):
    from apps.views.default_view import default_spec

    spec = default_spec(trace, focus=focus)
    nodes = render_tree(spec, trace, focus=focus)
    return {n["type"]: n for n in nodes}, [n.get("title") for n in nodes], render_html(nodes)


def test_default_view_of_a_chat_is_a_conversation(chat_trace):
    by_type, titles, html = default_view(chat_trace)
    assert titles[0] == "Conversation"
    roles = [m["role"] for m in by_type["conversation"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert "Your order has shipped." in html and "lookup_order" in html
    assert "Expected vs output" in titles


def test_default_view_of_rag_is_question_passages_and_answer(rag_trace):
    by_type, titles, html = default_view(rag_trace)
    assert titles[:3] == ["Question", "Retrieved passages", "Answer"]
    assert [i["title"] for i in by_type["carousel"]["items"]] == ["kb/refunds.md", "kb/shipping.md"]
    assert "You can return items within 30 days." in html and "Refunds are accepted within" in html


def test_default_view_of_an_agent_shows_its_steps_with_tool_calls(agent_trace):
    by_type, titles, html = default_view(agent_trace)
    assert "Conversation" in titles and "Steps" in titles
    assert [r[0] for r in by_type["aggregate"]["rows"]] == ["search_restaurants", "book_table"]
    assert "Chez Nous" in html


def test_default_view_puts_an_error_message_on_top(project):
    trace = make_trace(
        project,
        [
            {
                "name": "rag",
                "type": "task",
                "input": {"question": "Why <b>now</b>?"},
                "output": None,
                "error": "LLM call failed",
                "is_error": True,
            },
            {"name": "generate", "type": "llm", "error": "APIConnectionError: <script>x</script>", "is_error": True},
        ],
        trace_id="err-1",
    )
    _by_type, titles, html = default_view(trace)
    assert titles[:2] == ["Error", "Error in generate"]
    assert html.index("LLM call failed") < html.index("Why &lt;b&gt;now&lt;/b&gt;?")
    assert "<script>x</script>" not in html and "APIConnectionError: &lt;script&gt;" in html
