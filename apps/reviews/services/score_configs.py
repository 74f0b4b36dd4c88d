"""Score configs: create, update (re-valuing categorical scores), archive, restore, delete."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError, unknown_fields_refuse
from apps.core.parsing import int_column_error
from apps.projects.models import Project

from ..models import CONFIG_FIELDS, Score, ScoreConfig, ScoreEvent, ScoreKind
from .validation import FieldErrors, is_finite_number

MAX_CONFIG_NAME = 100
MAX_TEXT_LIMIT = 100_000
MAX_OPTION_LABEL = 200


def score_config_clean(*, project: Project, data: dict[str, Any], instance: ScoreConfig | None = None) -> dict:
    """Validated, normalised config fields (merged over `instance`); raises ApplicationError naming fields."""
    errors = FieldErrors()
    current = {f: getattr(instance, f) for f in CONFIG_FIELDS} if instance else dict(_NEW_CONFIG)
    merged = {**current, **{k: v for k, v in data.items() if k in CONFIG_FIELDS}}
    merged["name"] = _name_clean(merged["name"], project, instance, errors)
    if merged["description"] is None:
        merged["description"] = ""
    if not isinstance(merged["description"], str):
        errors.add("description", "Must be text.")
    kind = merged["kind"]
    if kind not in ScoreKind.values:
        errors.add("kind", f"Choose one of {', '.join(ScoreKind.values)}.")
    merged["order"] = _order_clean(merged["order"], errors)
    if kind == ScoreKind.CONTINUOUS:
        _range_clean(merged, errors)
    else:
        merged["min_value"], merged["max_value"] = current["min_value"], current["max_value"]
    if kind == ScoreKind.CATEGORICAL:
        merged["options"] = _options_clean(merged["options"], errors)
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


_NEW_CONFIG = {
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


def _name_clean(name: Any, project: Project, instance: ScoreConfig | None, errors: FieldErrors) -> Any:
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "This field is required.")
        return name
    name = name.strip()
    if len(name) > MAX_CONFIG_NAME:
        errors.add("name", f"At most {MAX_CONFIG_NAME} characters.")
    clash = ScoreConfig.objects.filter(project=project, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        errors.add("name", "A score config with this name exists in the project.")
    return name


def _order_clean(order: Any, errors: FieldErrors) -> Any:
    if isinstance(order, bool) or not isinstance(order, int):
        try:
            order = int(order)
        except (TypeError, ValueError, OverflowError):
            errors.add("order", "Must be an integer.")
    if isinstance(order, int) and (message := int_column_error(order, ScoreConfig, "order")):
        errors.add("order", message)
    return order


def _range_clean(merged: dict, errors: FieldErrors) -> None:
    lo, hi = merged["min_value"], merged["max_value"]
    if not is_finite_number(lo):
        errors.add("min_value", "Must be a finite number.")
    if not is_finite_number(hi):
        errors.add("max_value", "Must be a finite number.")
    if is_finite_number(lo) and is_finite_number(hi):
        if lo >= hi:
            errors.add("max_value", "Must be greater than min_value.")
        merged["min_value"], merged["max_value"] = float(lo), float(hi)


def _options_clean(options: Any, errors: FieldErrors) -> list[dict]:
    if not isinstance(options, list) or not options:
        errors.add("options", "Give a non-empty list of {label, value} options.")
        return []
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
        if not is_finite_number(value):
            errors.add(f"options.{i}.value", "Must be a finite number.")
            continue
        clean_options.append({"label": label, "value": value})
    return clean_options


def _config_check_existing_scores(instance: ScoreConfig, merged: dict, errors: FieldErrors) -> None:
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
    unknown_fields_refuse(data, CONFIG_FIELDS)
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
    unknown_fields_refuse(data, CONFIG_FIELDS)
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
        new = categorical_value(values, score.labels or ([score.label] if score.label else []))
        if new != score.value:
            Score.objects.filter(pk=score.pk).update(value=new)


def categorical_value(values: dict[str, float], labels: list[str]) -> float | None:
    picked = [values[label] for label in labels if label in values]
    return sum(picked) / len(picked) if picked else None


def score_config_archive(*, config: ScoreConfig, actor: Any = None) -> ScoreConfig:
    return _archived_set(config, archived=True, actor=actor)


def score_config_restore(*, config: ScoreConfig, actor: Any = None) -> ScoreConfig:
    return _archived_set(config, archived=False, actor=actor)


@transaction.atomic
def _archived_set(config: ScoreConfig, *, archived: bool, actor: Any) -> ScoreConfig:
    if config.is_archived != archived:
        config.is_archived, config.archived_at = archived, timezone.now() if archived else None
        config.save(update_fields=["is_archived", "archived_at", "updated_at"])
        audit_record(
            actor=actor,
            action="score_config.archive" if archived else "score_config.restore",
            obj=config,
            before={"is_archived": not archived},
            after={"is_archived": archived},
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
    scorers = config.scorer_versions.values("scorer_id").distinct().count()
    if scorers:
        raise ApplicationError(
            f"{scorers} scorer(s) write this score config; it cannot be deleted; archive it instead.",
            fields={"config": ["Scorers write it: archive it instead of deleting it."]},
        )
    ScoreEvent.objects.filter(config=config).delete()
    audit_record(actor=actor, action="score_config.delete", obj=config, before=audit_snapshot(config))
    config.delete()
