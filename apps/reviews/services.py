"""Every write with rules on score configs and annotations.

The API, the feedback endpoint, the admin annotation panel, review queues and trace views all come
through here. A write of several annotations at once (`feedback_apply`, `annotations_submit`) first
validates every field, collecting every error, and only then writes everything in one transaction:
nothing is ever half-written.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.core.parsing import int_column_error
from apps.projects.models import Project
from apps.traces.models import Span, SpanTag, Tag, Trace
from apps.traces.selectors import trace_root_span

from .models import (
    AnnotationSource,
    Comment,
    Correction,
    Feedback,
    MetadataEvent,
    Score,
    ScoreConfig,
    ScoreEvent,
    ScoreKind,
    ScoreSource,
    TagEvent,
)
from .score_insert import automated_rows_copy, human_scores_insert_new

MAX_CONFIG_NAME = 100
MAX_TAG_LENGTH = 200
MAX_TAGS_PER_CALL = 100  # tags (as ingest's tags a span) and scores a call: each costs a few queries
MAX_COMMENT_LENGTH = 20_000
MAX_TEXT_LIMIT = 100_000
MAX_METADATA_KEY = 200
MAX_EXPECTED_BYTES = 1_000_000
MAX_FEEDBACK_ID = 200
MAX_OPTION_LABEL = 200
DEFAULT_TAG_COLOUR = "#64748b"

_UNSET: Any = object()


class _Errors:
    """Collects field errors so one response names every field at fault."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self, message: str = "Invalid input.") -> None:
        if self.fields:
            if len(self.fields) == 1:
                ((name, messages),) = self.fields.items()
                message = f"{message.rstrip('.')}: {name}: {messages[0]}"
            raise ApplicationError(message, fields=self.fields)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- score configs

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


