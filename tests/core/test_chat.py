"""The chat normaliser (apps.core.chat), one shape at a time."""

from __future__ import annotations

from apps.core import chat
from apps.core.json_preview import json_preview

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Hi"}
ASSISTANT = {"role": "assistant", "content": "Hello."}


def test_openai_message_list():
    assert chat.chat_split([SYSTEM, USER]) == ([SYSTEM, USER], {})
    assert chat.chat_text([SYSTEM, USER]) == "Hi"
    assert chat.chat_messages([USER, "not a message"]) is None
    assert chat.chat_messages([]) is None


def test_request_with_messages_and_other_keys():
    messages, rest = chat.chat_split({"model": "gpt-x", "messages": [USER], "temperature": 0})
    assert messages == [USER] and rest == {"model": "gpt-x", "temperature": 0}


def test_anthropic_request_system_becomes_the_first_message():
    value = {
        "system": [{"type": "text", "text": "Rules."}, {"type": "text", "text": "More."}],
        "messages": [USER],
        "max_tokens": 10,
    }
    messages, rest = chat.chat_split(value)
    assert messages == [{"role": "system", "content": "Rules.\nMore."}, USER]
    assert rest == {"max_tokens": 10}
    assert chat.chat_messages({"system": "S", "messages": [USER]})[0] == {"role": "system", "content": "S"}


def test_one_message_and_anthropic_response():
    assert chat.chat_messages(ASSISTANT) == [ASSISTANT]
    response = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "Sure."}, {"type": "text", "text": "Done."}],
    }
    assert chat.chat_messages(response) == [response]
    assert chat.chat_text(response) == "Sure. Done."
    normal = chat.message_normalise(response)
    assert normal["parts"] == [{"kind": "text", "text": "Sure."}, {"kind": "text", "text": "Done."}]
    assert normal["extra"] == {"id": "msg_1", "type": "message", "model": "claude"}
    assert chat.chat_messages({"role": "user"}) is None  # a role alone is no message


def test_choices_response():
    value = {"id": "cmpl-1", "choices": [{"message": ASSISTANT}, {"message": {"role": "assistant", "content": "B"}}]}
    messages, rest = chat.chat_split(value)
    assert [m["content"] for m in messages] == ["Hello.", "B"] and rest == {"id": "cmpl-1"}
    assert chat.chat_answer(value) == ASSISTANT and chat.chat_text(value) == "Hello."  # the first choice
    assert chat.chat_messages({"choices": [{"text": "legacy"}]}) is None


def test_openai_tool_calls_function_call_and_tool_results():
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "search", "arguments": '{"q": "cats"}'}}
        ],
    }
    legacy = {"role": "assistant", "function_call": {"name": "lookup", "arguments": "{}"}}
    result = {"role": "tool", "tool_call_id": "call_9", "name": "search", "content": "3 results"}
    normal = chat.message_normalise(call)
    assert normal["parts"] == [] and normal["tool_calls"] == [
        {"id": "call_9", "name": "search", "arguments": '{"q": "cats"}', "source": "tool_calls"}
    ]
    assert chat.tool_arguments('{"q": "cats"}') == ({"q": "cats"}, True)
    assert chat.tool_arguments("not json") == ("not json", False)
    assert chat.tool_arguments({"q": 1}) == ({"q": 1}, False)
    assert chat.message_normalise(legacy)["tool_calls"][0]["source"] == "function_call"
    tool = chat.message_normalise(result)
    assert (tool["role"], tool["tool_call_id"], tool["name"]) == ("tool", "call_9", "search")
    assert chat.has_tool_calls([USER, call]) and chat.has_tool_calls(legacy) and not chat.has_tool_calls([USER])


def test_anthropic_tool_use_and_tool_result_blocks():
    use = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "tu_1", "name": "calc", "input": {"x": 1}},
        ],
    }
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "2"}]}],
    }
    normal = chat.message_normalise(use)
    assert normal["parts"] == [{"kind": "text", "text": "Let me check."}]
    assert normal["tool_calls"] == [{"id": "tu_1", "name": "calc", "arguments": {"x": 1}, "source": "tool_use"}]
    assert chat.message_normalise(result)["parts"] == [
        {"kind": "tool_result", "id": "tu_1", "parts": [{"kind": "text", "text": "2"}]}
    ]
    assert chat.has_tool_calls([use])


def test_images_openai_and_anthropic():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": "https://example.com/b.png"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/c.png"}},
        {"type": "input_audio", "input_audio": {"data": "…"}},
    ]
    parts = chat.message_normalise({"role": "user", "content": content})["parts"]
    assert parts[:5] == [
        {"kind": "text", "text": "What is this?"},
        {"kind": "image", "url": "https://example.com/a.png"},
        {"kind": "image", "url": "https://example.com/b.png"},
        {"kind": "image", "url": "data:image/png;base64,AAAA"},
        {"kind": "image", "url": "https://example.com/c.png"},
    ]
    assert parts[5] == {"kind": "json", "value": content[5]}  # unknown parts are kept whole
    assert chat.message_text({"role": "user", "content": content}) == "What is this?"


def test_lenient_items_for_trace_views():
    assert chat.chat_items([[USER], [ASSISTANT]]) == [USER, ASSISTANT]
    assert chat.chat_items({"messages": [USER, "x"]}) == [USER, "x"]
    assert chat.chat_items({"system": "S", "messages": [USER]})[0] == {"role": "system", "content": "S"}
    assert chat.chat_items("just text") == ["just text"] and chat.chat_items(None) == []


def test_editable_text_is_the_string_content_written_back_in_place():
    assert chat.editable_text(ASSISTANT) == "Hello."
    assert chat.editable_text([USER, ASSISTANT]) == "Hello."
    assert chat.editable_text({"content": "no role"}) == "no role"
    assert chat.editable_text({"role": "assistant", "content": [{"type": "text", "text": "x"}]}) is None
    assert chat.editable_text({"choices": [{"message": ASSISTANT}]}) is None  # not writable in place


def test_previews_use_the_normaliser():
    assert json_preview([SYSTEM, USER]) == "Hi"
    assert json_preview(ASSISTANT) == "Hello."
    assert json_preview({"choices": [{"message": ASSISTANT}]}) == "Hello."
    assert json_preview({"question": "Refund?"}) == "Refund?"
    assert json_preview({"a": 1, "b": 2}) == '{"a":1,"b":2}'
