"""Starting templates offered by the editor (and loaded as demo views)."""

from __future__ import annotations

GALLERY: list[dict] = [
    {
        "key": "chat",
        "name": "Chat conversation",
        "description": "The messages of the root span's input followed by its reply, with model and tokens.",
        "spec": {"version": 1, "components": [
            {"type": "conversation", "title": "Conversation", "path": ["$.input", "$.output"]},
            {"type": "fields", "title": "Details", "fields": [
                {"label": "Model", "path": "$.model"},
                {"label": "Total tokens", "path": "$.metrics.total_tokens"},
                {"label": "Duration (ms)", "path": "$.duration_ms"},
            ]},
            {"type": "diff", "title": "Expected vs output"},
        ]},
    },
    {
        "key": "rag",
        "name": "RAG: question, retrieved documents and answer",
        "description": "The question, each retrieved document in a carousel, and the generated answer.",
        "spec": {"version": 1, "components": [
            {"type": "markdown", "title": "Question", "path": "$.input.question"},
            {"type": "carousel", "title": "Retrieved documents", "span": {"type": "retrieval"},
             "path": "$.output.documents", "item_title": "$.title",
             "components": [
                 {"type": "markdown", "path": "$.content"},
                 {"type": "fields", "fields": [
                     {"label": "Source", "path": "$.source"}, {"label": "Score", "path": "$.score"},
                 ]},
             ]},
            {"type": "markdown", "title": "Answer", "path": "$.output.answer"},
            {"type": "diff", "title": "Expected vs answer", "expected_path": "$.expected.answer",
             "output_path": "$.output.answer"},
        ]},
    },
    {
        "key": "agent",
        "name": "Agent tool-call timeline",
        "description": "The task, every tool call of the agent in order, tokens per model and the final answer.",
        "spec": {"version": 1, "components": [
            {"type": "conversation", "title": "Task", "path": "$.input"},
            {"type": "aggregate", "title": "Tool calls", "spans": {"type": "tool"}, "display": "table",
             "columns": [
                 {"label": "Tool", "path": "$.name"},
                 {"label": "Arguments", "path": "$.input"},
                 {"label": "Result", "path": "$.output"},
                 {"label": "ms", "path": "$.duration_ms"},
             ]},
            {"type": "aggregate", "title": "Tokens per model", "spans": {"type": "llm"}, "display": "sum",
             "path": "$.metrics.total_tokens", "group_by": "$.model"},
            {"type": "markdown", "title": "Final answer", "path": "$.output"},
        ]},
    },
    {
        "key": "classification",
        "name": "Classification",
        "description": "The input, predicted and expected labels side by side, and the span's metadata.",
        "spec": {"version": 1, "components": [
            {"type": "markdown", "title": "Input", "path": "$.input.text"},
            {"type": "fields", "title": "Prediction", "fields": [
                {"label": "Predicted label", "path": "$.output.label"},
                {"label": "Confidence", "path": "$.output.confidence"},
                {"label": "Expected label", "path": "$.expected.label"},
            ]},
            {"type": "diff", "title": "Expected vs predicted", "expected_path": "$.expected.label",
             "output_path": "$.output.label"},
            {"type": "json", "title": "Metadata", "path": "$.metadata"},
        ]},
    },
]
