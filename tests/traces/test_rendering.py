"""How span values are classified for display (apps.traces.rendering) and rendered by traces/_span_io.html."""

from django.template.loader import render_to_string

from apps.traces.rendering import span_value_display


def test_empty_text_and_json_values_are_shown_by_kind_and_big_json_starts_closed():
    assert span_value_display(None) == {"kind": "empty"}
    assert span_value_display("") == {"kind": "empty"}
    assert span_value_display("hello") == {"kind": "text", "text": "hello"}
    assert span_value_display(42) == {"kind": "text", "text": "42"}
    shown = span_value_display({"documents": [{"id": "a"}]})
    assert shown["kind"] == "json" and '"documents"' in shown["pretty"] and shown["open"]
    big = span_value_display({"blob": "x" * 5000})
    assert big["kind"] == "json" and not big["open"]


def test_openai_message_lists_single_messages_and_completions_show_as_conversations():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    for value in (messages, {"messages": messages, "temperature": 0}):
        shown = span_value_display(value)
        assert shown["kind"] == "conversation"
        assert [m["role"] for m in shown["messages"]] == ["system", "user"]
        assert shown["messages"][1]["parts"] == [{"kind": "text", "text": "Hi"}]
    assert '"temperature": 0' in span_value_display({"messages": messages, "temperature": 0})["extra"]
    single = span_value_display({"role": "assistant", "content": "Done."})
    assert single["kind"] == "conversation" and single["messages"][0]["role_class"] == "assistant"
    completion = span_value_display({"id": "cmpl-1", "choices": [{"message": {"role": "assistant", "content": "Yo"}}]})
    assert completion["kind"] == "conversation" and '"cmpl-1"' in completion["extra"]


def test_content_parts_and_tool_calls():
    shown = span_value_display(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "search", "arguments": '{"q": "cats"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": "3 results"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "calc", "input": {"x": 1}}]},
            {"role": "weird<role>", "content": "?"},
        ]
    )
    user, call, tool, anthropic, weird = shown["messages"]
    assert user["parts"][0]["text"] == "What is in this picture?"
    assert user["parts"][1]["text"] == "[image] data:image/png;base64,…"  # data URLs are never inlined
    assert call["tool_calls"] == [{"id": "call_9", "name": "search", "arguments": '{\n  "q": "cats"\n}'}]
    assert tool["tool_call_id"] == "call_9" and tool["role_class"] == "tool"
    assert anthropic["tool_calls"][0]["name"] == "calc"
    assert weird["role_class"] == "other"  # only known roles become CSS classes


def test_template_escapes_everything():
    value = [
        {
            "role": "user",
            "content": "<script>alert(1)</script>",
            "name": "<b>n</b>",
            "tool_calls": [{"function": {"name": "<i>f</i>", "arguments": "<svg onload=x>"}}],
        }
    ]
    html = render_to_string("traces/_span_io.html", {"value": value, "label": "<u>Input</u>"})
    for raw in ["<script>", "<b>n</b>", "<i>f</i>", "<svg", "<u>Input</u>"]:
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = render_to_string("traces/_span_io.html", {"value": {"k": "</pre><script>x</script>"}, "label": "L"})
    assert "<script>" not in html and "&lt;/pre&gt;" in html
