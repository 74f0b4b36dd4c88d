"""Incremental runs include every annotation change since the last run: a correction, score (new,
changed or deleted), tag (added or removed), comment or reviewer metadata made after run N is in
run N+1, for spans and for traces, even though none of them moves the span's own `updated_at`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exports.models import ExportSchedule
from apps.exports.services import export_job_run, export_schedule_run, export_schedule_save
from apps.reviews.models import Score, ScoreEvent, TagEvent
from apps.reviews.services.annotation_metadata import annotation_metadata_set
from apps.reviews.services.comments import comment_add
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import score_delete, score_record
from apps.reviews.services.tags import tag_add, tag_remove
from apps.traces.models import Span
from tests import factories
from tests.exports.conftest import read_file

pytestmark = pytest.mark.django_db
LAG = timedelta(seconds=300)


def _schedule(project, source="spans"):
    return export_schedule_save(
        schedule=ExportSchedule(
            project=project,
            name=f"nightly-{source}",
            source=source,
            format="jsonl",
            mode="incremental",
            kind="interval",
            every=1,
            period="hours",
            safety_lag_seconds=int(LAG.total_seconds()),
        )
    )


def _run(schedule, now):
    job = export_schedule_run(schedule_id=schedule.pk, now=now)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return [json.loads(line) for line in read_file(job).decode().splitlines()] if job.row_count else []


@pytest.fixture
def old_spans(project):
    """Spans written two days ago, with a score and a tag from back then."""
    user = factories.UserFactory(username="rita")
    trace = factories.TraceFactory(project=project, trace_id="t-1")
    other_trace = factories.TraceFactory(project=project, trace_id="t-2")
    spans = {
        name: factories.SpanFactory(trace=trace, span_id=name)
        for name in (
            "corrected",
            "scored",
            "rescored",
            "unscored",
            "tagged",
            "untagged",
            "commented",
            "noted",
            "untouched",
        )
    }
    spans["elsewhere"] = factories.SpanFactory(trace=other_trace, span_id="elsewhere")
    config = score_config_create(project=project, name="helpful", kind="continuous", min_value=0, max_value=1)
    for name in ("rescored", "unscored"):
        score_record(span=spans[name], config=config, value=0.5, author=user)
    tag_add(span=spans["untagged"], name="stale", user=user)
    long_ago = timezone.now() - timedelta(days=2)
    Span.objects.filter(project=project).update(updated_at=long_ago)
    ScoreEvent.objects.update(created_at=long_ago)
    TagEvent.objects.update(created_at=long_ago)
    Score.objects.update(created_at=long_ago, updated_at=long_ago)
    return spans, config, user


def _annotate_everything(spans, config, user):
    correction_record(span=spans["corrected"], value="Fixed answer.", author=user)
    score_record(span=spans["scored"], config=config, value=0.9, author=user)
    score_record(span=spans["rescored"], config=config, value=0.1, author=user)
    score_delete(score=Score.objects.get(span=spans["unscored"]))
    tag_add(span=spans["tagged"], name="golden", user=user)
    tag_remove(span=spans["untagged"], name="stale", user=user)
    comment_add(span=spans["commented"], text="Looks wrong", author=user)
    annotation_metadata_set(span=spans["noted"], values={"reason": "policy"}, author=user)


def test_every_annotation_change_after_run_n_is_in_run_n_plus_1(project, old_spans):
    spans, config, user = old_spans
    schedule = _schedule(project)
    first_now = timezone.now()
    assert len(_run(schedule, first_now)) == len(spans)  # the first run takes everything
    _annotate_everything(spans, config, user)
    second = {row["span_id"]: row for row in _run(schedule, timezone.now() + LAG + timedelta(seconds=1))}
    assert set(second) == {"corrected", "scored", "rescored", "unscored", "tagged", "untagged", "commented", "noted"}
    assert second["corrected"]["expected"] == "Fixed answer."
    assert [s["value"] for s in second["scored"]["scores"]] == [0.9]
    assert [s["value"] for s in second["rescored"]["scores"]] == [0.1]
    assert second["unscored"]["scores"] == []
    assert second["tagged"]["tags"] == ["golden"] and second["untagged"]["tags"] == []
    assert second["commented"]["comments"][0]["text"] == "Looks wrong"
    assert second["noted"]["annotation_metadata"] == {"reason": "policy"}
    # Nothing changed since: the third run is empty.
    assert _run(schedule, timezone.now() + 2 * LAG + timedelta(seconds=2)) == []


def test_traces_schedule_takes_a_trace_when_any_of_its_spans_is_annotated(project, old_spans):
    spans, config, user = old_spans
    from apps.traces.models import Trace

    Trace.objects.filter(project=project).update(updated_at=timezone.now() - timedelta(days=2))
    schedule = _schedule(project, source="traces")
    assert {r["trace_id"] for r in _run(schedule, timezone.now())} == {"t-1", "t-2"}
    comment_add(span=spans["elsewhere"], text="Seen", author=user)
    later = _run(schedule, timezone.now() + LAG + timedelta(seconds=1))
    assert [r["trace_id"] for r in later] == ["t-2"]


def test_scores_schedule_takes_new_and_changed_scores(project, old_spans):
    spans, config, user = old_spans
    schedule = _schedule(project, source="scores")
    assert len(_run(schedule, timezone.now())) == 2
    score_record(span=spans["scored"], config=config, value=0.9, author=user)
    score_record(span=spans["rescored"], config=config, value=0.1, author=user)
    later = _run(schedule, timezone.now() + LAG + timedelta(seconds=1))
    assert sorted((r["span_id"], r["value"]) for r in later) == [("rescored", 0.1), ("scored", 0.9)]
