"""Helpers shared by the queue tests: a project with score configs, spans and a queue."""

from __future__ import annotations

import pytest

from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_create
from apps.reviews.services.score_configs import score_config_create
from tests import factories


def make_spans(project, n: int, *, name: str = "chat", prefix: str = "t") -> list:
    """n traces of one root span each (trace name `name`)."""
    spans = []
    for i in range(n):
        trace = factories.TraceFactory(
            project=project,
            trace_id=f"{prefix}-{name}-{i}",
            name=name,
            root_span_id=f"{prefix}-{name}-{i}-root",
            input_preview=f"question {i} about {name}",
        )
        spans.append(factories.SpanFactory(trace=trace, span_id=f"{prefix}-{name}-{i}-root", name=name))
    return spans


@pytest.fixture
def configs(project):
    return {
        "correct": score_config_create(project=project, name="correct", kind="boolean"),
        "tone": score_config_create(
            project=project,
            name="tone",
            kind="categorical",
            options=[{"label": "rude", "value": 0}, {"label": "neutral", "value": 1}, {"label": "kind", "value": 2}],
        ),
        "quality": score_config_create(project=project, name="quality", kind="continuous", min_value=0, max_value=10),
    }


@pytest.fixture
def make_queue(project, configs):
    def make(n_items: int = 0, **fields):
        queue = review_queue_create(
            project=fields.pop("project", project),
            name=fields.pop("name", "Support answers"),
            score_configs=list(configs.values()),
            **fields,
        )
        if n_items:
            spans = make_spans(queue.project, n_items, prefix=f"q{queue.pk}")
            review_items_add(queue=queue, spans=queue.project.spans.filter(pk__in=[s.pk for s in spans]))
            queue.refresh_from_db()
        return queue

    return make
