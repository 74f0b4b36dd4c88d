"""OpenAI fine-tuning chat JSONL: `{"messages": [...]}` per record.

The conversation is the record's input messages followed by its **expected** answer (the reviewed
correction, or a dataset record's expected value) as the assistant turn. A span's raw `output` is
never used: fine-tuning on unreviewed production answers would teach the model its own mistakes.
Filter spans with `has_expected=true` to export only corrected ones. A record that cannot become a
valid conversation is not written and is reported in `ExportJob.problems` with the reason.
Every line is then checked against OpenAI's documented rules (`apps.exports.finetune`); the
per-record report is published next to the file as `<job>.validation.jsonl`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from apps.core.chat import chat_answer, chat_messages

from ..finetune import ValidationReport, chat_line_problems
from ..storage import temp_dir
from .base import Batch, Problem, Writer, dumps_json, python_value

ROLES = {"system", "developer", "user", "assistant", "tool"}
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight")
PART_TYPES = {"text", "image_url", "input_audio", "file"}


class InvalidConversation(Exception):
    pass


def _content_ok(message: dict) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        return bool(content.strip()) or bool(message.get("tool_calls"))
    if isinstance(content, list):
        return bool(content) and all(isinstance(part, dict) and part.get("type") in PART_TYPES for part in content)
    return content is None and message.get("role") == "assistant" and bool(message.get("tool_calls"))


def _clean_message(message: Any, where: str) -> dict:
    if not isinstance(message, dict):
        raise InvalidConversation(f"{where} is not a message object")
    role = message.get("role")
    if role not in ROLES:
        raise InvalidConversation(f"{where} has role {role!r}; expected one of {', '.join(sorted(ROLES))}")
    clean = {key: message[key] for key in MESSAGE_KEYS if key in message}
    if not _content_ok(clean):
        raise InvalidConversation(f"{where} ({role}) has no text content")
    return clean


def input_messages(value: Any) -> list[dict]:
    """The record's input as messages (a conversation as `apps.core.chat` reads it, or a text as the
    user's turn), each checked against the fine-tuning format."""
    value = chat_messages(value) or value
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    elif isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
        # {"question": "..."}: the one text field is the user's turn.
        value = [{"role": "user", "content": next(iter(value.values()))}]
    if not isinstance(value, list) or not value:
        raise InvalidConversation("input is not a list of chat messages or a text")
    messages = [_clean_message(m, f"input message {i}") for i, m in enumerate(value)]
    if not any(m["role"] == "user" for m in messages):
        raise InvalidConversation("input has no user message")
    return messages


def assistant_messages(value: Any) -> list[dict]:
    if value is None:
        raise InvalidConversation("no expected answer (filter with has_expected=true)")
    if isinstance(value, dict) and "choices" in value:
        value = chat_answer(value)  # a completion: its first choice
    if isinstance(value, str):
        if not value.strip():
            raise InvalidConversation("expected answer is empty")
        return [{"role": "assistant", "content": value}]
    if (
        isinstance(value, dict)
        and ("content" in value or "tool_calls" in value)
        and value.get("role", "assistant") == "assistant"
    ):
        return [_clean_message({**value, "role": "assistant"}, "expected answer")]
    if isinstance(value, list) and chat_messages(value):
        messages = [_clean_message(m, f"expected message {i}") for i, m in enumerate(value)]
        if messages[-1]["role"] != "assistant":
            raise InvalidConversation("expected messages do not end with an assistant turn")
        return messages
    # Structured answers (JSON objects, numbers): the assistant answers with their JSON text.
    return [{"role": "assistant", "content": dumps_json(value)}]


def conversation(input_value: Any, expected_value: Any) -> dict:
    return {"messages": input_messages(input_value) + assistant_messages(expected_value)}


class CheckedJsonlWriter(Writer, ABC):
    """JSONL for fine-tuning: each row becomes a record (`record`), checked against OpenAI's rules
    (`line_problems`); a record that fails either is not written and is named in `ExportJob.problems`.
    The per-record report is published next to the file."""

    extension = "jsonl"
    content_type = "application/x-ndjson"

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.i_id = meta.index(meta.id_column)
        self.kinds = {c.name: c.kind for c in meta.columns}
        self.report = ValidationReport(temp_dir())

    @abstractmethod
    def record(self, row) -> dict:
        """The row as one line's record; raises InvalidConversation naming why it cannot be one."""

    @abstractmethod
    def line_problems(self, record: dict) -> list[dict]:
        """What OpenAI's rules find wrong with the record (`apps.exports.finetune`)."""

    def write_batch(self, batch: Batch) -> None:
        lines = []
        for row in batch.rows:
            record_id = str(row[self.i_id])
            try:
                record = self.record(row)
            except InvalidConversation as exc:
                problems = [{"rule": "conversion", "message": str(exc)}]
            else:
                problems = self.line_problems(record)
            self.report.add(record_id, problems)
            if problems:
                self.problems.append(Problem(record=record_id, reason="; ".join(p["message"] for p in problems)))
                continue
            lines.append(orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS))
        if lines:
            self.fh.write(b"\n".join(lines) + b"\n")
        self.rows_written += len(lines)

    def close(self) -> None:
        self.report.close()

    def abort(self) -> None:
        self.report.discard()


class OpenAIChatWriter(CheckedJsonlWriter):
    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.i_input = meta.index(meta.chat_input)
        self.i_expected = meta.index(meta.chat_expected)
        self.load_input = python_value(self.kinds[meta.chat_input])
        self.load_expected = python_value(self.kinds[meta.chat_expected])

    def record(self, row) -> dict:
        return conversation(self.load_input(row[self.i_input]), self.load_expected(row[self.i_expected]))

    def line_problems(self, record: dict) -> list[dict]:
        return chat_line_problems(record)
