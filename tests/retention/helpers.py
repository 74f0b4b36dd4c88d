"""Traces of a project, old and new, and each kind of reference that pins a span."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.datasets.models import DatasetRecord, DatasetVersion
from apps.experiments.models import Experiment, ExperimentResult
from apps.queues.models import GoldValue, ReviewItem
from apps.retention.models import RetentionPolicy
from apps.reviews.models import Feedback
from apps.reviews.services.annotation_metadata import annotation_metadata_set
from apps.reviews.services.comments import comment_add
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_add
from tests import factories


def old_trace(project, *, days: int = 60, spans: int = 2, **fields):
    """A trace that started `days` ago, with `spans` spans."""
    start = timezone.now() - timedelta(days=days)
    trace = factories.TraceFactory(project=project, start_time=start, span_count=spans, **fields)
    for i in range(spans):
        factories.SpanFactory(trace=trace, start_time=start + timedelta(seconds=i))
    return trace


def annotate(span, user=None) -> None:
    """Every kind of annotation on a span: a score (and its event), comment, correction, tag, metadata."""
    config = factories.ScoreConfigFactory(project=span.project)
    score_record(span=span, config=config, value=0.5, author=user, source="human" if user else "api")
    comment_add(span=span, text="looks wrong", author=user)
    correction_record(span=span, value={"answer": "14 days"}, author=user)
    tag_add(span=span, name="refunds", user=user)
    annotation_metadata_set(span=span, values={"checked": True}, author=user)


def pin(span, reason: str):
    """Make `span` referenced the way `reason` names (the keys of selectors.PIN_REASONS)."""
    project = span.project
    if reason == "dataset":
        dataset = factories.DatasetFactory(project=project)
        return DatasetRecord.objects.create(dataset=dataset, record_id="r1", source_span=span, version_from=1)
    if reason == "queue":
        return ReviewItem.objects.create(queue=factories.ReviewQueueFactory(project=project), span=span)
    if reason == "gold":
        item = ReviewItem.objects.create(queue=factories.ReviewQueueFactory(project=project), span=span)
        config = factories.ScoreConfigFactory(project=project)
        return GoldValue.objects.create(project=project, item=item, config=config, value=1, decided_at=timezone.now())
    if reason in ("experiment", "experiment_trace"):
        experiment = experiment_of(project)
        if reason == "experiment":
            return ExperimentResult.objects.create(experiment=experiment, record_id="r1", span=span)
        return ExperimentResult.objects.create(experiment=experiment, record_id="r1", trace_id=span.trace.trace_id)
    if reason == "feedback":
        return Feedback.objects.create(project=project, feedback_id=f"fb-{span.pk}", span=span, request_hash="x")
    raise ValueError(reason)


def experiment_of(project):
    dataset = factories.DatasetFactory(project=project)
    version = DatasetVersion.objects.create(dataset=dataset, number=1)
    return Experiment.objects.create(
        project=project, dataset=dataset, dataset_version=version, version_number=1, name=f"exp-{dataset.pk}"
    )


def policy(project, **fields) -> RetentionPolicy:
    fields.setdefault("max_age_days", 30)
    return RetentionPolicy.objects.create(project=project, **fields)
