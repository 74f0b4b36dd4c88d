"""The batched DELETE follows every foreign key into a span or a trace: nothing is left dangling."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.utils import timezone

from apps.datasets.models import DatasetRecord
from apps.experiments.models import ExperimentResult, Scorer, ScorerFailure, ScorerVersion
from apps.queues.models import GoldValue, GoldValueRevision, ReviewItem, ReviewSkip, ReviewSubmission
from apps.retention.deletion import _reverse_relations, traces_delete
from apps.traces.models import Span, Trace
from apps.views.models import ShareLink
from tests import factories

from .helpers import annotate, experiment_of, old_trace, pin

pytestmark = pytest.mark.django_db


def _models_pointing_at(target) -> set[str]:
    return {
        model._meta.label
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is target
    }


def test_every_model_with_a_foreign_key_to_span_or_trace_is_followed():
    for target in (Span, Trace):
        followed = {rel.related_model._meta.label for rel in _reverse_relations(target)}
        assert followed == _models_pointing_at(target), target


def test_traces_delete_removes_everything_on_the_trace_and_clears_what_outlives_it(project, member):
    """Called without pinning (the race the in-transaction check closes): cascades and SET_NULL alike."""
    reviewer = member(project)
    trace = old_trace(project, spans=2)
    span = trace.spans.first()
    annotate(span, user=reviewer)
    item = pin(span, "gold").item
    ReviewSubmission.objects.create(item=item, reviewer=reviewer)
    ReviewSkip.objects.create(item=item, reviewer=factories.UserFactory())
    gold = GoldValue.objects.get(item=item)
    GoldValueRevision.objects.create(
        project=project, item=item, gold=gold, config=gold.config, decided_at=timezone.now()
    )
    record = pin(span, "dataset")
    result = pin(span, "experiment")
    scorer = Scorer.objects.create(project=project, name="exact", kind="deterministic")
    version = ScorerVersion.objects.create(
        scorer=scorer, number=1, config=factories.ScoreConfigFactory(project=project)
    )
    ScorerFailure.objects.create(project=project, scorer_version=version, span=span, result=result, error="bad")
    view = factories.TraceViewFactory(project=project)
    ShareLink.objects.create(project=project, view=view, trace=trace, key="k1", expires_at=timezone.now())
    kept = old_trace(project, spans=1)
    annotate(kept.spans.get(), user=reviewer)

    totals = traces_delete(trace_ids=[trace.pk])

    assert (totals.traces, totals.spans, totals.batches) == (1, 2, 1)
    for model in (ReviewItem, ReviewSubmission, ReviewSkip, GoldValue, GoldValueRevision, ShareLink):
        assert not model.objects.exists(), model
    # The span-level failure goes with the span; the record and the result outlive it, unlinked.
    assert not ScorerFailure.objects.filter(span__isnull=False).exists()
    assert DatasetRecord.objects.get(pk=record.pk).source_span_id is None
    assert ExperimentResult.objects.get(pk=result.pk).span_id is None
    assert totals.rows["reviews.Score"] == 1 and totals.rows["datasets.DatasetRecord"] == 1
    assert set(Span.objects.values_list("trace_id", flat=True)) == {kept.pk}
    # Nothing anywhere references a span or trace that is gone.
    for label in _models_pointing_at(Span) | _models_pointing_at(Trace):
        model = apps.get_model(label)
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in (Span, Trace):
                ids = set(model._base_manager.exclude(**{field.attname: None}).values_list(field.attname, flat=True))
                assert ids <= set(field.related_model.objects.values_list("pk", flat=True)), (label, field.name)


def test_experiment_results_pin_only_while_they_exist(project):
    trace = old_trace(project, spans=1)
    experiment = experiment_of(project)
    ExperimentResult.objects.create(experiment=experiment, record_id="a", span=trace.spans.get())
    from apps.retention.selectors import pinned_span_ids, pinned_trace_ids

    assert list(pinned_trace_ids(project=project)) == [trace.pk]
    assert list(pinned_span_ids(project=project)) == [trace.spans.get().pk]
    assert list(pinned_trace_ids()) == [trace.pk]  # all projects
    experiment.delete()
    assert not pinned_trace_ids(project=project).exists()
