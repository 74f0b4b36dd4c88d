"""Experiments: a dataset version pinned at creation, one result per record, scored by scorers and people.

Every result is backed by a span (the application's own trace when it sent one over OTLP or named one,
otherwise a one-span trace Assay creates with ``Trace.origin = experiment``), so scores, review queues,
trace views and exports treat a result like any logged span.
"""

from django.conf import settings
from django.db import models

from apps.datasets.models import Dataset, DatasetVersion
from apps.projects.models import Project
from apps.reviews.models import ScoreConfig
from apps.traces.models import Span


class ExperimentStatus(models.TextChoices):
    CREATED = "created", "Created"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Experiment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="experiments")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    # Pinned at creation: the version the reference (a number or a tag such as "prod") resolved to.
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="experiments")
    version_number = models.PositiveIntegerField()
    version_ref = models.CharField(
        max_length=64, blank=True, default="", help_text="What was asked: a number or a tag."
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    # model, prompt, parameters, code revision...
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.CREATED)
    record_count = models.PositiveIntegerField(default=0, help_text="Records in the pinned version.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_experiment_name")]
        indexes = [models.Index(fields=["project", "-created_at"], name="experiment_project_created")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


# What a result records of one run of a dataset record (the writer's columns and the API's fields start with these).
RESULT_FIELDS = (
    "record_id",
    "input",
    "expected",
    "output",
    "error",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "metadata",
)


class ExperimentResult(models.Model):
    """One record's run: input and expected as of the pinned version, what the application answered."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="results")
    record_id = models.CharField(max_length=255)
    input = models.JSONField(null=True, blank=True)
    expected = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    latency_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    total_tokens = models.BigIntegerField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    span = models.ForeignKey(Span, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiment_results")
    trace_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "record_id"], name="uniq_experiment_record"),
        ]
        # The compare cache's stamp reads the newest change of an experiment's results in one index probe.
        indexes = [models.Index(fields=["experiment", "updated_at"], name="result_experiment_updated")]
        ordering = ["record_id"]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.record_id}"


class ScorerKind(models.TextChoices):
    DETERMINISTIC = "deterministic", "Deterministic"
    LLM_JUDGE = "llm_judge", "LLM judge"


class Scorer(models.Model):
    """A named scorer; its definition lives in versions, so a score always names what produced it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scorers")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ScorerKind.choices)
    description = models.TextField(blank=True, default="")
    is_archived = models.BooleanField(default=False)
    latest_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_scorer_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScorerVersion(models.Model):
    """An immutable definition: the scorer type and its parameters, or a judge's rubric, model and examples.

    ``config`` is the score config the scorer writes (its output kind: categorical, boolean, continuous).
    """

    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.ForeignKey(ScoreConfig, on_delete=models.PROTECT, related_name="scorer_versions")
    definition = models.JSONField(default=dict, blank=True)
    definition_hash = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scorer", "number"], name="uniq_scorer_version")]
        ordering = ["scorer_id", "-number"]

    def __str__(self) -> str:
        return f"{self.scorer.name} v{self.number}"


class ScorerFailure(models.Model):
    """A scorer that could not score a span (bad judge answer, endpoint down, bad regex): never dropped."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scorer_failures")
    scorer_version = models.ForeignKey(ScorerVersion, on_delete=models.CASCADE, related_name="failures")
    span = models.ForeignKey(Span, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    result = models.ForeignKey(
        ExperimentResult, null=True, blank=True, on_delete=models.CASCADE, related_name="scorer_failures"
    )
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["scorer_version", "-created_at"], name="scorer_failure_version")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.scorer_version_id}: {self.error[:80]}"


class OnlineRule(models.Model):
    """Score a sample of incoming production spans with a scorer's latest (or a pinned) version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="online_rules")
    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="online_rules")
    scorer_version = models.ForeignKey(
        ScorerVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the scorer's latest version.",
    )
    sample_rate = models.FloatField(default=1.0, help_text="0–1: the share of matching spans scored.")
    span_name = models.CharField(max_length=255, blank=True, default="", help_text="Empty: any name.")
    span_type = models.CharField(max_length=16, blank=True, default="", help_text="Empty: any type.")
    root_only = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.scorer_id} at {self.sample_rate:g}"


class RunJob(models.Model):
    """Assay running a dataset version through a model itself (a Celery job with progress and cancel)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="run_jobs")
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.CREATED)
    # {"messages": [{"role", "content" with {{input.…}} placeholders}], "model", "parameters", "concurrency"}
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.experiment_id}"


class ScoringJob(models.Model):
    """A scorer version scoring an experiment's results as a Celery job (progress, failures counted)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="scoring_jobs")
    scorer_version = models.ForeignKey(ScorerVersion, on_delete=models.CASCADE, related_name="scoring_jobs")
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.CREATED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"scoring {self.pk} of {self.experiment_id}"


# ---------------------------------------------------------------- compare cache (apps/experiments/compare.py)


class ExperimentComparison(models.Model):
    """The cached summary of comparing experiments (baseline first): means, bootstrap intervals, counts.

    `stamp` digests the newest change of the experiments' results and of the scores of the configs
    compared; a read with another stamp recomputes the summary and its `ComparisonRecord` rows.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255, unique=True, help_text="The experiment ids in order, baseline first.")
    experiments = models.ManyToManyField(Experiment, related_name="+")
    stamp = models.CharField(max_length=64)
    summary = models.JSONField(default=dict)
    computed_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"comparison {self.key}"


class RecordChange(models.IntegerChoices):
    REGRESSED = -1, "regressed"
    UNCHANGED = 0, "unchanged"
    IMPROVED = 1, "improved"


class ComparisonRecord(models.Model):
    """One record's change for one score config between the baseline and one other experiment: the
    rows a `?config=&change=` filter pages through by index, in record order."""

    comparison = models.ForeignKey(ExperimentComparison, on_delete=models.CASCADE, related_name="records")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    config = models.ForeignKey(ScoreConfig, on_delete=models.CASCADE, related_name="+")
    record_id = models.CharField(max_length=255)
    change = models.SmallIntegerField(choices=RecordChange.choices)
    baseline_value = models.FloatField()
    value = models.FloatField()

    class Meta:
        indexes = [
            models.Index(
                fields=["comparison", "experiment", "config", "change", "record_id"], name="comparison_record_change"
            ),
            models.Index(fields=["comparison", "record_id"], name="comparison_record_id"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.get_change_display()}"
