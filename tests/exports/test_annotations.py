"""A chunk's annotations as an export reads them: on PostgreSQL one query that has the database build
the lists, which must say exactly what `span_annotations_bulk` (their one definition) says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from apps.exports.annotations import ANNOTATIONS, chunk_annotations
from apps.reviews.models import Comment, Correction, Score
from apps.reviews.selectors import span_annotations_bulk
from apps.reviews.services.comments import comment_add
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_add
from tests import factories
from tests.exports.conftest import read_file, run

pytestmark = pytest.mark.django_db


def _as_bulk(spans):
    bulk = span_annotations_bulk([s.pk for s in spans])
    keys = ANNOTATIONS.values()
    return {pk: {k: found[k] for k in keys} for pk, found in bulk.items() if any(found[k] for k in keys)}


@pytest.fixture
def busy_spans(project, annotated_spans):
    """The annotated spans, plus a score from the API (no author), two scores of one config, a
    timestamp on a whole second and a categorical score with labels."""
    first, second, third = annotated_spans
    tone = score_config_create(
        project=project,
        name="tone",
        kind="categorical",
        options=[{"label": "calm", "value": 1}, {"label": "rude", "value": 0}],
        multi_select=True,
    )
    score_record(span=second, config=tone, labels=["calm", "rude"], source="api")
    score_record(span=second, config=tone, labels=["calm"], author=factories.UserFactory(username="ola"))
    comment = comment_add(span=second, text='Tab\tand "quotes" and ünïcode', source="api")
    whole_second = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    Comment.objects.filter(pk=comment.pk).update(created_at=whole_second)
    Score.objects.filter(span=second).update(updated_at=datetime(2026, 11, 1, 12, 0, 0, 5, tzinfo=UTC))
    tag_add(span=third, name="later", source="api")
    return annotated_spans


def test_a_chunks_annotations_are_those_of_span_annotations_bulk(busy_spans):
    spans = [*busy_spans, factories.SpanFactory(trace=busy_spans[0].trace)]  # the last: none
    assert Correction.objects.filter(span=busy_spans[0]).exists()
    assert chunk_annotations([s.pk for s in spans]) == _as_bulk(spans)


def test_a_sparse_chunk_reads_only_its_own_spans(project, busy_spans):
    first, second, third = busy_spans
    trace = first.trace
    for _ in range(12):  # pks between the chunk's two spans
        factories.SpanFactory(trace=trace)
    last = factories.SpanFactory(trace=trace)
    comment_add(span=last, text="far away")
    found = chunk_annotations([first.pk, last.pk])
    assert set(found) == {first.pk, last.pk}
    assert found == {pk: v for pk, v in _as_bulk([first, second, third, last]).items() if pk in found}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_file_carries_the_same_annotations_as_in_line(project, busy_spans, settings):
    """The database renders each line; only annotated spans' lines are re-rendered in Python."""
    settings.EXPORTS_CHUNK_SIZE = 2
    rows = {r["span_id"]: r for r in map(json.loads, read_file(run(project)).decode().splitlines())}
    expected = _as_bulk(busy_spans)
    for span in busy_spans:
        for column, key in ANNOTATIONS.items():
            assert rows[span.span_id][column] == expected.get(span.pk, {}).get(key, [])
    assert rows["s-2"]["scores"][0]["author"] is None and rows["s-2"]["comments"][-1]["created_at"].endswith(
        "12:00:00+00:00"
    )
