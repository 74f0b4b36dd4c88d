"""Starting templates offered by the editor (and loaded as demo views).

Paths follow common shapes (OpenAI chat messages, `{"documents": [{"id", "text", "score"}]}` from a
retriever, JSON labels from a classifier); they are starting points to adapt in the editor.
"""

from __future__ import annotations


def tool_call_columns() -> list[dict[str, str]]:
    """The columns of an agent's tool-call table (the gallery's agent view and the default view)."""
    return [
        {"label": "Tool", "path": "$.name"},
        {"label": "Arguments", "path": "$.input"},
        {"label": "Result", "path": "$.output"},
        {"label": "Error", "path": "$.error"},
        {"label": "ms", "path": "$.duration_ms"},
    ]


GALLERY: list[dict] = [
    {
        "key": "chat",
        "name": "Chat conversation",
        "description": "The messages of the root span's input followed by its reply, with model and tokens.",
        "spec": {
            "version": 1,
            "components": [
                {"type": "conversation", "title": "Conversation", "path": ["$.input", "$.output"]},
                {
                    "type": "fields",
                    "title": "Details",
                    "fields": [
                        {"label": "Model", "path": "$.model"},
                        {"label": "Total tokens", "path": "$.metrics.total_tokens"},
                        {"label": "Duration (ms)", "path": "$.duration_ms"},
                    ],
                },
                {"type": "diff", "title": "Expected vs output"},
            ],
        },
    },
    {
        "key": "rag",
        "name": "RAG: question, retrieved documents and answer",
        "description": "The question, each retrieved document in a carousel, and the generated answer.",
        "spec": {
            "version": 1,
            "components": [
                {"type": "markdown", "title": "Question", "path": "$.input.question"},
                {
                    "type": "carousel",
                    "title": "Retrieved documents",
                    "span": {"type": "retrieval"},
                    "path": "$.output.documents",
                    "item_title": "$.id",
                    "components": [
                        {"type": "markdown", "path": "$.text"},
                        {"type": "fields", "fields": [{"label": "Score", "path": "$.score"}]},
                    ],
                },
                {"type": "markdown", "title": "Answer", "path": "$.output.answer"},
                {
                    "type": "diff",
                    "title": "Expected vs answer",
                    "expected_path": "$.expected.answer",
                    "output_path": "$.output.answer",
                },
            ],
        },
    },
    {
        "key": "agent",
        "name": "Agent tool-call timeline",
        "description": "The conversation, every tool call of the agent in order, and tokens per model.",
        "spec": {
            "version": 1,
            "components": [
                {"type": "conversation", "title": "Conversation", "path": ["$.input", "$.output"]},
                {
                    "type": "aggregate",
                    "title": "Tool calls",
                    "spans": {"type": "tool"},
                    "display": "table",
                    "columns": tool_call_columns(),
                },
                {
                    "type": "aggregate",
                    "title": "Tokens per model",
                    "spans": {"type": "llm"},
                    "display": "sum",
                    "path": "$.metrics.total_tokens",
                    "group_by": "$.model",
                },
                {"type": "aggregate", "title": "LLM calls", "spans": {"type": "llm"}, "display": "count"},
            ],
        },
    },
    {
        "key": "classification",
        "name": "Classification",
        "description": "The input, predicted and expected labels side by side, and the span's metadata.",
        "spec": {
            "version": 1,
            "components": [
                {"type": "json", "title": "Input", "path": "$.input", "open_depth": 2},
                {
                    "type": "fields",
                    "title": "Prediction",
                    "fields": [
                        {"label": "Predicted", "path": "$.output"},
                        {"label": "Expected", "path": "$.expected"},
                    ],
                },
                {"type": "diff", "title": "Expected vs predicted"},
                {"type": "json", "title": "Metadata", "path": "$.metadata", "open_depth": 0},
            ],
        },
    },
]
