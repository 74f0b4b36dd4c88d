"""One of every project-scoped object, built through the services, for the permission-matrix tests;
and a fingerprint of every row, to prove a refused request wrote nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models

from apps.datasets.models import DatasetJob
from apps.datasets.services.records import dataset_records_upsert
from apps.datasets.services.versions import dataset_version_tag_set
from apps.experiments.models import Experiment, OnlineRule, RunJob, Scorer, ScorerFailure, ScorerVersion, ScoringJob
from apps.exports.destinations import export_destination_create
from apps.exports.models import ExportDestination, ExportJob, ExportSchedule
from apps.exports.services import export_schedule_save
from apps.projects.models import Membership, Project, ProjectAPIKey
from apps.projects.services import api_key_create
from apps.queues.models import ReviewItem
from apps.queues.services.filling import review_items_add
from apps.retention.models import RetentionPolicy, RetentionRun
from apps.reviews.models import Comment, Correction, Score, ScoreEvent, TagEvent
from apps.reviews.services.comments import comment_add
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_add
from apps.traces.models import Span, Tag
from apps.views.models import TraceViewDefault
from apps.views.services import share_link_create, trace_view_default_set
from tests import factories

FINGERPRINT_APPS = (
    "projects",
    "traces",
    "reviews",
    "queues",
    "datasets",
    "exports",
    "views",
    "experiments",
    "retention",
    "django_celery_beat",
)
# Columns a permitted read may touch (a key's last use); nothing else changes on a refused request.
VOLATILE = {ProjectAPIKey: {"last_used_at"}}


@dataclass
class World:
    project: Project
    objects: dict[type[models.Model], models.Model] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, model):
        return self.objects[model]


def build_world(project: Project, *, author) -> World:
    """Every registered admin model gets one object in `project` (the score config has no scores, so the
    admin may delete it; scores hang off a second config)."""
    from apps.datasets.models import Dataset
    from apps.experiments.models import ExperimentResult
    from apps.queues.models import ReviewQueue
    from apps.reviews.models import ScoreConfig
    from apps.traces.models import Trace
    from apps.views.models import ShareLink, TraceView

    w = World(project=project)
    span = factories.SpanFactory(trace__project=project)
    trace = span.trace
    tag = Tag.objects.create(project=project, name="golden")
    config = factories.ScoreConfigFactory(project=project)
    scoring = factories.ScoreConfigFactory(project=project)
    score = score_record(span=span, config=scoring, value=0.5, author=author)
    comment = comment_add(span=span, text="fine", author=author)
    correction = correction_record(span=span, value={"answer": "30 days"}, author=author)
    tag_add(span=span, name="golden", user=author)
    queue = factories.ReviewQueueFactory(project=project)
    queue.score_configs.add(scoring)
    review_items_add(queue=queue, spans=Span.objects.filter(pk=span.pk))
    item = ReviewItem.objects.get(queue=queue)
    dataset = factories.DatasetFactory(project=project)
    dataset_records_upsert(
        dataset=dataset,
        records=[{"record_id": "r1", "input": {"q": "refund?"}, "expected": {"a": "30 days"}}],
        author=author,
    )
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "r2", "input": {"q": "late?"}}], author=author)
    dataset_version_tag_set(dataset=dataset, name="prod", version=1, author=author)
    loose_span = factories.SpanFactory(trace=trace, name="tool-call", type="tool")  # in no queue yet
    dataset_job = DatasetJob.objects.create(project=project, dataset=dataset, kind=DatasetJob.Kind.ADD_SPANS)

    export_job = ExportJob.objects.create(project=project, source="spans", format="jsonl", requested_by=author)
    schedule = export_schedule_save(
        schedule=ExportSchedule(
            project=project, name="nightly", source="spans", format="jsonl", kind="interval", every=1, period="days"
        )
    )
    destination = export_destination_create(project=project, name="archive", kind="local", prefix="archive")
    view = factories.TraceViewFactory(project=project)
    link, token = share_link_create(view=view, trace=trace, user=author)
    default = trace_view_default_set(project=project, view=view)
    _, key = api_key_create(project=project, scopes=["ingest", "read", "write", "feedback", "admin"])
    experiment, scorer, rule, run_job, scoring_job = _experiment_objects(project, scoring, author)
    scorer_failure = ScorerFailure.objects.create(
        project=project, scorer_version=scorer.versions.get(), result=experiment.results.get(), error="bad answer"
    )
    membership = Membership.objects.create(
        project=project, user=factories.UserFactory(username=f"member-{project.slug}"), role="reviewer"
    )
    retention = RetentionPolicy.objects.create(project=project, max_age_days=3650)
    retention_run = RetentionRun.objects.create(policy=retention, project=project, dry_run=True, status="succeeded")
    w.objects = {
        RetentionPolicy: retention,
        RetentionRun: retention_run,
        Project: project,
        Trace: trace,
        Span: span,
        Tag: tag,
        ScoreConfig: config,
        Score: score,
        ScoreEvent: ScoreEvent.objects.filter(span=span).first(),
        Comment: comment,
        Correction: correction,
        TagEvent: TagEvent.objects.filter(span=span).first(),
        ReviewQueue: queue,
        ReviewItem: item,
        Dataset: dataset,
        DatasetJob: dataset_job,
        Experiment: experiment,
        ExportJob: export_job,
        ExportSchedule: schedule,
        ExportDestination: destination,
        TraceView: view,
        ShareLink: link,
        TraceViewDefault: default,
        Membership: membership,
        ExperimentResult: ExperimentResult.objects.get(experiment=experiment),
        Scorer: scorer,
        ScorerVersion: scorer.versions.get(),
        ScorerFailure: scorer_failure,
        OnlineRule: rule,
        RunJob: run_job,
        ScoringJob: scoring_job,
    }
    w.extra = {
        "key": key,
        "loose_span": loose_span,
        "scoring": scoring,
        "share_token": token,
        "record_id": "r1",
        "dataset_tag": "prod",
    }
    assert all(obj is not None for obj in w.objects.values())
    return w


def _experiment_objects(project, config, author) -> tuple:
    """An experiment with one result on a dataset of its own (an experiment protects its dataset from
    deletion), a scorer writing `config`, an online rule, a queued run and a queued scoring job."""
    from apps.experiments.scorers.versions import scorer_create
    from apps.experiments.services import experiment_create, experiment_results_upsert

    dataset = factories.DatasetFactory(project=project, name="eval-set")
    dataset_records_upsert(dataset=dataset, records=[{"record_id": "e1", "input": {"q": "refund?"}}], author=author)
    experiment = experiment_create(project=project, dataset=dataset, version="1", name="baseline", user=author)
    experiment_results_upsert(experiment=experiment, items=[{"record_id": "e1", "output": {"a": "30 days"}}])
    scorer = scorer_create(
        project=project, name="exact", kind="deterministic", config=config, definition={"type": "exact_match"}
    )
    rule = OnlineRule.objects.create(project=project, scorer=scorer, sample_rate=0.1)
    run_job = RunJob.objects.create(experiment=experiment, total=2)
    scoring_job = ScoringJob.objects.create(experiment=experiment, scorer_version=scorer.versions.get(), total=0)
    return experiment, scorer, rule, run_job, scoring_job


def fingerprint() -> dict[str, list]:
    """Every row of the project apps (and the beat schedule), minus columns a read may touch."""
    snapshot = {}
    for label in FINGERPRINT_APPS:
        for model in apps.get_app_config(label).get_models():
            skip = VOLATILE.get(model, set())
            names = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
            snapshot[model._meta.label] = sorted(repr(row) for row in model.objects.order_by("pk").values_list(*names))
    return snapshot


def changed(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


def member(project: Project, role: str, username: str):
    user = factories.UserFactory(username=username)
    Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return user