def score_config_clean(*, project: Project, data: dict[str, Any], instance: ScoreConfig | None = None) -> dict:
    """Validated, normalised config fields (merged over `instance`); raises ApplicationError naming fields."""
    errors = _Errors()
    current = (
        {f: getattr(instance, f) for f in CONFIG_FIELDS}
        if instance
        else {
            "name": "",
            "description": "",
            "kind": "",
            "order": 0,
            "min_value": 0.0,
            "max_value": 1.0,
            "options": [],
            "multi_select": False,
            "max_length": 2000,
        }
    )
    merged = {**current, **{k: v for k, v in data.items() if k in CONFIG_FIELDS}}

    name = merged["name"]
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "This field is required.")
    else:
        name = name.strip()
        if len(name) > MAX_CONFIG_NAME:
            errors.add("name", f"At most {MAX_CONFIG_NAME} characters.")
        clash = ScoreConfig.objects.filter(project=project, name=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors.add("name", "A score config with this name exists in the project.")
    merged["name"] = name

    if merged["description"] is None:
        merged["description"] = ""
    if not isinstance(merged["description"], str):
        errors.add("description", "Must be text.")

    kind = merged["kind"]
    if kind not in ScoreKind.values:
        errors.add("kind", f"Choose one of {', '.join(ScoreKind.values)}.")

    order = merged["order"]
    if isinstance(order, bool) or not isinstance(order, int):
        try:
            order = int(order)
        except (TypeError, ValueError, OverflowError):
            errors.add("order", "Must be an integer.")
    if isinstance(order, int) and (message := int_column_error(order, ScoreConfig, "order")):
        errors.add("order", message)
    merged["order"] = order

    if kind == ScoreKind.CONTINUOUS:
        lo, hi = merged["min_value"], merged["max_value"]
        if not _is_number(lo):
            errors.add("min_value", "Must be a finite number.")
        if not _is_number(hi):
            errors.add("max_value", "Must be a finite number.")
        if _is_number(lo) and _is_number(hi) and lo >= hi:
            errors.add("max_value", "Must be greater than min_value.")
        if _is_number(lo) and _is_number(hi):
            merged["min_value"], merged["max_value"] = float(lo), float(hi)
    else:
        merged["min_value"], merged["max_value"] = current["min_value"], current["max_value"]

    if kind == ScoreKind.CATEGORICAL:
        options = merged["options"]
        if not isinstance(options, list) or not options:
            errors.add("options", "Give a non-empty list of {label, value} options.")
            options = []
        clean_options, seen = [], set()
        for i, option in enumerate(options):
            if not isinstance(option, dict):
                errors.add(f"options.{i}", "Each option is an object {label, value}.")
                continue
            label, value = option.get("label"), option.get("value")
            if not isinstance(label, str) or not label.strip():
                errors.add(f"options.{i}.label", "A non-empty label is required.")
                continue
            label = label.strip()
            if len(label) > MAX_OPTION_LABEL:
                errors.add(f"options.{i}.label", f"At most {MAX_OPTION_LABEL} characters.")
            if label in seen:
                errors.add(f"options.{i}.label", f"Duplicate label {label!r}; labels must be unique.")
            seen.add(label)
            if not _is_number(value):
                errors.add(f"options.{i}.value", "Must be a finite number.")
                continue
            clean_options.append({"label": label, "value": value})
        merged["options"] = clean_options
        if not isinstance(merged["multi_select"], bool):
            errors.add("multi_select", "Must be true or false.")
    else:
        merged["options"], merged["multi_select"] = [], False

    if kind == ScoreKind.TEXT:
        limit = merged["max_length"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TEXT_LIMIT:
            errors.add("max_length", f"Must be an integer from 1 to {MAX_TEXT_LIMIT}.")
    else:
        merged["max_length"] = current["max_length"]

    errors.raise_if_any("Invalid score config.")

    if instance is not None:
        _config_check_existing_scores(instance, merged, errors)
        errors.raise_if_any("This change conflicts with the config's existing scores.")
    return merged


def _config_check_existing_scores(instance: ScoreConfig, merged: dict, errors: _Errors) -> None:
    scores = Score.objects.filter(config=instance)
    if not scores.exists():
        return
    if merged["kind"] != instance.kind:
        errors.add("kind", "The config has scores; its kind cannot change. Create a new config instead.")
        return
    if merged["kind"] == ScoreKind.CONTINUOUS:
        outside = (
            scores.filter(value__lt=merged["min_value"]).count() + scores.filter(value__gt=merged["max_value"]).count()
        )
        if outside:
            errors.add("min_value", f"{outside} existing score(s) fall outside the new range.")
    if merged["kind"] == ScoreKind.CATEGORICAL:
        new_labels = {o["label"] for o in merged["options"]}
        used = set(scores.exclude(label="").values_list("label", flat=True).distinct())
        for labels in scores.exclude(labels=[]).values_list("labels", flat=True):
            used.update(labels or [])
        missing = sorted(used - new_labels)
        if missing:
            errors.add("options", f"Existing scores use {', '.join(missing)}; keep those labels.")
        if instance.multi_select and not merged["multi_select"] and scores.exclude(labels=[]).exists():
            errors.add("multi_select", "Existing scores pick several options; keep multi-select.")


@transaction.atomic
def score_config_create(*, project: Project, created_by=None, actor: Any = None, **data: Any) -> ScoreConfig:
    unknown = sorted(set(data) - set(CONFIG_FIELDS))
    if unknown:
        raise ApplicationError("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    clean = score_config_clean(project=project, data=data)
    try:
        with transaction.atomic():
            config = ScoreConfig.objects.create(project=project, created_by=created_by, **clean)
    except IntegrityError:
        raise ApplicationError(
            "Invalid score config.", fields={"name": ["A score config with this name exists in the project."]}
        )
    audit_record(actor=actor or created_by, action="score_config.create", obj=config, after=audit_snapshot(config))
    return config


@transaction.atomic
def score_config_update(*, config: ScoreConfig, actor: Any = None, **data: Any) -> ScoreConfig:
    unknown = sorted(set(data) - set(CONFIG_FIELDS))
    if unknown:
        raise ApplicationError("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    config = ScoreConfig.objects.select_for_update().get(pk=config.pk)
    clean = score_config_clean(project=config.project, data=data, instance=config)
    options_changed = clean["options"] != config.options
    before = audit_snapshot(config)
    for name, value in clean.items():
        setattr(config, name, value)
    config.save()
    if options_changed and config.kind == ScoreKind.CATEGORICAL:
        _rescore_categorical(config)
    audit_record_change(actor=actor, action="score_config.update", obj=config, before=before)
    return config


def _rescore_categorical(config: ScoreConfig) -> None:
    """Option values changed: keep each stored value equal to its option's (mean) value."""
    values = config.option_values
    for score in Score.objects.filter(config=config).only("id", "label", "labels", "value"):
        new = _categorical_value(values, score.labels or ([score.label] if score.label else []))
        if new != score.value:
            Score.objects.filter(pk=score.pk).update(value=new)


def _categorical_value(values: dict[str, float], labels: list[str]) -> float | None:
    picked = [values[label] for label in labels if label in values]
    return sum(picked) / len(picked) if picked else None


@transaction.atomic
def score_config_archive(*, config: ScoreConfig, actor: Any = None) -> ScoreConfig:
    if not config.is_archived:
        config.is_archived, config.archived_at = True, timezone.now()
        config.save(update_fields=["is_archived", "archived_at", "updated_at"])
        audit_record(
            actor=actor,
            action="score_config.archive",
            obj=config,
            before={"is_archived": False},
            after={"is_archived": True},
        )
    return config


@transaction.atomic
def score_config_restore(*, config: ScoreConfig, actor: Any = None) -> ScoreConfig:
    if config.is_archived:
        config.is_archived, config.archived_at = False, None
        config.save(update_fields=["is_archived", "archived_at", "updated_at"])
        audit_record(
            actor=actor,
            action="score_config.restore",
            obj=config,
            before={"is_archived": True},
            after={"is_archived": False},
        )
    return config


@transaction.atomic
def score_config_delete(*, config: ScoreConfig, actor: Any = None) -> None:
    count = Score.objects.filter(config=config).count()
    if count:
        raise ApplicationError(
            f"This score config has {count} score(s) and cannot be deleted; archive it instead.",
            fields={"config": ["Has scores: archive it instead of deleting it."]},
        )
    ScoreEvent.objects.filter(config=config).delete()
    audit_record(actor=actor, action="score_config.delete", obj=config, before=audit_snapshot(config))
    config.delete()


# --------------------------------------------------------------------------- score values


@dataclass
class CleanScore:
    config: ScoreConfig
    value: float | None = None
    label: str = ""
    labels: list[str] = field(default_factory=list)
    text: str = ""
    comment: str = ""
    delete: bool = False


def score_value_clean(
    *, config: ScoreConfig, raw: Any, errors: _Errors, name: str, allow_delete: bool = False
) -> CleanScore | None:
    """Validate one raw score (a value, a label, labels, text, or {value|label|labels|text, comment})."""
    comment = ""
    if config.is_archived:
        errors.add(name, "This score config is archived and accepts no new scores.")
        return None
    if isinstance(raw, dict):
        extra = set(raw) - {"value", "label", "labels", "text", "comment"}
        if extra:
            errors.add(name, f"Unknown keys: {', '.join(sorted(extra))}.")
            return None
        comment = raw.get("comment") or ""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_LENGTH:
            errors.add(f"{name}.comment", f"Text of at most {MAX_COMMENT_LENGTH} characters.")
            return None
        for key in ("labels", "label", "text", "value"):
            if key in raw:
                raw = raw[key]
                break
        else:
            raw = None
    if raw is None:
        if allow_delete:
            return CleanScore(config=config, delete=True)
        errors.add(name, "A value is required.")
        return None

    kind = config.kind
    if kind == ScoreKind.CONTINUOUS:
        if not _is_number(raw):
            errors.add(name, f"Expected a number from {config.min_value:g} to {config.max_value:g}.")
            return None
        if not config.min_value <= raw <= config.max_value:
            errors.add(name, f"{raw:g} is out of range: expected {config.min_value:g} to {config.max_value:g}.")
            return None
        return CleanScore(config=config, value=float(raw), comment=comment)
    if kind == ScoreKind.BOOLEAN:
        if isinstance(raw, bool):
            return CleanScore(config=config, value=1.0 if raw else 0.0, comment=comment)
        if _is_number(raw) and raw in (0, 1):
            return CleanScore(config=config, value=float(raw), comment=comment)
        errors.add(name, "Expected true or false.")
        return None
    if kind == ScoreKind.CATEGORICAL:
        values = config.option_values
        labels = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and not config.multi_select:
            errors.add(name, "This config takes one option, not a list.")
            return None
        if not labels or not all(isinstance(label, str) for label in labels):
            errors.add(name, f"Expected an option label: one of {', '.join(values)}.")
            return None
        unknown = [label for label in labels if label not in values]
        if unknown:
            errors.add(name, f"Unknown option {unknown[0]!r}: choose from {', '.join(values)}.")
            return None
        if len(set(labels)) != len(labels):
            errors.add(name, "An option is picked twice.")
            return None
        value = _categorical_value(values, labels)
        if config.multi_select:
            return CleanScore(config=config, value=value, labels=list(labels), comment=comment)
        return CleanScore(config=config, value=value, label=labels[0], comment=comment)
    # text
    if not isinstance(raw, str):
        errors.add(name, "Expected text.")
        return None
    if not raw.strip():
        if allow_delete:
            return CleanScore(config=config, delete=True)
        errors.add(name, "Text may not be blank.")
        return None
    if len(raw) > config.max_length:
        errors.add(name, f"At most {config.max_length} characters (got {len(raw)}).")
        return None
    return CleanScore(config=config, text=raw, comment=comment)


def _score_event(score: Score, action: str) -> None:
    _event_row(score, action).save()


def _score_write(*, span: Span, clean: CleanScore, author, source: str) -> Score | None:
    config = clean.config
    fields = {
        "value": clean.value,
        "label": clean.label,
        "labels": clean.labels,
        "text": clean.text,
        "comment": clean.comment,
    }
    if source == ScoreSource.HUMAN:
        existing = (
            Score.objects.select_for_update()
            .filter(span=span, config=config, author=author, source=ScoreSource.HUMAN)
            .first()
        )
        if clean.delete:
            if existing is not None:
                _score_event(existing, ScoreEvent.Action.DELETE)
                existing.delete()
            return None
        if existing is None:
            try:
                with transaction.atomic():
                    score = Score.objects.create(
                        project_id=span.project_id, span=span, config=config, author=author, source=source, **fields
                    )
                _score_event(score, ScoreEvent.Action.CREATE)
                return score
            except IntegrityError:
                # A concurrent save by the same reviewer won the insert: update it instead.
                existing = Score.objects.select_for_update().get(
                    span=span, config=config, author=author, source=ScoreSource.HUMAN
                )
        changed = any(getattr(existing, k) != v for k, v in fields.items())
        if changed:
            for k, v in fields.items():
                setattr(existing, k, v)
            existing.save()
            _score_event(existing, ScoreEvent.Action.UPDATE)
        return existing
    if clean.delete:
        return None
    score = Score.objects.create(
        project_id=span.project_id, span=span, config=config, author=author, source=source, **fields
    )
    _score_event(score, ScoreEvent.Action.CREATE)
    return score


_SCORE_FIELDS = ("value", "label", "labels", "text", "comment")


def _event_row(score: Score, action: str) -> ScoreEvent:
    return ScoreEvent(
        project_id=score.project_id,
        span_id=score.span_id,
        config_id=score.config_id,
        score=score,
        action=action,
        value=score.value,
        label=score.label,
        labels=score.labels,
        text=score.text,
        comment=score.comment,
        author_id=score.author_id,
        source=score.source,
    )


def _human_scores_write(*, span: Span, cleans: list[CleanScore], author) -> list[Score | None]:
    """`_score_write` for several human scores of one reviewer on one span, in a few statements: one
    locked read of their existing scores, one insert of the new ones, one of the history events. A
    concurrent insert by the same reviewer (unique per span, config, author) falls back to one by one."""
    existing = {
        s.config_id: s
        for s in Score.objects.select_for_update().filter(
            span=span, author=author, source=ScoreSource.HUMAN, config_id__in=[c.config.pk for c in cleans]
        )
    }
    out: list[Score | None] = []
    new: list[Score] = []
    events: list[ScoreEvent] = []
    deleted: list[int] = []
    changed: list[Score] = []
    for clean in cleans:
        fields = {k: getattr(clean, k) for k in _SCORE_FIELDS}
        score = existing.get(clean.config.pk)
        if clean.delete:
            if score is not None:
                events.append(_event_row(score, ScoreEvent.Action.DELETE))
                deleted.append(score.pk)
            out.append(None)
        elif score is None:
            score = Score(
                project_id=span.project_id,
                span=span,
                config=clean.config,
                author=author,
                source=ScoreSource.HUMAN,
                **fields,
            )
            new.append(score)
            out.append(score)
        else:
            if any(getattr(score, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(score, k, v)
                score.updated_at = timezone.now()
                changed.append(score)
            out.append(score)
    if new:
        if not human_scores_insert_new(new):
            # A concurrent save by the same reviewer won an insert: write these one by one (that path
            # updates what the other save created).
            return [_score_write(span=span, clean=clean, author=author, source=ScoreSource.HUMAN) for clean in cleans]
    if changed:
        Score.objects.bulk_update(changed, [*_SCORE_FIELDS, "updated_at"])
    events += [_event_row(s, ScoreEvent.Action.CREATE) for s in new]
    events += [_event_row(s, ScoreEvent.Action.UPDATE) for s in changed]
    if events:
        ScoreEvent.objects.bulk_create(events)
    if deleted:
        Score.objects.filter(pk__in=deleted).delete()
    return out


def _check_source(source: str, author, errors: _Errors, name: str = "source") -> None:
    if source not in ScoreSource.values:
        errors.add(name, f"Choose one of {', '.join(ScoreSource.values)}.")
    elif source == ScoreSource.HUMAN and author is None:
        errors.add(name, "Human scores need an author (a signed-in reviewer).")


@transaction.atomic
def score_record(
    *,
    span: Span,
    config: ScoreConfig,
    value: Any = None,
    label: str | None = None,
    labels: list[str] | None = None,
    text: str | None = None,
    comment: str = "",
    author=None,
    source: str = ScoreSource.HUMAN,
) -> Score:
    """Record one score. A human scoring again updates their score (the history keeps each version)."""
    if config.project_id != span.project_id:
        raise ApplicationError("Score config not found.", fields={"config": ["Unknown score config."]}, status=404)
    errors = _Errors()
    _check_source(source, author, errors)
    if labels is not None:
        raw: Any = labels
    elif label is not None:
        raw = label
    elif text is not None:
        raw = text
    else:
        raw = value
    raw = {"value": raw, "comment": comment or ""} if not isinstance(raw, dict) else raw
    clean = score_value_clean(config=config, raw=raw, errors=errors, name=f"scores.{config.name}")
    errors.raise_if_any("Invalid score.")
    return _score_write(span=span, clean=clean, author=author, source=source)


@transaction.atomic
def score_delete(*, score: Score) -> None:
    _score_event(score, ScoreEvent.Action.DELETE)
    score.delete()


# --------------------------------------------------------------------------- tags


def _tag_name_clean(name: Any, errors: _Errors, field_name: str) -> str | None:
    if not isinstance(name, str) or not name.strip():
        errors.add(field_name, "A tag is a non-empty string.")
        return None
    name = name.strip()
    if len(name) > MAX_TAG_LENGTH:
        errors.add(field_name, f"Tags are at most {MAX_TAG_LENGTH} characters (got {len(name)}).")
        return None
    return name


def _tag_caches_refresh(span: Span) -> None:
    """Recompute the name caches like ingest does: `Span.tags` sorted, `Trace.tags` the sorted union."""
    names = sorted(set(SpanTag.objects.filter(span=span).values_list("tag__name", flat=True)))
    Span.objects.filter(pk=span.pk).update(tags=names)
    span.tags = names
    # Lock the trace so concurrent tag changes on its spans do not lose each other's names.
    Trace.objects.select_for_update().filter(pk=span.trace_id).first()
    trace_names: set[str] = set()
    for span_tags in Span.objects.filter(trace_id=span.trace_id).exclude(tags=[]).values_list("tags", flat=True):
        trace_names.update(span_tags or [])
    Trace.objects.filter(pk=span.trace_id).update(tags=sorted(trace_names))


def _tag_get_or_create(project_id: int, name: str) -> Tag:
    tag = Tag.objects.filter(project_id=project_id, name=name).first()
    if tag is not None:
        return tag
    try:
        with transaction.atomic():
            return Tag.objects.create(project_id=project_id, name=name, colour=DEFAULT_TAG_COLOUR)
    except IntegrityError:
        return Tag.objects.get(project_id=project_id, name=name)


def _tag_add(*, span: Span, name: str, user, source: str, refresh: bool = True) -> bool:
    tag = _tag_get_or_create(span.project_id, name)
    try:
        with transaction.atomic():
            _, created = SpanTag.objects.get_or_create(
                span=span, tag=tag, defaults={"added_by": user, "source": source}
            )
    except IntegrityError:
        created = False
    if created:
        TagEvent.objects.create(
            project_id=span.project_id, span=span, tag_name=name, action=TagEvent.Action.ADD, user=user, source=source
        )
        if refresh:
            _tag_caches_refresh(span)
    return created


def _tag_remove(
    *, span: Span, name: str, user, source: str, refresh: bool = True, only_source: str | None = None
) -> bool:
    links = SpanTag.objects.filter(span=span, tag__project_id=span.project_id, tag__name=name)
    if only_source is not None:
        links = links.filter(source=only_source)
    deleted, _ = links.delete()
    if deleted:
        TagEvent.objects.create(
            project_id=span.project_id,
            span=span,
            tag_name=name,
            action=TagEvent.Action.REMOVE,
            user=user,
            source=source,
        )
        if refresh:
            _tag_caches_refresh(span)
    return bool(deleted)


@transaction.atomic
def tag_add(*, span: Span, name: str, user=None, source: str = AnnotationSource.HUMAN) -> bool:
    """Put a tag (created in the project on first use) on a span. True if it was not there yet."""
    errors = _Errors()
    clean = _tag_name_clean(name, errors, "tags")
    errors.raise_if_any("Invalid tag.")
    return _tag_add(span=span, name=clean, user=user, source=source)


@transaction.atomic
def tag_remove(*, span: Span, name: str, user=None, source: str = AnnotationSource.HUMAN) -> bool:
    """Take a tag off a span, recording who and when. True if it was there."""
    errors = _Errors()
    clean = _tag_name_clean(name, errors, "remove_tags")
    errors.raise_if_any("Invalid tag.")
    return _tag_remove(span=span, name=clean, user=user, source=source)


# --------------------------------------------------------------------------- comments, corrections, metadata


def _comment_clean(text: Any, errors: _Errors, name: str = "comment") -> str | None:
    if not isinstance(text, str):
        errors.add(name, "Must be text.")
        return None
    if len(text) > MAX_COMMENT_LENGTH:
        errors.add(name, f"At most {MAX_COMMENT_LENGTH} characters (got {len(text)}).")
        return None
    return text.strip() or None


@transaction.atomic
def comment_add(*, span: Span, text: str, author=None, source: str = AnnotationSource.HUMAN) -> Comment:
    errors = _Errors()
    clean = _comment_clean(text, errors)
    if clean is None and not errors.fields:
        errors.add("comment", "A comment may not be blank.")
    errors.raise_if_any("Invalid comment.")
    return Comment.objects.create(project_id=span.project_id, span=span, author=author, source=source, text=clean)


def _expected_clean(value: Any, errors: _Errors, name: str = "expected") -> bool:
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        errors.add(name, "Must be JSON (text, a number, an object or a list) without NaN.")
        return False
    if size > MAX_EXPECTED_BYTES:
        errors.add(name, f"At most {MAX_EXPECTED_BYTES} bytes of JSON.")
        return False
    return True


def _correction_write(*, span: Span, value: Any, author, source: str) -> Correction:
    correction = Correction.objects.create(
        project_id=span.project_id, span=span, value=value, author=author, source=source
    )
    Span.objects.filter(pk=span.pk).update(expected=value)
    span.expected = value
    return correction


@transaction.atomic
def correction_record(*, span: Span, value: Any, author=None, source: str = AnnotationSource.HUMAN) -> Correction:
    """A corrected expected output: becomes `Span.expected`; every earlier one stays in the history."""
    errors = _Errors()
    if value is None:
        errors.add("expected", "A corrected value is required.")
    else:
        _expected_clean(value, errors)
    errors.raise_if_any("Invalid correction.")
    return _correction_write(span=span, value=value, author=author, source=source)


def _metadata_clean(values: Any, errors: _Errors, name: str = "metadata") -> dict | None:
    if not isinstance(values, dict):
        errors.add(name, "Expected an object of key: value pairs.")
        return None
    ok = True
    for key, value in values.items():
        if not isinstance(key, str) or not key.strip():
            errors.add(name, "Keys may not be blank.")
            ok = False
        elif len(key) > MAX_METADATA_KEY:
            errors.add(f"{name}.{key[:40]}", f"Keys are at most {MAX_METADATA_KEY} characters.")
            ok = False
        elif not _expected_clean(value, errors, f"{name}.{key}"):
            ok = False
    return values if ok else None


def _metadata_write(*, span: Span, values: dict, author, source: str) -> dict:
    current = (
        Span.objects.select_for_update().filter(pk=span.pk).values_list("annotation_metadata", flat=True).first() or {}
    )
    merged = {**current}
    for key, value in values.items():
        if value is None:
            merged.pop(key.strip(), None)
        else:
            merged[key.strip()] = value
    Span.objects.filter(pk=span.pk).update(annotation_metadata=merged)
    span.annotation_metadata = merged
    MetadataEvent.objects.create(project_id=span.project_id, span=span, values=values, author=author, source=source)
    return merged


@transaction.atomic
def annotation_metadata_set(*, span: Span, values: dict, author=None, source: str = AnnotationSource.HUMAN) -> dict:
    """Merge reviewer metadata (a null value removes the key). The ingested `metadata` is untouched."""
    errors = _Errors()
    clean = _metadata_clean(values, errors)
    errors.raise_if_any("Invalid metadata.")
    return _metadata_write(span=span, values=clean, author=author, source=source)


# --------------------------------------------------------------------------- whole annotations


@dataclass
class AnnotationPlan:
    scores: list[CleanScore] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    comment: str | None = None
    expected: Any = _UNSET
    metadata: dict | None = None


def _tag_list_clean(raw: Any, errors: _Errors, name: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add(name, "Expected a list of tag names.")
        return []
    if len(raw) > MAX_TAGS_PER_CALL:
        errors.add(name, f"At most {MAX_TAGS_PER_CALL} tags a call.")
        return []
    names: list[str] = []
    for i, item in enumerate(raw):
        clean = _tag_name_clean(item, errors, f"{name}.{i}")
        if clean is not None and clean not in names:
            names.append(clean)
    return names


def annotation_plan(
    *,
    project: Project,
    data: dict[str, Any],
    allow_delete: bool = False,
    errors: _Errors | None = None,
    configs: list[ScoreConfig] | None = None,
) -> AnnotationPlan:
    """Validate scores/comment/tags/remove_tags/expected/metadata; raise naming every bad field."""
    own_errors = errors is None
    errors = errors or _Errors()
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
    plan.tags = _tag_list_clean(data.get("tags"), errors, "tags")
    plan.remove_tags = _tag_list_clean(data.get("remove_tags"), errors, "remove_tags")
    both = set(plan.tags) & set(plan.remove_tags)
    if both:
        errors.add("remove_tags", f"Tag {sorted(both)[0]!r} is also in tags.")
    if data.get("comment") is not None:
        plan.comment = _comment_clean(data["comment"], errors)
    if "expected" in data and data["expected"] is not None and _expected_clean(data["expected"], errors):
        plan.expected = data["expected"]
    if data.get("metadata") is not None:
        clean = _metadata_clean(data["metadata"], errors)
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
        _human_scores_write(span=span, cleans=plan.scores, author=author)
        if source == ScoreSource.HUMAN and author is not None and len(plan.scores) > 1
        else [_score_write(span=span, clean=clean, author=author, source=source) for clean in plan.scores]
    )
    for clean, score in zip(plan.scores, written, strict=True):
        if score is None:
            result["scores"].append({"config": clean.config.name, "deleted": True})
        else:
            result["scores"].append(
                {
                    "id": score.pk,
                    "config": clean.config.name,
                    "value": score.value,
                    "label": score.label,
                    "labels": score.labels,
                    "text": score.text,
                }
            )
    for name in plan.tags:
        if _tag_add(span=span, name=name, user=author, source=tag_source, refresh=False):
            result["tags_added"].append(name)
    for name in plan.remove_tags:
        if _tag_remove(
            span=span,
            name=name,
            user=author,
            source=tag_source,
            refresh=False,
            only_source=AnnotationSource.END_USER if public else None,
        ):
            result["tags_removed"].append(name)
    if result["tags_added"] or result["tags_removed"]:
        _tag_caches_refresh(span)
    if plan.comment:
        result["comment_id"] = Comment.objects.create(
            project_id=span.project_id, span=span, author=author, source=tag_source, text=plan.comment
        ).pk
    if plan.expected is not _UNSET:
        result["correction_id"] = _correction_write(span=span, value=plan.expected, author=author, source=tag_source).pk
    if plan.metadata:
        result["metadata"] = _metadata_write(span=span, values=plan.metadata, author=author, source=tag_source)
    return result


@transaction.atomic
def annotations_submit(
    *,
    span: Span,
    user,
    scores: dict | None = None,
    comment: str | None = "",
    tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
    expected: Any = _UNSET,
    metadata: dict | None = None,
    configs: list[ScoreConfig] | None = None,
) -> dict[str, Any]:
    """One atomic save of a reviewer's whole annotation panel.

    `scores` maps config names to values; a null (or blank text) removes the reviewer's own score.
    `configs`: the span's project's configs already loaded by the caller (else looked up by name).
    """
    return annotations_submit_in_transaction(
        span=span,
        user=user,
        scores=scores,
        comment=comment,
        tags=tags,
        remove_tags=remove_tags,
        expected=expected,
        metadata=metadata,
        configs=configs,
    )


def annotations_submit_in_transaction(
    *,
    span: Span,
    user,
    scores: dict | None = None,
    comment: str | None = "",
    tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
    expected: Any = _UNSET,
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
    if expected is not _UNSET:
        data["expected"] = expected
    plan = annotation_plan(project=span.project, data=data, allow_delete=True, configs=configs)
    return annotation_plan_execute(span=span, plan=plan, author=user, source=ScoreSource.HUMAN)


# --------------------------------------------------------------------------- feedback

FEEDBACK_KEYS = {
    "span_id",
    "trace_id",
    "scores",
    "expected",
    "comment",
    "tags",
    "remove_tags",
    "metadata",
    "source",
    "feedback_id",
    "project",
}


@dataclass
class FeedbackOutcome:
    result: dict[str, Any]
    replayed: bool


def span_for_feedback(*, project: Project, span_id: Any, trace_id: Any) -> Span:
    """The span a feedback call names (a trace → its root span); another project's ids are 404."""
    errors = _Errors()
    for name, value in (("span_id", span_id), ("trace_id", trace_id)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 128):
            errors.add(name, "Expected a non-empty id string.")
    if span_id is None and trace_id is None:
        errors.add("span_id", "Give span_id or trace_id.")
    errors.raise_if_any("Name the span or trace.")
    missing = ApplicationError("Span not found.", status=404)
    if span_id is not None:
        span = Span.objects.select_related("trace").filter(project=project, span_id=span_id).first()
        if span is None or (trace_id is not None and span.trace.trace_id != trace_id):
            raise missing
        return span
    trace = Trace.objects.filter(project=project, trace_id=trace_id).first()
    if trace is None:
        raise ApplicationError("Trace not found.", status=404)
    span = trace_root_span(trace=trace)
    if span is None:
        raise ApplicationError("Trace not found.", status=404)
    return span


def _request_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def feedback_apply(
    *, project: Project, data: dict, source_default: str = ScoreSource.API, key=None, user=None
) -> FeedbackOutcome:
    """Apply one feedback call: validate everything, then write all or nothing.

    With `feedback_id` a retry (even concurrent) returns the first call's result and writes nothing.
    A key with only the `feedback` scope writes as `end_user`; other keys as `api` (default),
    `automated` or `end_user`; a signed-in member also as `human`.
    """
    if not isinstance(data, dict):
        raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
    errors = _Errors()
    for unknown in sorted(set(data) - FEEDBACK_KEYS):
        errors.add(unknown, "Unknown field.")
    feedback_only = key is not None and not key.has_scope("write")
    source = data.get("source") or source_default
    if feedback_only:
        allowed = [ScoreSource.END_USER]
    elif key is not None:
        allowed = [ScoreSource.API, ScoreSource.AUTOMATED, ScoreSource.END_USER]
    else:
        allowed = list(ScoreSource.values)
    if source not in allowed:
        errors.add("source", f"Choose one of {', '.join(allowed)}.")
    author = user if (user is not None and getattr(user, "is_authenticated", False)) else None
    if source == ScoreSource.HUMAN and author is None:
        errors.add("source", "Human feedback needs a signed-in reviewer.")
    feedback_id = data.get("feedback_id")
    if feedback_id is not None and (
        not isinstance(feedback_id, str) or not feedback_id.strip() or len(feedback_id) > MAX_FEEDBACK_ID
    ):
        errors.add("feedback_id", f"A non-empty string of at most {MAX_FEEDBACK_ID} characters.")
    errors.raise_if_any("Invalid feedback.")

    span = span_for_feedback(project=project, span_id=data.get("span_id"), trace_id=data.get("trace_id"))
    request_hash = _request_hash(data)
    if feedback_id is not None:
        replay = _feedback_replay(project, feedback_id, request_hash)
        if replay is not None:
            return replay
    plan = annotation_plan(project=project, data=data, errors=errors)
    errors.raise_if_any("Invalid feedback.")
    if not (
        plan.scores or plan.tags or plan.remove_tags or plan.comment or plan.metadata or plan.expected is not _UNSET
    ):
        raise ApplicationError(
            "Nothing to record.",
            fields={
                "non_field_errors": ["Give at least one of scores, expected, comment, tags, remove_tags, metadata."]
            },
        )

    with transaction.atomic():
        record = None
        if feedback_id is not None:
            try:
                with transaction.atomic():
                    # Claimed first: a concurrent retry blocks on the unique key until we commit.
                    record = Feedback.objects.create(
                        project=project, feedback_id=feedback_id, span=span, request_hash=request_hash
                    )
            except IntegrityError:
                record = None
                replay = _feedback_replay(project, feedback_id, request_hash)
                if replay is not None:
                    return replay
                raise ApplicationError("Feedback with this id is being recorded; retry.", status=409)
        written = annotation_plan_execute(span=span, plan=plan, author=author, source=source, public=feedback_only)
        result = {
            "span_id": span.span_id,
            "trace_id": span.trace.trace_id,
            "feedback_id": feedback_id,
            "source": source,
            **written,
        }
        if record is not None:
            record.result = result
            record.save(update_fields=["result"])
    return FeedbackOutcome(result=result, replayed=False)


def _feedback_replay(project: Project, feedback_id: str, request_hash: str) -> FeedbackOutcome | None:
    record = Feedback.objects.filter(project=project, feedback_id=feedback_id).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise ApplicationError(
            "This feedback_id was already used with a different body.",
            fields={"feedback_id": ["Already used with a different body; use a new id."]},
            status=409,
        )
    return FeedbackOutcome(result=record.result, replayed=True)


def automated_scores_write(*, scorer_version_id: int, items: list[tuple[int, int, CleanScore]]) -> int:
    """Write a scorer version's validated scores, `(project_id, span_pk, clean)` each, in a few statements.

    Scoring a span again with the same version replaces that version's score on it (updated in place, with
    an update event), so re-running a scorer is idempotent; other versions' scores are left alone.
    Answers the number of scores created or changed.
    """
    if not items:
        return 0
    # Plain rows, not models: a re-score of unchanged values reads and writes no more than this.
    existing = {
        row[0]: row[1:]
        for row in Score.objects.filter(
            scorer_version_id=scorer_version_id, span_id__in=[span_pk for _, span_pk, _ in items]
        ).values_list("span_id", "pk", "config_id", *_SCORE_FIELDS)
    }
    new: list[dict] = []
    changed: list[Score] = []
    now = timezone.now()
    for project_id, span_pk, clean in items:
        values = (clean.value, clean.label, clean.labels, clean.text, clean.comment)
        found = existing.get(span_pk)
        if found is None:
            new.append(
                dict(zip(_SCORE_FIELDS, values, strict=True), project_id=project_id, span_id=span_pk,
                     config_id=clean.config.pk, scorer_version_id=scorer_version_id)
            )  # fmt: skip
        elif found[1:] != (clean.config.pk, *values):
            changed.append(
                Score(pk=found[0], project_id=project_id, span_id=span_pk, config=clean.config, updated_at=now,
                      source=ScoreSource.AUTOMATED, scorer_version_id=scorer_version_id,
                      **dict(zip(_SCORE_FIELDS, values, strict=True)))
            )  # fmt: skip
    with transaction.atomic():
        if connection.vendor == "postgresql":
            automated_rows_copy(new)
        else:
            created = Score.objects.bulk_create(
                [Score(source=ScoreSource.AUTOMATED, **row) for row in new], batch_size=1000
            )
            ScoreEvent.objects.bulk_create([_event_row(s, ScoreEvent.Action.CREATE) for s in created], batch_size=1000)
        if changed:
            Score.objects.bulk_update(changed, [*_SCORE_FIELDS, "config", "updated_at"], batch_size=1000)
            ScoreEvent.objects.bulk_create([_event_row(s, ScoreEvent.Action.UPDATE) for s in changed])
    return len(new) + len(changed)
