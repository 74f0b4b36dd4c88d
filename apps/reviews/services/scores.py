"""Score values: validating one against its config, writing it (with its history), deleting it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.traces.models import Span

from ..models import Score, ScoreConfig, ScoreEvent, ScoreKind, ScoreSource
from ..score_insert import human_scores_insert_new
from .comments import MAX_COMMENT_LENGTH
from .score_configs import categorical_value
from .validation import FieldErrors, is_finite_number


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
    *, config: ScoreConfig, raw: Any, errors: FieldErrors, name: str, allow_delete: bool = False
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
        if not is_finite_number(raw):
            errors.add(name, f"Expected a number from {config.min_value:g} to {config.max_value:g}.")
            return None
        if not config.min_value <= raw <= config.max_value:
            errors.add(name, f"{raw:g} is out of range: expected {config.min_value:g} to {config.max_value:g}.")
            return None
        return CleanScore(config=config, value=float(raw), comment=comment)
    if kind == ScoreKind.BOOLEAN:
        if isinstance(raw, bool):
            return CleanScore(config=config, value=1.0 if raw else 0.0, comment=comment)
        if is_finite_number(raw) and raw in (0, 1):
            return CleanScore(config=config, value=float(raw), comment=comment)
        errors.add(name, "Expected true or false.")
        return None
    if kind == ScoreKind.CATEGORICAL:
        return _categorical_clean(config, raw, comment, errors, name)
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


def _categorical_clean(
    config: ScoreConfig, raw: Any, comment: str, errors: FieldErrors, name: str
) -> CleanScore | None:
    """One option label (or, multi-select, a list of distinct labels) of the config."""
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
    value = categorical_value(values, labels)
    if config.multi_select:
        return CleanScore(config=config, value=value, labels=list(labels), comment=comment)
    return CleanScore(config=config, value=value, label=labels[0], comment=comment)


_SCORE_FIELDS = ("value", "label", "labels", "text", "comment")  # what a score holds, as its events keep it


def _score_event(score: Score, action: str) -> None:
    _score_event_row(score, action).save()


def score_write(*, span: Span, clean: CleanScore, author, source: str) -> Score | None:
    config = clean.config
    fields = {k: getattr(clean, k) for k in _SCORE_FIELDS}
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


def _score_event_row(score: Score, action: str) -> ScoreEvent:
    return ScoreEvent(
        project_id=score.project_id,
        span_id=score.span_id,
        config_id=score.config_id,
        score=score,
        action=action,
        **{k: getattr(score, k) for k in _SCORE_FIELDS},
        author_id=score.author_id,
        source=score.source,
    )


def human_scores_write(*, span: Span, cleans: list[CleanScore], author) -> list[Score | None]:
    """`score_write` for several human scores of one reviewer on one span, in a few statements: one
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
                events.append(_score_event_row(score, ScoreEvent.Action.DELETE))
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
            return [score_write(span=span, clean=clean, author=author, source=ScoreSource.HUMAN) for clean in cleans]
    if changed:
        Score.objects.bulk_update(changed, [*_SCORE_FIELDS, "updated_at"])
    events += [_score_event_row(s, ScoreEvent.Action.CREATE) for s in new]
    events += [_score_event_row(s, ScoreEvent.Action.UPDATE) for s in changed]
    if events:
        ScoreEvent.objects.bulk_create(events)
    if deleted:
        Score.objects.filter(pk__in=deleted).delete()
    return out


def _check_source(source: str, author, errors: FieldErrors, name: str = "source") -> None:
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
    errors = FieldErrors()
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
    return score_write(span=span, clean=clean, author=author, source=source)


@transaction.atomic
def score_delete(*, score: Score) -> None:
    _score_event(score, ScoreEvent.Action.DELETE)
    score.delete()
