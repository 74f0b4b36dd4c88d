"""Reviewer metadata (apps/reviews/services/annotation_metadata.py)."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.services.annotation_metadata import annotation_metadata_set

pytestmark = pytest.mark.django_db


def test_reviewer_metadata_merges_and_never_touches_ingested_metadata(project, span):
    span.metadata = {"model": "gpt-x"}
    span.save()
    annotation_metadata_set(span=span, values={"difficulty": "hard", "model": "reviewer-note"})
    annotation_metadata_set(span=span, values={"difficulty": None, "topic": "refunds"})
    span.refresh_from_db()
    assert span.metadata == {"model": "gpt-x"}
    assert span.annotation_metadata == {"model": "reviewer-note", "topic": "refunds"}
    with pytest.raises(ApplicationError) as exc:
        annotation_metadata_set(span=span, values=["not", "a", "dict"])
    assert "metadata" in exc.value.fields
