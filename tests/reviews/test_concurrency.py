"""Concurrent retries of one feedback call (same feedback_id) write once. Runs on SQLite and PostgreSQL."""

import threading

import pytest
from django.db import connections

from apps.reviews.models import Comment, Feedback, Score, ScoreEvent
from apps.reviews.services.annotations import annotations_submit
from apps.reviews.services.feedback import feedback_apply
from tests import factories


def run_concurrently(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_feedback_id_write_once():
    project = factories.ProjectFactory(slug="conc")
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project), span_id="s-1")
    factories.ScoreConfigFactory(project=project, name="thumbs", boolean=True)
    body = {
        "span_id": "s-1",
        "feedback_id": "retry-me",
        "scores": {"thumbs": False},
        "comment": "wrong",
        "tags": ["bad"],
    }

    results, errors = run_concurrently(
        6, lambda: feedback_apply(project=project, data=dict(body), source_default="end_user")
    )

    assert errors == []
    assert len(results) == 6
    assert sum(not r.replayed for r in results) == 1
    assert all(r.result == results[0].result for r in results)
    assert Feedback.objects.count() == 1
    assert Score.objects.filter(span=span).count() == 1
    assert Comment.objects.filter(span=span).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_by_one_reviewer_keep_one_human_score():
    project = factories.ProjectFactory(slug="conc2")
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    config = factories.ScoreConfigFactory(project=project, name="helpful")
    user = factories.UserFactory()
    values = iter([0.1, 0.2, 0.3, 0.4])
    lock = threading.Lock()

    def save():
        with lock:
            value = next(values)
        return annotations_submit(span=span, user=user, scores={"helpful": value})

    results, errors = run_concurrently(4, save)
    assert errors == []
    assert Score.objects.filter(span=span, config=config, author=user).count() == 1
    assert ScoreEvent.objects.filter(config=config).count() >= 1
