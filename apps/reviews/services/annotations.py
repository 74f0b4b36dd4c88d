"""A whole annotation (scores, tags, comment, expected, metadata) validated first, then written at once.

A write of several annotations (`annotations_submit`, and `feedback_apply` through it) validates every
field, collecting every error, and only then writes everything in one transaction: nothing is ever
half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from apps.projects.models import Project
from apps.traces.models import Span

from ..models import AnnotationSource, Comment, ScoreConfig, ScoreSource
from .annotation_metadata import annotation_metadata_clean, annotation_metadata_write
from .comments import comment_text_clean
from .corrections import correction_write, expected_value_clean
from .scores import CleanScore, human_scores_write, score_value_clean, score_write
from .tags import MAX_TAGS_PER_CALL, span_tag_caches_refresh, tag_link, tag_names_clean, tag_unlink
from .validation import UNSET, FieldErrors


@dataclass
class AnnotationPlan:
    scores: list[CleanScore] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    comment: str | None = None
    expected: Any = UNSET
    metadata: dict | None = None

    def is_empty(self) -> bool:
        return not (
            self.scores or self.tags or self.remove_tags or self.comment or self.metadata or self.expected is not UNSET
        )


def annotation_plan(
    *,
    project: Project,
    data: dict[str, Any],
    allow_delete: bool = False,
    errors: FieldErrors | None = None,
    configs: list[ScoreConfig] | None = None,
) -> AnnotationPlan:
    """Validate scores/comment/tags/remove_tags/expected/metadata; raise naming every bad field."""
    own_errors = errors is None
    errors = errors or FieldErrors()
    plan = AnnotationPlan()
    scores = data.get("scores")
    if scores is not None:
        if not isinstance(scores, dict):
            errors.add("scores", "Expected an object {config name: value or label}.")
        elif len(scores) > MAX_TAGS_PER_CALL:
            errors.add("scores", f"At most {MAX_TAGS_PER_CALL} scores a call.")
        else:
            if configs is None:
                by_name = {c.name: c for c in ScoreConfig.objects.filter(project=project, name__in=list(scores))}
            else:
                by_name = {c.name: c for c in configs if c.project_id == project.pk and c.name in scores}
            for name, raw in scores.items():
                config = by_name.get(name)
                if config is None:
                    errors.add(f"scores.{name}", "Unknown score config.")
                    continue
                clean = score_value_clean(
                    config=config, raw=raw, errors=errors, name=f"scores.{name}", allow_delete=allow_delete
                )
                if clean is not None:
                    plan.scores.append(clean)
    plan.tags = tag_names_clean(data.get("tags"), errors, "tags")
    plan.remove_tags = tag_names_clean(data.get("remove_tags"), errors, "remove_tags")
    both = set(plan.tags) & set(plan.remove_tags)
    if both:
        errors.add("remove_tags", f"Tag {sorted(both)[0]!r} is also in tags.")
    if data.get("comment") is not None:
        plan.comment = comment_text_clean(data["comment"], errors)
    if "expected" in data and data["expected"] is not None and expected_value_clean(data["expected"], errors):
        plan.expected = data["expected"]
    if data.get("metadata") is not None:
        clean = annotation_metadata_clean(data["metadata"], errors)
        if clean:
            plan.metadata = clean
    if own_errors:
        errors.raise_if_any("Invalid annotation.")
    return plan


def annotation_plan_execute(
    *, span: Span, plan: AnnotationPlan, author, source: str, public: bool = False
) -> dict[str, Any]:
    """Write a validated plan (call inside a transaction). Returns what was written.

    `public` (a browser-shipped feedback-only key): `remove_tags` only removes tags end users added.
    """
    tag_source = source if source in AnnotationSource.values else AnnotationSource.API
    result: dict[str, Any] = {
        "scores": [],
        "tags_added": [],
        "tags_removed": [],
        "comment_id": None,
        "correction_id": None,
        "metadata": None,
    }
    written = (
        human_scores_write(span=span, cleans=plan.scores, author=author)
        if source == ScoreSource.HUMAN and author is not None and len(plan.scores) > 1
        else [score_write(span=span, clean=clean, author=author, source=source) for clean in plan.scores]
    )
    result["scores"] = [_score_written(clean, score) for clean, score in zip(plan.scores, written, strict=True)]
    for name in plan.tags:
        if tag_link(span=span, name=name, user=author, source=tag_source, refresh=False):
            result["tags_added"].append(name)
    for name in plan.remove_tags:
        if tag_unlink(
            span=span,
            name=name,
            user=author,
            source=tag_source,
            refresh=False,
            only_source=AnnotationSource.END_USER if public else None,
        ):
            result["tags_removed"].append(name)
    if result["tags_added"] or result["tags_removed"]:
        span_tag_caches_refresh(span)
    if plan.comment:
        result["comment_id"] = Comment.objects.create(
            project_id=span.project_id, span=span, author=author, source=tag_source, text=plan.comment
        ).pk
    if plan.expected is not UNSET:
        result["correction_id"] = correction_write(span=span, value=plan.expected, author=author, source=tag_source).pk
    if plan.metadata:
        result["metadata"] = annotation_metadata_write(
            span=span, values=plan.metadata, author=author, source=tag_source
        )
    return result


def _score_written(clean: CleanScore, score) -> dict[str, Any]:
    if score is None:
        return {"config": clean.config.name, "deleted": True}
    return {
        "id": score.pk,
        "config": clean.config.name,
        "value": score.value,
        "label": score.label,
        "labels": score.labels,
        "text": score.text,
    }


@transaction.atomic
def annotations_submit(*, span: Span, user, **fields: Any) -> dict[str, Any]:
    """One atomic save of a reviewer's whole annotation panel (`fields`: scores, comment, tags,
    remove_tags, expected, metadata, configs, as `annotations_submit_in_transaction` takes them).

    `scores` maps config names to values; a null (or blank text) removes the reviewer's own score.
    `configs`: the span's project's configs already loaded by the caller (else looked up by name).
    """
    return annotations_submit_in_transaction(span=span, user=user, **fields)


def annotations_submit_in_transaction(
    *,
    span: Span,
    user,
    scores: dict | None = None,
    comment: str | None = "",
    tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
    expected: Any = UNSET,
    metadata: dict | None = None,
    configs: list[ScoreConfig] | None = None,
) -> dict[str, Any]:
    """`annotations_submit` for a caller that is already inside a transaction (no savepoint of its own;
    an error rolls back the caller's transaction)."""
    data: dict[str, Any] = {
        "scores": scores,
        "comment": comment,
        "tags": tags,
        "remove_tags": remove_tags,
        "metadata": metadata,
    }
    if expected is not UNSET:
        data["expected"] = expected
    plan = annotation_plan(project=span.project, data=data, allow_delete=True, configs=configs)
    return annotation_plan_execute(span=span, plan=plan, author=user, source=ScoreSource.HUMAN)
