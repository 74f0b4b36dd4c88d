"""Review queues: which spans a team reviews, who reviews them, and how far they got."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.projects.models import Project


class ItemStatus(models.TextChoices):
    BACKLOG = "backlog", "Backlog"
    PENDING = "pending", "Pending"
    COMPLETE = "complete", "Complete"


OPEN_STATUSES = (ItemStatus.BACKLOG, ItemStatus.PENDING)


class RuleTarget(models.TextChoices):
    TRACES = "traces", "Traces (adds the root span)"
    SPANS = "spans", "Spans"


# A queue's own settings (its score configs and assignees aside): the admin form, the service and its audit events.
QUEUE_FIELDS = (
    "name",
    "instructions",
    "reviewers_per_item",
    "blind",
    "reservation_minutes",
    "rule_enabled",
    "rule_target",
    "rule_filter",
    "rule_sampling_rate",
    "disagreement_threshold",
    "gold_question_rate",
)


class ReviewQueue(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_queues")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, default="", help_text="Markdown; rendered sanitised.")
    score_configs = models.ManyToManyField("reviews.ScoreConfig", blank=True, related_name="review_queues")
    assignees = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="assigned_review_queues",
        help_text="The people who review this queue (empty: every reviewer of the project).",
    )
    reviewers_per_item = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="An item is complete once this many reviewers have submitted it.",
    )
    blind = models.BooleanField(
        default=False, help_text="A reviewer does not see other reviewers' scores until they submit."
    )
    reservation_minutes = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long an opened item stays reserved for its reviewer.",
    )
    # Gold: when continuous scores disagree, and how many gold questions a reviewer's stream carries.
    disagreement_threshold = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Continuous scores disagree when max − min exceeds this share (0–1) of the config's range.",
    )
    gold_question_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share (0–1) of each reviewer's items that are gold questions with known answers.",
    )
    # Optional rule: traces or spans matching a saved filter are added as they are ingested.
    rule_enabled = models.BooleanField(default=False)
    rule_target = models.CharField(max_length=8, choices=RuleTarget.choices, default=RuleTarget.TRACES)
    rule_filter = models.JSONField(default=dict, blank=True, help_text="Query parameters of the trace or span filter.")
    rule_sampling_rate = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of matching traces/spans added (0–1), chosen deterministically by id.",
    )
    # Counters kept by the services that change item statuses (in the same transaction), so the
    # board and the progress line never count 100,000 rows.
    backlog_count = models.PositiveIntegerField(default=0, editable=False)
    pending_count = models.PositiveIntegerField(default=0, editable=False)
    complete_count = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_review_queue_name")]
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def item_count(self) -> int:
        return self.backlog_count + self.pending_count + self.complete_count

    @property
    def open_count(self) -> int:
        return self.backlog_count + self.pending_count


class ReviewItem(models.Model):
    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="items")
    span = models.ForeignKey("traces.Span", on_delete=models.CASCADE, related_name="review_items")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.BACKLOG)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reserved_until = models.DateTimeField(null=True, blank=True)
    # When the current reservation was taken (kept while its holder re-opens it): the start of the
    # reviewer's time on the item, read by review_item_submit for ReviewSubmission.seconds_open.
    reserved_at = models.DateTimeField(null=True, blank=True)
    submission_count = models.PositiveSmallIntegerField(default=0)
    # A gold question: its known answers are GoldValue rows with source "known_answer".
    is_gold_question = models.BooleanField(
        default=False, db_default=False
    )  # db_default: items are bulk-inserted in SQL
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "span"], name="uniq_review_item")]
        indexes = [
            models.Index(fields=["queue", "status", "id"], name="reviewitem_queue_status"),
            # "next": the open items of a queue in id order, without reading complete ones.
            models.Index(
                fields=["queue", "id"],
                name="reviewitem_queue_open",
                condition=Q(status__in=["backlog", "pending"]),
            ),
            models.Index(fields=["queue", "assignee", "status"], name="reviewitem_queue_assignee"),
            models.Index(fields=["queue", "reserved_by"], name="reviewitem_queue_reserved"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"item {self.pk} of queue {self.queue_id}"

    @property
    def is_reserved(self) -> bool:
        """A live reservation (an expired one is simply ignored everywhere)."""
        from django.utils import timezone

        return (
            self.reserved_by_id is not None and self.reserved_until is not None and self.reserved_until > timezone.now()
        )


class ReviewSubmission(models.Model):
    """A reviewer finished an item; the scores themselves are reviews.Score rows on the span."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="submissions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    # Server-side time on the item: from the reviewer's reservation (taken when the item is shown) to
    # this submission. Null when they submitted without holding a reservation (it expired and was
    # taken by someone else, or the submission came through the API without `next`).
    opened_at = models.DateTimeField(null=True, blank=True)
    seconds_open = models.FloatField(null=True, blank=True)
    # Mirrors "the item is not complete", kept by the services that complete or reopen items, so a
    # reviewer's "left for you" counts only their open work, not everything they ever reviewed.
    item_open = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="uniq_review_submission")]
        indexes = [
            models.Index(fields=["reviewer", "item"], name="reviewsub_reviewer_item"),
            models.Index(fields=["reviewer", "item_open", "item"], name="reviewsub_reviewer_open"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.reviewer_id} submitted item {self.item_id}"


class ReviewSkip(models.Model):
    """A reviewer passed on an item: it goes back for others and is not offered to them again."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="skips")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    skipped_at = models.DateTimeField(auto_now_add=True)
    item_open = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="uniq_review_skip")]
        indexes = [
            models.Index(fields=["reviewer", "item"], name="reviewskip_reviewer_item"),
            models.Index(fields=["reviewer", "item_open", "item"], name="reviewskip_reviewer_open"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} skipped item {self.item_id}"


class GoldSource(models.TextChoices):
    ADJUDICATED = "adjudicated", "Adjudicated by a lead"
    KNOWN_ANSWER = "known_answer", "Known answer (gold question)"


class GoldFields(models.Model):
    """What a gold row holds: a score value (as Score: value, label, labels, text) for a config, or for
    the Expected row (config null) the expected output. Shared by the current row and its history."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="+")
    # Null: the item's gold Expected (the adjudicated correction).
    config = models.ForeignKey("reviews.ScoreConfig", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True, default="")
    labels = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True, default="")
    expected = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=GoldSource.choices, default=GoldSource.ADJUDICATED)
    # Whose value was picked; null when the lead wrote their own.
    chosen_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        abstract = True


class GoldValue(GoldFields):
    """The current gold value of one review item for one score config (or its Expected). Written only
    by `apps.queues.adjudication`, which appends a GoldValueRevision for every change."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="gold_values")
    config = models.ForeignKey(
        "reviews.ScoreConfig", null=True, blank=True, on_delete=models.CASCADE, related_name="gold_values"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "config"], condition=Q(config__isnull=False), name="uniq_gold_item_config"
            ),
            models.UniqueConstraint(fields=["item"], condition=Q(config__isnull=True), name="uniq_gold_item_expected"),
        ]
        indexes = [models.Index(fields=["project", "source", "item"], name="gold_project_source_item")]
        ordering = ["item_id", "config_id"]

    def __str__(self) -> str:
        return f"gold {'expected' if self.config_id is None else self.config_id} of item {self.item_id}"


class GoldValueRevision(GoldFields):
    """Append-only history of gold values: each row is a gold value as it was set (`cleared`: removed)."""

    gold = models.ForeignKey(GoldValue, null=True, blank=True, on_delete=models.SET_NULL, related_name="revisions")
    cleared = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["item", "decided_at"], name="goldrev_item_decided")]
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return f"gold revision {self.pk} of item {self.item_id}"
