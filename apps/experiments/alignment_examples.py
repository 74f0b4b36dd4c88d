"""A new judge version from human labels: the current definition with `examples` set to few-shot examples
taken from gold or agreed human labels of a config, balanced across labels and bounded in number."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Max

from apps.core.exceptions import ApplicationError
from apps.projects.permissions import require
from apps.queues.models import GoldValue
from apps.reviews.models import Score, ScoreConfig, ScoreKind, ScoreSource
from apps.traces.models import Span

from .alignment import HumanLabel, human_config_for, human_labels
from .models import ExperimentResult, Scorer, ScorerVersion

DEFAULT_EXAMPLES = 6
MAX_EXAMPLES = 20
CANDIDATE_SPANS = 2_000  # the newest labelled spans considered
MAX_FIELD_CHARS = 2_000
CONTINUOUS_BINS = 4


def definition_hash(definition: dict) -> str:
    """sha256 of the canonical JSON of a definition (sorted keys, no spaces)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _bounded(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= MAX_FIELD_CHARS:
        return value
    return (value if isinstance(value, str) else text)[:MAX_FIELD_CHARS] + "…"


def _label_of(config: ScoreConfig, label: HumanLabel) -> tuple[str, float | None, str]:
    """(balancing group, numeric value, label text) of a human label."""
    if config.kind == ScoreKind.BOOLEAN:
        return ("yes" if label.value else "no"), (1.0 if label.value else 0.0), ("yes" if label.value else "no")
    if config.kind == ScoreKind.CATEGORICAL:
        return label.value, config.option_values.get(label.value), label.value
    width = (config.max_value - config.min_value) or 1.0
    group = min(CONTINUOUS_BINS - 1, int((label.value - config.min_value) / width * CONTINUOUS_BINS))
    return f"bin{group}", label.value, f"{label.value:g}"


def _candidate_spans(config: ScoreConfig) -> list[int]:
    scored = Score.objects.filter(config=config, source=ScoreSource.HUMAN).values("span_id")
    gold = GoldValue.objects.filter(config=config).values("item__span_id")
    ids = set(Span.objects.filter(pk__in=scored).order_by("-pk").values_list("pk", flat=True)[:CANDIDATE_SPANS]) | set(
        Span.objects.filter(pk__in=gold).order_by("-pk").values_list("pk", flat=True)[:CANDIDATE_SPANS]
    )
    return sorted(ids)


def labelled_examples(config: ScoreConfig, *, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` examples, round-robin over label groups (the oldest labelled span of each first), so
    no label crowds the others out."""
    labels = human_labels(config, _candidate_spans(config))
    groups: dict[str, list[int]] = defaultdict(list)
    for span_id in sorted(labels):
        groups[_label_of(config, labels[span_id])[0]].append(span_id)
    chosen: list[int] = []
    while len(chosen) < limit and any(groups.values()):
        for name in sorted(groups):
            if groups[name] and len(chosen) < limit:
                chosen.append(groups[name].pop(0))
    spans = {s.pk: s for s in Span.objects.filter(pk__in=chosen).only("input", "output", "expected")}
    results = {r.span_id: r for r in ExperimentResult.objects.filter(span_id__in=chosen).only("span_id", "expected")}
    examples = []
    for span_id in chosen:
        span, result = spans[span_id], results.get(span_id)
        expected = span.expected if span.expected is not None else getattr(result, "expected", None)
        _, value, label = _label_of(config, labels[span_id])
        examples.append(
            {
                "input": _bounded(span.input),
                "output": _bounded(span.output),
                "expected": _bounded(expected),
                "value": value,
                "label": label,
            }
        )
    return examples


def _limit(raw: Any) -> int:
    if raw in (None, ""):
        return DEFAULT_EXAMPLES
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if isinstance(raw, bool) or not 1 <= limit <= MAX_EXAMPLES:
        raise ApplicationError(
            "Invalid max_examples.", fields={"max_examples": [f"A whole number from 1 to {MAX_EXAMPLES}."]}
        )
    return limit


@transaction.atomic
def judge_version_from_labels(
    *, actor: Any, scorer: Scorer, human_config: str | None = None, max_examples: Any = None
) -> ScorerVersion:
    """A new version of `scorer` (an LLM judge) copying its newest definition with `examples` from human
    labels of `human_config` (default: the config the judge writes)."""
    require(actor, "score_config.manage", scorer.project)
    locked = Scorer.objects.select_for_update().get(pk=scorer.pk)
    current = locked.versions.select_related("config").order_by("-number").first()
    if current is None:
        raise ApplicationError("No version yet.", fields={"scorer": ["The judge has no version to start from."]})
    config = human_config_for(locked, human_config, current)
    examples = labelled_examples(config, limit=_limit(max_examples))
    if not examples:
        raise ApplicationError(
            "No human labels.", fields={"human_config": [f"No gold or agreed human labels of {config.name} yet."]}
        )
    definition = {**(current.definition or {}), "examples": examples}
    number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    user = actor if getattr(actor, "is_authenticated", False) else None
    version = ScorerVersion.objects.create(
        scorer=locked,
        number=number,
        config=current.config,
        definition=definition,
        definition_hash=definition_hash(definition),
        note=f"v{current.number} with {len(examples)} examples from human labels of {config.name}",
        created_by=user,
    )
    locked.latest_version = number
    locked.save(update_fields=["latest_version", "updated_at"])
    return version
