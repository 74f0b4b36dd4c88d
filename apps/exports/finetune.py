"""Checks of fine-tuning files against OpenAI's documented formats, and the per-record report.

Chat (supervised) lines: `{"messages": [...]}` (optionally `tools`, `parallel_tool_calls`); roles
system / user / assistant / tool; at least one assistant message; content a non-empty string or a
list of content parts (`{"type": "text", "text": ...}`, `{"type": "image_url", "image_url": {"url": ...}}`
...), null only on an assistant message with tool calls; assistant `tool_calls` as
`{"id", "type": "function", "function": {"name", "arguments": <JSON text>}}`; a tool message names
the `tool_call_id` of an earlier tool call; `weight` (0 or 1) only on assistant messages.

Preference (DPO) lines: `{"input": {"messages": [...]}, "preferred_output": [assistant message],
"non_preferred_output": [assistant message]}`, the two outputs different.

Each problem is `{"rule": <code>, "message": <text>}`; the codes are listed in docs/api.md. A record
with problems is not written to the export (training would reject the whole file); the report
(`<job>.validation.jsonl`) lists every record, valid or not, and the job keeps the counts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from typing import Any

import orjson

ROLES = ("system", "user", "assistant", "tool")
LINE_KEYS = {"messages", "tools", "parallel_tool_calls"}
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "weight", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}
PART_TYPES = {"text", "image_url", "input_audio", "file"}


def _problem(rule: str, message: str) -> dict[str, str]:
    return {"rule": rule, "message": message}


def _content_problems(message: dict, where: str) -> list[dict]:
    content = message.get("content")
    if isinstance(content, str):
        if content.strip() or message.get("tool_calls"):
            return []
        return [_problem("message.content", f"{where} has empty content")]
    if isinstance(content, list):
        if not content:
            return [_problem("message.content", f"{where} has an empty list of content parts")]
        problems = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
                problems.append(
                    _problem(
                        "content.part",
                        f"{where} part {i} is not a content part (type one of {', '.join(sorted(PART_TYPES))})",
                    )
                )
            elif part["type"] == "text" and not isinstance(part.get("text"), str):
                problems.append(_problem("content.part", f"{where} part {i} (text) has no text"))
            elif part["type"] == "image_url" and not (
                isinstance(part.get("image_url"), dict) and isinstance(part["image_url"].get("url"), str)
            ):
                problems.append(_problem("content.part", f"{where} part {i} (image_url) has no image_url.url"))
        return problems
    if content is None and message.get("role") == "assistant" and message.get("tool_calls"):
        return []
    return [_problem("message.content", f"{where} content is neither text nor a list of content parts")]


def _tool_call_problems(calls: Any, where: str, seen_ids: set[str]) -> list[dict]:
    if not isinstance(calls, list) or not calls:
        return [_problem("tool_calls.shape", f"{where} tool_calls is not a non-empty list")]
    problems = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and call["id"]
            and call.get("type") == "function"
            and isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and function["name"]
            and isinstance(function.get("arguments"), str)
        ):
            problems.append(
                _problem(
                    "tool_calls.shape",
                    f"{where} tool call {i} is not "
                    '{"id": text, "type": "function", "function": {"name": text, "arguments": JSON text}}',
                )
            )
            continue
        try:
            orjson.loads(function["arguments"])
        except orjson.JSONDecodeError:
            problems.append(_problem("tool_calls.arguments", f"{where} tool call {i} arguments are not JSON text"))
        seen_ids.add(call["id"])
    return problems


def message_problems(messages: Any, *, need_assistant: bool = True) -> list[dict]:
    """The rule violations of a list of chat messages (empty: valid)."""
    if not isinstance(messages, list) or not messages:
        return [_problem("messages.empty", "messages is not a non-empty list")]
    problems: list[dict] = []
    tool_call_ids: set[str] = set()
    for i, message in enumerate(messages):
        where = f"message {i}"
        if not isinstance(message, dict):
            problems.append(_problem("message.shape", f"{where} is not an object"))
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(_problem("message.role", f"{where} has role {role!r}; expected one of {', '.join(ROLES)}"))
            continue
        where = f"{where} ({role})"
        extra = set(message) - MESSAGE_KEYS[role]
        if extra:
            rule = "tool_calls.role" if "tool_calls" in extra else "message.keys"
            problems.append(_problem(rule, f"{where} has keys not allowed for its role: {', '.join(sorted(extra))}"))
        problems += _content_problems(message, where)
        if role == "assistant" and "tool_calls" in message:
            problems += _tool_call_problems(message["tool_calls"], where, tool_call_ids)
        if "weight" in message and message["weight"] not in (0, 1):
            problems.append(_problem("message.weight", f"{where} weight must be 0 or 1"))
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                problems.append(_problem("tool.tool_call_id", f"{where} has no tool_call_id"))
            elif call_id not in tool_call_ids:
                problems.append(
                    _problem(
                        "tool.tool_call_id", f"{where} answers {call_id!r}, which no earlier assistant tool call has"
                    )
                )
    if need_assistant and not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append(_problem("assistant.missing", "no assistant message"))
    return problems


def chat_line_problems(line: Any) -> list[dict]:
    """A supervised fine-tuning line (`{"messages": [...]}`) against the rules above."""
    if not isinstance(line, dict) or "messages" not in line:
        return [_problem("line.shape", 'a line is an object {"messages": [...]}')]
    problems = []
    if set(line) - LINE_KEYS:
        problems.append(_problem("line.shape", f"unknown keys: {', '.join(sorted(set(line) - LINE_KEYS))}"))
    return problems + message_problems(line["messages"])


def _single_assistant(value: Any, name: str) -> list[dict]:
    if not (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and value[0].get("role") == "assistant"
    ):
        return [_problem("preference.output", f"{name} is not a list of exactly one assistant message")]
    return [{**p, "message": f"{name}: {p['message']}"} for p in message_problems(value)]


def preference_line_problems(line: Any) -> list[dict]:
    """A preference (DPO) fine-tuning line against OpenAI's format."""
    if not isinstance(line, dict) or set(line) != {"input", "preferred_output", "non_preferred_output"}:
        return [
            _problem(
                "line.shape",
                'a line is {"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}',
            )
        ]
    problems = []
    if not isinstance(line["input"], dict) or "messages" not in line["input"]:
        problems.append(_problem("line.shape", 'input is not {"messages": [...]}'))
    else:
        problems += message_problems(line["input"]["messages"], need_assistant=False)
    problems += _single_assistant(line["preferred_output"], "preferred_output")
    problems += _single_assistant(line["non_preferred_output"], "non_preferred_output")
    if not problems and line["preferred_output"] == line["non_preferred_output"]:
        problems.append(_problem("preference.same", "preferred and non-preferred outputs are the same"))
    return problems


class ValidationReport:
    """One JSON line per record (`{"record", "valid", "problems"}`) spooled to a local file, plus counts."""

    def __init__(self, temp_dir: str):
        fd, self.path = tempfile.mkstemp(prefix="assay-validation-", suffix=".jsonl", dir=temp_dir)
        self.fh = os.fdopen(fd, "wb", buffering=1 << 16)
        self.valid = 0
        self.invalid = 0
        self.rules: Counter[str] = Counter()

    def add(self, record: str, problems: list[dict]) -> None:
        if problems:
            self.invalid += 1
            self.rules.update({p["rule"] for p in problems})
        else:
            self.valid += 1
        self.fh.write(orjson.dumps({"record": record, "valid": not problems, "problems": problems}) + b"\n")

    def close(self) -> None:
        self.fh.close()

    def discard(self) -> None:
        self.fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def summary(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "invalid": self.invalid,
            "rules": dict(sorted(self.rules.items())),
            "invalid_records": "skipped",
        }
