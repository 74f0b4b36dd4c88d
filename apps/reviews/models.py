"""Score configurations and the annotations reviewers, applications and end users attach to spans.

A trace-level annotation is an annotation on the trace's root span. Tags themselves live in the
traces app (`Tag`, `SpanTag`); this app keeps their add/remove history in `TagEvent`.
"""

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel
from apps.projects.models import Project
from apps.traces.models import Span


class ScoreKind(models.TextChoices):
    CONTINUOUS = "continuous", "Continuous (slider)"
    CATEGORICAL = "categorical", "Categorical (options)"
    BOOLEAN = "boolean", "Boolean (true/false)"
    TEXT = "text", "Text (free-form)"


class ScoreSource(models.TextChoices):
    HUMAN = "human", "Human reviewer"
    END_USER = "end_user", "End user"
    API = "api", "API"
    AUTOMATED = "automated", "Automated evaluator"


class AnnotationSource(models.TextChoices):
    """Where a tag, comment, correction or metadata change came from."""

    HUMAN = "human", "Human reviewer"
    END_USER = "end_user", "End user"
    API = "api", "API"
    AUTOMATED = "automated", "Automated"
    INGEST = "ingest", "Ingest"


# What a person configures on a score config: the admin form, the API, the import and its audit events.
CONFIG_FIELDS = (
    "name",
    "description",
    "kind",
    "order",
    "min_value",
    "max_value",
    "options",
    "multi_select",
    "max_length",
)


class ScoreConfig(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="score_configs")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="", help_text="Markdown; rendered sanitised.")
    kind = models.CharField(max_length=16, choices=ScoreKind.choices)
    order = models.IntegerField(default=0)
    # continuous
    min_value = models.FloatField(default=0.0)
    max_value = models.FloatField(default=1.0)
    # categorical: [{"label": str, "value": number}]
    options = models.JSONField(default=list, blank=True)
    multi_select = models.BooleanField(default=False)
    # text
    max_length = models.PositiveIntegerField(default=2000)
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_score_config_name")]
        ordering = ["order", "name"]
        verbose_name = "score configuration"

    def __str__(self) -> str:
        return self.name

    @property
    def option_labels(self) -> list[str]:
        return [o["label"] for o in self.options or []]

    @property
    def option_values(self) -> dict[str, float]:
        return {o["label"]: float(o["value"]) for o in self.options or []}


class Score(models.Model):
    """One score. Human scores are unique per (span, config, author); other sources append."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scores")
    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="scores")
    config = models.ForeignKey(ScoreConfig, on_delete=models.RESTRICT, related_name="scores")
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True, default="")
    labels = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True, default="")
    comment = models.TextField(blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=ScoreSource.choices, default=ScoreSource.HUMAN)
    # Automated scores name the scorer version that produced them.
    scorer_version = models.ForeignKey(
        "experiments.ScorerVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="scores"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "config", "author"],
                condition=models.Q(source="human", author__isnull=False),
                name="uniq_human_score",
            )
        ]
        indexes = [
            models.Index(fields=["span", "config"], name="score_span_config"),
            models.Index(fields=["config", "source", "value"], name="score_config_source_value"),
            models.Index(fields=["project", "-created_at"], name="score_project_created"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.config_id}={self.display_value}"

    @property
    def display_value(self) -> str:
        if self.config.kind == ScoreKind.BOOLEAN and self.value is not None:
            return "yes" if self.value >= 0.5 else "no"
        if self.labels:
            return ", ".join(self.labels)
        if self.label:
            return self.label
        if self.text:
            return self.text
        return "" if self.value is None else f"{self.value:g}"


class SpanEvent(models.Model):
    """One append-only row of a span's annotation history (scores, tags, comments, corrections, metadata):
    the project, who, through which channel and when. Each subclass adds its `span` (with its own
    related name) and what happened."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]


class ScoreEvent(SpanEvent):
    """History of a score: every create, update and delete with the values at that moment."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="score_events")
    config = models.ForeignKey(ScoreConfig, on_delete=models.CASCADE, related_name="score_events")
    score = models.ForeignKey(Score, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    action = models.CharField(max_length=8, choices=Action.choices)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True, default="")
    labels = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True, default="")
    comment = models.TextField(blank=True, default="")
    source = models.CharField(max_length=16, choices=ScoreSource.choices)  # scores' own channels, no default

    def __str__(self) -> str:
        return f"{self.action} score {self.score_id} of span {self.span_id}"


class Comment(SpanEvent):
    """A reviewer's (or an API caller's) note on a span."""

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField()

    class Meta(SpanEvent.Meta):
        indexes = [models.Index(fields=["span", "created_at"], name="comment_span_created")]

    def __str__(self) -> str:
        return self.text[:60]


class Correction(SpanEvent):
    """A corrected expected output. The newest correction of a span is `Span.expected`."""

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="corrections")
    value = models.JSONField(null=True, blank=True)

    class Meta(SpanEvent.Meta):
        indexes = [models.Index(fields=["span", "created_at"], name="correction_span_created")]

    def __str__(self) -> str:
        return f"correction {self.pk} of span {self.span_id}"


class TagEvent(SpanEvent):
    """Who added or removed which tag on a span, and when."""

    class Action(models.TextChoices):
        ADD = "add", "Added"
        REMOVE = "remove", "Removed"

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="tag_events")
    tag_name = models.CharField(max_length=200)
    action = models.CharField(max_length=8, choices=Action.choices)
    author = None  # this history names its author `user` (column user_id)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(SpanEvent.Meta):
        indexes = [models.Index(fields=["span", "created_at"], name="tagevent_span_created")]

    def __str__(self) -> str:
        return f"{self.action} {self.tag_name} on span {self.span_id}"


class MetadataEvent(SpanEvent):
    """One change to a span's reviewer metadata: the keys set (null = removed), by whom."""

    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="metadata_events")
    values = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"metadata of span {self.span_id}: {', '.join(self.values)}"


class Feedback(models.Model):
    """A feedback call with a `feedback_id`: the unique key makes retries (even concurrent) idempotent."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    feedback_id = models.CharField(max_length=200)
    span = models.ForeignKey(Span, on_delete=models.CASCADE, related_name="+")
    request_hash = models.CharField(max_length=64)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "feedback_id"], name="uniq_feedback_id")]

    def __str__(self) -> str:
        return self.feedback_id
