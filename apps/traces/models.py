from django.conf import settings
from django.db import models

from apps.projects.models import Project


class SpanType(models.TextChoices):
    LLM = "llm", "LLM"
    TOOL = "tool", "Tool"
    RETRIEVAL = "retrieval", "Retrieval"
    TASK = "task", "Task"
    FUNCTION = "function", "Function"
    EVAL = "eval", "Eval"
    OTHER = "other", "Other"


class ReviewStatus(models.TextChoices):
    NONE = "none", "Not queued"
    QUEUED = "queued", "In a review queue"
    REVIEWED = "reviewed", "Reviewed"


class TraceOrigin(models.TextChoices):
    PRODUCTION = "production", "Production"
    EXPERIMENT = "experiment", "Experiment"


class Trace(models.Model):
    """One row per trace id; its summary columns are recomputed from its spans after each ingest batch."""

    # Indexed by the (project, trace_id) unique constraint and the (project, …) indexes below.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces", db_index=False)
    trace_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255, blank=True, default="")
    root_span_id = models.CharField(max_length=128, blank=True, default="")
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    span_count = models.PositiveIntegerField(default=0)
    has_error = models.BooleanField(default=False)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    total_cost = models.FloatField(default=0.0)
    input_preview = models.CharField(max_length=300, blank=True, default="")
    output_preview = models.CharField(max_length=300, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.NONE)
    # Experiment traces (results Assay created or an application sent with assay.experiment_id) stay out
    # of the production lists, retention and online scoring unless asked for.
    origin = models.CharField(
        max_length=16, choices=TraceOrigin.choices, default=TraceOrigin.PRODUCTION, db_default=TraceOrigin.PRODUCTION
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="uniq_trace_per_project")]
        indexes = [
            models.Index(fields=["project", "-start_time"], name="trace_project_start"),
            models.Index(fields=["project", "name"], name="trace_project_name"),
            models.Index(fields=["project", "has_error", "-start_time"], name="trace_project_error"),
            models.Index(fields=["project", "user_id"], name="trace_project_user"),
            models.Index(fields=["project", "session_id"], name="trace_project_session"),
            models.Index(fields=["project", "review_status"], name="trace_project_review"),
        ]
        ordering = ["-start_time", "-id"]

    def __str__(self) -> str:
        return self.name or self.trace_id


class Span(models.Model):
    # The composite indexes below lead with project and trace, so the foreign keys need no index of
    # their own; the trace already ties a span to its project, so the project key has no database
    # constraint (Django still cascades deletes). Both save work on every ingested span.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="spans", db_index=False, db_constraint=False
    )
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="spans", db_index=False)
    span_id = models.CharField(max_length=128)
    parent_span_id = models.CharField(max_length=128, blank=True, default="")
    name = models.CharField(max_length=255, blank=True, default="")
    type = models.CharField(max_length=16, choices=SpanType.choices, default=SpanType.OTHER)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    expected = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # Keys added by reviewers; the ingested `metadata` is never overwritten.
    annotation_metadata = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    is_error = models.BooleanField(default=False)
    model = models.CharField(max_length=255, blank=True, default="")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "span_id"], name="uniq_span_per_project")]
        indexes = [
            models.Index(fields=["trace", "start_time"], name="span_trace_start"),
            models.Index(fields=["project", "-start_time"], name="span_project_start"),
            models.Index(fields=["project", "name"], name="span_project_name"),
            models.Index(fields=["project", "type"], name="span_project_type"),
            models.Index(
                fields=["project", "-start_time"], name="span_project_errors", condition=models.Q(is_error=True)
            ),
        ]
        ordering = ["start_time", "id"]

    def __str__(self) -> str:
        return f"{self.name or self.span_id}"


class Tag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=200)
    colour = models.CharField(max_length=7, default="#64748b")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_tag_per_project")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SpanTag(models.Model):
    """A tag on a span, with who added it and when. `Span.tags` and `Trace.tags` cache the names."""

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="span_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="span_tags")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, default="ingest")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["span", "tag"], name="uniq_span_tag")]
        indexes = [models.Index(fields=["tag", "span"], name="spantag_tag_span")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.span_id}"
