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

import orjson

from ..finetune import ValidationReport, preference_line_problems
from ..storage import temp_dir
from .base import Batch, Problem, Writer, python_value
from .openai_chat import InvalidConversation, assistant_messages, input_messages


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


class OpenAIPreferenceWriter(Writer):
    extension = "jsonl"
    content_type = "application/x-ndjson"
    sources = ("spans", "traces")

    def __init__(self, fh, meta):
        super().__init__(fh, meta)
        kinds = {c.name: c.kind for c in meta.columns}
        self.index = {name: meta.index(name) for name in (meta.id_column, "input", "output", "expected")}
        self.load = {name: python_value(kinds[name]) for name in ("input", "output", "expected")}
        self.report = ValidationReport(temp_dir())

    def write_batch(self, batch: Batch) -> None:
        lines = []
        for row in batch.rows:
            record_id = str(row[self.index[self.meta.id_column]])
            values = {name: load(row[self.index[name]]) for name, load in self.load.items()}
            try:
                record = preference_record(values["input"], values["output"], values["expected"])
            except InvalidConversation as exc:
                problems = [{"rule": "conversion", "message": str(exc)}]
            else:
                problems = preference_line_problems(record)
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
