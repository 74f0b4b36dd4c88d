"""Sample traces shaped like what people send: chat, RAG, agent with tools, classification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories


def make_trace(project, spans: list[dict], trace_id: str = "t-1", name: str = "sample"):
    """A trace whose first span is the root; the rest are its children, started one second apart."""
    start = timezone.now() - timedelta(minutes=5)
    trace = factories.TraceFactory(
        project=project, trace_id=trace_id, name=name, root_span_id=f"{trace_id}-s0", span_count=len(spans)
    )
    for index, fields in enumerate(spans):
        factories.SpanFactory(
            trace=trace,
            span_id=f"{trace_id}-s{index}",
            parent_span_id="" if index == 0 else f"{trace_id}-s0",
            start_time=start + timedelta(seconds=index),
            **fields,
        )
    return trace


@pytest.fixture
def chat_trace(project):
    return make_trace(
        project,
        [
            {
                "name": "chat",
                "type": "llm",
                "model": "gpt-4o-mini",
                "total_tokens": 42,
                "input": {
                    "messages": [
                        {"role": "system", "content": "You are a support agent."},
                        {"role": "user", "content": "Where is my order **1234**?"},
                        {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "lookup_order", "arguments": '{"order": "1234"}'},
                                }
                            ],
                        },
                        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
                    ]
                },
                "output": {"role": "assistant", "content": "Your order has shipped."},
                "expected": {"role": "assistant", "content": "Your order shipped yesterday."},
                "metadata": {"customer": "c-77", "nested": {"deep": [1, 2, {"x": "y"}]}},
            }
        ],
        trace_id="chat-1",
        name="support chat",
    )


@pytest.fixture
def rag_trace(project):
    return make_trace(
        project,
        [
            {
                "name": "rag",
                "type": "task",
                "input": {"question": "What is the refund window?"},
                "output": {"answer": "Refunds are accepted within **30 days**."},
                "expected": {"answer": "Refunds are accepted within 30 days of delivery."},
            },
            {
                "name": "retrieve",
                "type": "retrieval",
                "input": {"query": "refund window"},
                "output": {
                    "documents": [
                        {
                            "id": "kb/refunds.md",
                            "title": "Refund policy",
                            "text": "You can return items within 30 days.",
                            "score": 0.91,
                        },
                        {"id": "kb/shipping.md", "title": "Shipping", "text": "Orders ship in 2 days.", "score": 0.42},
                    ]
                },
            },
            {
                "name": "generate",
                "type": "llm",
                "model": "gpt-4o",
                "total_tokens": 300,
                "input": [{"role": "user", "content": "context…"}],
                "output": "Refunds are accepted within 30 days.",
            },
        ],
        trace_id="rag-1",
        name="rag",
    )


@pytest.fixture
def agent_trace(project):
    return make_trace(
        project,
        [
            {
                "name": "agent",
                "type": "task",
                "input": [{"role": "user", "content": "Book a table for two"}],
                "output": "Booked a table for two at 7pm.",
            },
            {
                "name": "plan",
                "type": "llm",
                "model": "gpt-4o",
                "total_tokens": 100,
                "metrics": {"total_tokens": 100},
                "output": "search then book",
            },
            {"name": "search_restaurants", "type": "tool", "input": {"city": "Paris"}, "output": ["Chez Nous"]},
            {"name": "book_table", "type": "tool", "input": {"name": "Chez Nous", "people": 2}, "output": {"ok": True}},
            {
                "name": "answer",
                "type": "llm",
                "model": "gpt-4o-mini",
                "total_tokens": 50,
                "metrics": {"total_tokens": 50},
                "output": "Booked.",
            },
            {
                "name": "answer",
                "type": "llm",
                "model": "gpt-4o",
                "total_tokens": 25,
                "metrics": {"total_tokens": 25},
                "output": "Done.",
            },
        ],
        trace_id="agent-1",
        name="agent",
    )
