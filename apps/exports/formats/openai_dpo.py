"""OpenAI preference fine-tuning (DPO) JSONL from corrected vs. original outputs.

One line per span whose reviewed correction (`expected`) differs from what the application
answered (`output`): `{"input": {"messages": [...]}, "preferred_output": [the correction as an
assistant message], "non_preferred_output": [the original output as an assistant message]}`.
Messages are normalised by the chat writer's functions (`openai_chat.input_messages` /
`assistant_messages`), so both formats read a span the same way. Spans without a correction, or
whose correction equals the output, are skipped and counted in the validation report. Dataset
records carry no original output, so this format reads spans and traces only.
"""

from __future__ import annotations

from ..finetune import preference_line_problems
from .base import python_value
from .openai_chat import CheckedJsonlWriter, InvalidConversation, assistant_messages, input_messages


def preference_record(input_value, output_value, expected_value) -> dict:
    if expected_value is None:
        raise InvalidConversation("no correction (filter with has_expected=true)")
    if output_value is None:
        raise InvalidConversation("no original output to prefer the correction over")
    preferred = assistant_messages(expected_value)
    rejected = assistant_messages(output_value)
    if len(preferred) != 1 or len(rejected) != 1:
        raise InvalidConversation("a preference pair is one assistant message on each side")
    return {
        "input": {"messages": input_messages(input_value)},
        "preferred_output": preferred,
        "non_preferred_output": rejected,
    }


class OpenAIPreferenceWriter(CheckedJsonlWriter):
    sources = ("spans", "traces")

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        self.index = {name: meta.index(name) for name in ("input", "output", "expected")}
        self.load = {name: python_value(self.kinds[name]) for name in ("input", "output", "expected")}

    def record(self, row) -> dict:
        values = {name: load(row[self.index[name]]) for name, load in self.load.items()}
        return preference_record(values["input"], values["output"], values["expected"])

    def line_problems(self, record: dict) -> list[dict]:
        return preference_line_problems(record)
