"""Adjudication: a lead (curator or admin) settles an item's gold value per score config and for its
Expected, picking one reviewer's value or writing their own, with a note.

Values are validated against the config as scores are (`apps.reviews.services.scores.score_value_clean`);
every change appends a GoldValueRevision and an `adjudication.set` audit event in the same transaction.
`gold_value_set` is the one write of a gold row (known answers of gold questions use it too).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import adjudication_record
from apps.core.exceptions import ApplicationError, not_found
from apps.projects.models import ProjectAPIKey
from apps.projects.permissions import require

from .gold import EXPECTED, gold_display, item_gold
from .models import GoldSource, GoldValue, GoldValueRevision, ReviewItem, ReviewSubmission

MAX_NOTE = 5_000
VALUE_FIELDS = ("value", "label", "labels", "text", "expected")
_UNSET: Any = object()


def _summary(gold: GoldValue | None) -> dict | None:
    if gold is None:
        return None
    return {
        "value": gold_display(gold)[:500],
        "source": gold.source,
        "chosen_from": gold.chosen_from_id,
        "note": gold.note[:500],
    }


def _revision(gold: GoldValue, *, cleared: bool = False) -> GoldValueRevision:
    return GoldValueRevision.objects.create(
        gold=None if cleared else gold,
        cleared=cleared,
        project_id=gold.project_id,
        item_id=gold.item_id,
        config_id=gold.config_id,
        **{f: getattr(gold, f) for f in VALUE_FIELDS},
        source=gold.source,
        chosen_from_id=gold.chosen_from_id,
        note=gold.note,
        decided_by_id=gold.decided_by_id,
        decided_at=gold.decided_at,
    )


def gold_value_set(
    *,
    item: ReviewItem,
    config,
    fields: dict[str, Any] | None,
    source: str = GoldSource.ADJUDICATED,
    chosen_from=None,
    note: str = "",
    actor: Any = None,
) -> GoldValue | None:
    """Write one gold row of `item` (config None: the Expected) from already validated `fields` (the
    VALUE_FIELDS), or clear it (`fields` None). Unchanged values write nothing. Callers check the role
    and run inside a transaction."""
    decided_by = actor if actor is not None and not isinstance(actor, ProjectAPIKey) else None
    existing = GoldValue.objects.select_for_update().filter(item=item, config=config).first()
    before = _summary(existing)
    if fields is None:
        if existing is None:
            return None
        existing.decided_by = decided_by
        existing.decided_at = timezone.now()
        existing.note = note
        _revision(existing, cleared=True)
        existing.delete()
        adjudication_record(
            project=item.queue.project_id, actor=actor, item=item, config=config, before=before, after=None
        )
        return None
    values = {
        f: fields.get(f, [] if f == "labels" else None if f in ("value", "expected") else "") for f in VALUE_FIELDS
    }
    chosen_id = getattr(chosen_from, "pk", chosen_from)
    if (
        existing is not None
        and all(getattr(existing, f) == v for f, v in values.items())
        and existing.source == source
        and existing.chosen_from_id == chosen_id
        and existing.note == note
    ):
        return existing
    gold = existing or GoldValue(project_id=item.queue.project_id, item=item, config=config)
    for f, v in values.items():
        setattr(gold, f, v)
    gold.source, gold.chosen_from_id, gold.note = source, chosen_id, note
    gold.decided_by, gold.decided_at = decided_by, timezone.now()
    gold.save()
    _revision(gold)
    adjudication_record(
        project=item.queue.project_id, actor=actor, item=item, config=config, before=before, after=_summary(gold)
    )
    return gold


def _reviewer_id(ref: Any, submitters: dict[int, str]) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool) and ref in submitters:
        return ref
    if isinstance(ref, str):
        for pk, username in submitters.items():
            if username == ref or ref == str(pk):
                return pk
    return None


def _decision_keys(raw: Any, name: str, errors) -> dict | None:
    if raw is None:
        return {"clear": True}
    if not isinstance(raw, dict) or len(set(raw) & {"from", "value"}) != 1 or set(raw) - {"from", "value"}:
        errors.add(name, 'Give {"from": <reviewer id or username>} or {"value": …} (null clears the gold).')
        return None
    return raw


def _score_fields(config, decision: dict, *, span, submitters, errors, name) -> tuple[dict, int | None] | None:
    from apps.reviews.models import Score, ScoreSource
    from apps.reviews.services.scores import score_value_clean

    if "from" in decision:
        reviewer = _reviewer_id(decision["from"], submitters)
        if reviewer is None:
            errors.add(name, "Pick a reviewer who submitted this item.")
            return None
        score = Score.objects.filter(span=span, config=config, author_id=reviewer, source=ScoreSource.HUMAN).first()
        if score is None:
            errors.add(name, f"{submitters[reviewer]} gave no {config.name} score on this item.")
            return None
        return {
            "value": score.value,
            "label": score.label,
            "labels": list(score.labels or []),
            "text": score.text,
        }, reviewer
    clean = score_value_clean(config=config, raw=decision["value"], errors=errors, name=name)
    if clean is None:
        return None
    return {"value": clean.value, "label": clean.label, "labels": clean.labels, "text": clean.text}, None


def _expected_fields(decision: dict, *, span, submitters, errors) -> tuple[dict, int | None] | None:
    from apps.reviews.models import Correction
    from apps.reviews.services.corrections import expected_value_clean

    if "from" in decision:
        reviewer = _reviewer_id(decision["from"], submitters)
        if reviewer is None:
            errors.add(EXPECTED, "Pick a reviewer who submitted this item.")
            return None
        correction = Correction.objects.filter(span=span, author_id=reviewer).order_by("-created_at", "-id").first()
        if correction is None:
            errors.add(EXPECTED, f"{submitters[reviewer]} wrote no correction on this item.")
            return None
        return {"expected": correction.value}, reviewer
    value = decision["value"]
    if value is None:
        errors.add(EXPECTED, "A gold Expected needs a value (null clears it: send expected: null).")
        return None
    if not expected_value_clean(value, errors, EXPECTED):
        return None
    return {"expected": value}, None


@transaction.atomic
def item_adjudicate(
    *, actor: Any, item: ReviewItem, decisions: dict | None = None, expected: Any = _UNSET, note: str = ""
) -> list[dict[str, Any]]:
    """Settle `item`'s gold. `decisions` maps a config name (or id) of the queue to {"from": reviewer}
    (their value), {"value": …} (the lead's own, validated like a score) or None (clear); `expected` is
    the same for the Expected. Every field at fault is named before anything is written. Answers the
    item's gold rows."""
    from apps.reviews.services.validation import FieldErrors

    queue = item.queue
    require(actor, "queue.adjudicate", queue.project)
    locked = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("span")
        .filter(pk=item.pk, queue=queue)
        .first()
    )
    if locked is None:
        raise not_found("Item not found.")
    locked.queue = queue
    errors = FieldErrors()
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        errors.add("note", f"Text of at most {MAX_NOTE} characters.")
        note = ""
    decisions = decisions or {}
    if not isinstance(decisions, dict):
        raise ApplicationError("Invalid adjudication.", fields={"scores": ["An object of config: decision."]})
    if not decisions and expected is _UNSET:
        raise ApplicationError("Nothing to adjudicate.", fields={"scores": ["Give scores and/or expected."]})
    configs = {c.name: c for c in queue.score_configs.all()}
    by_id = {str(c.pk): c for c in configs.values()}
    submitters = dict(ReviewSubmission.objects.filter(item=locked).values_list("reviewer_id", "reviewer__username"))
    planned: list[tuple[Any, dict | None, int | None]] = []
    for ref, raw in decisions.items():
        name = f"scores.{ref}"
        config = configs.get(ref) or by_id.get(str(ref))
        if config is None:
            errors.add(name, "Not a score config of this queue.")
            continue
        decision = _decision_keys(raw, name, errors)
        if decision is None:
            continue
        if decision.get("clear"):
            planned.append((config, None, None))
            continue
        result = _score_fields(config, decision, span=locked.span, submitters=submitters, errors=errors, name=name)
        if result is not None:
            planned.append((config, *result))
    if expected is not _UNSET:
        decision = _decision_keys(expected, EXPECTED, errors)
        if decision is not None and decision.get("clear"):
            planned.append((None, None, None))
        elif decision is not None:
            result = _expected_fields(decision, span=locked.span, submitters=submitters, errors=errors)
            if result is not None:
                planned.append((None, *result))
    errors.raise_if_any("Invalid adjudication.")
    for config, fields, reviewer in planned:
        gold_value_set(item=locked, config=config, fields=fields, chosen_from=reviewer, note=note.strip(), actor=actor)
    return item_gold(locked)
