"""The demo queue: items in all three states, scored by two reviewers."""

from __future__ import annotations

import pytest

from apps.core import registry
from apps.queues.demo import demo_load
from apps.queues.models import ItemStatus, ReviewQueue, ReviewSubmission
from apps.reviews.models import Score

from .conftest import make_spans

pytestmark = pytest.mark.django_db


def test_demo_queue_has_all_states_and_two_reviewers(project):
    assert any(loader is demo_load and order == 30 for order, loader in registry.demo_loaders)
    make_spans(project, 40, name="support")
    demo_load(project=project, traces=40, stdout=None)
    queue = ReviewQueue.objects.get(project=project)
    statuses = set(queue.items.values_list("status", flat=True))
    assert statuses == {ItemStatus.BACKLOG, ItemStatus.PENDING, ItemStatus.COMPLETE}
    reviewers = set(ReviewSubmission.objects.filter(item__queue=queue).values_list("reviewer__username", flat=True))
    assert reviewers == {"demo-alice", "demo-bob"}
    complete = queue.items.filter(status=ItemStatus.COMPLETE).first()
    authors = set(Score.objects.filter(span=complete.span).values_list("author__username", flat=True))
    assert authors == {"demo-alice", "demo-bob"}
    demo_load(project=project, traces=40, stdout=None)  # idempotent
    assert ReviewQueue.objects.filter(project=project).count() == 1
