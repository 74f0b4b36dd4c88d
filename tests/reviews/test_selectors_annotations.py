"""Annotation reads (apps/reviews/selectors.py): score summaries, the bulk read, negative feedback."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.reviews import selectors
from apps.reviews.services.annotations import annotations_submit
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_remove
from tests import factories

pytestmark = pytest.mark.django_db


def test_score_summary_per_config_with_authors_and_mean(project, span, member):
    alice, bob = member(project, username="alice"), member(project, username="bob")
    config = factories.ScoreConfigFactory(project=project, name="helpfulness", min_value=0, max_value=10)
    score_record(span=span, config=config, value=4, author=alice)
    score_record(span=span, config=config, value=8, author=bob)
    (entry,) = selectors.score_summary(span)
    assert entry["name"] == "helpfulness" and entry["count"] == 2
    assert entry["mean"] == 6 and entry["mean_percent"] == 60
    assert entry["authors"] == ["alice", "bob"]


def test_span_annotations_bulk_is_one_query_per_kind(project, member):
    user = member(project)
    config = factories.ScoreConfigFactory(project=project)
    spans = [factories.SpanFactory(trace=factories.TraceFactory(project=project)) for _ in range(5)]
    for span in spans:
        annotations_submit(
            span=span, user=user, scores={config.name: 0.5}, comment="c", tags=["t"], expected="e", metadata={"k": 1}
        )
        tag_remove(span=span, name="t", user=user)
    with CaptureQueriesContext(connection) as queries:
        data = selectors.span_annotations_bulk([s.pk for s in spans])
    assert len(queries) == 6
    one = data[spans[0].pk]
    assert one["scores"][0]["config"] == config.name and one["scores"][0]["author"] == user.username
    assert [e["action"] for e in one["tag_history"]] == ["add", "remove"] and one["tags"] == []
    assert one["comments"][0]["text"] == "c" and one["corrections"][0]["value"] == "e"
    assert one["metadata"] == {"k": 1} and one["expected"] == "e"


def test_spans_with_negative_feedback_need_a_correction(project):
    thumbs = factories.ScoreConfigFactory(project=project, name="thumbs", boolean=True)
    stars = factories.ScoreConfigFactory(project=project, name="stars", min_value=1, max_value=5)
    verdict = factories.ScoreConfigFactory(project=project, name="verdict", categorical=True)
    spans = [factories.SpanFactory(trace=factories.TraceFactory(project=project)) for _ in range(6)]
    score_record(span=spans[0], config=thumbs, value=False, source="end_user")
    score_record(span=spans[1], config=thumbs, value=True, source="end_user")
    score_record(span=spans[2], config=stars, value=2, source="end_user")  # below midpoint 3
    score_record(span=spans[3], config=verdict, label="incorrect", source="end_user")
    score_record(span=spans[4], config=thumbs, value=False, source="api")  # not an end user
    score_record(span=spans[5], config=verdict, label="partially", source="end_user")
    for span in spans:
        correction_record(span=span, value="fixed")
    uncorrected = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    score_record(span=uncorrected, config=thumbs, value=False, source="end_user")
    found = set(selectors.spans_with_negative_feedback(project).values_list("pk", flat=True))
    assert found == {spans[0].pk, spans[2].pk, spans[3].pk}
