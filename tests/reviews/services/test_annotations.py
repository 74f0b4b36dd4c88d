"""Whole-panel submit (apps/reviews/services/annotations.py) is atomic."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.models import Comment, Correction, Score, ScoreEvent
from apps.reviews.services.annotations import annotations_submit
from apps.traces.models import SpanTag
from tests import factories

pytestmark = pytest.mark.django_db


def test_annotations_submit_writes_everything_or_nothing(project, span, member):
    user = member(project)
    helpful = factories.ScoreConfigFactory(project=project, name="helpful")
    correct = factories.ScoreConfigFactory(project=project, name="correct", categorical=True)
    with pytest.raises(ApplicationError) as exc:
        annotations_submit(
            span=span,
            user=user,
            scores={"helpful": 0.5, "correct": "nope"},
            comment="ok",
            tags=["a"],
            expected="x",
            metadata={"k": "v"},
        )
    assert set(exc.value.fields) == {"scores.correct"}
    assert not Score.objects.exists() and not Comment.objects.exists() and not Correction.objects.exists()
    assert not SpanTag.objects.exists()
    span.refresh_from_db()
    assert span.annotation_metadata == {} and span.expected is None

    result = annotations_submit(
        span=span,
        user=user,
        scores={"helpful": 0.5, "correct": "correct"},
        comment="ok",
        tags=["a"],
        expected="x",
        metadata={"k": "v"},
    )
    assert {s["config"] for s in result["scores"]} == {"helpful", "correct"}
    # A null clears the reviewer's own score (recorded in the history).
    annotations_submit(span=span, user=user, scores={"helpful": None})
    assert not Score.objects.filter(config=helpful).exists()
    assert ScoreEvent.objects.filter(config=helpful).last().action == "delete"
    assert Score.objects.get(config=correct).value == 1.0
