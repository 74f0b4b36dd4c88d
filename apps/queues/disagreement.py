"""Where a queue's reviewers disagree: per item and score config (and the item's Expected), each
reviewer's value side by side, and whether they differ.

Only the reviewers who submitted the item count, and only configs two or more of them answered:
categorical and boolean disagree on different labels, continuous on a spread (max − min) above the
queue's `disagreement_threshold` share of the config's range, text and corrections on different values
once whitespace is normalised. Gold questions are not listed (their answers are known already).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q

from .gold import EXPECTED, gold_row
from .models import GoldValue, ReviewItem, ReviewQueue, ReviewSubmission

SCAN_CHUNK = 200
PAGE = 50
# Counts (analytics) scan at most this many multi-reviewed items, newest first (as agreement does).
COUNT_MAX_ITEMS = 5_000


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    return value


def _key(value: Any) -> str:
    return json.dumps(_normalised(value), sort_keys=True, ensure_ascii=False, default=str)


def _state(kind: str, value, label: str, labels: list, text: str) -> Any:
    """A reviewer's score as they gave it (labels, label, text, true/false or the number)."""
    if labels:
        return sorted(labels)
    if label:
        return label
    if text:
        return text
    if kind == "boolean":
        return value is not None and value >= 0.5
    return value


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def values_disagree(config, values: list[Any], threshold: float) -> tuple[bool, float | None]:
    """(disagree?, spread) for the values two or more reviewers gave; `config` None is the Expected."""
    if len(values) < 2:
        return False, None
    if config is not None and config.kind == "continuous":
        numbers = [float(v) for v in values if v is not None]
        if len(numbers) < 2:
            return False, None
        spread = max(numbers) - min(numbers)
        width = abs(config.max_value - config.min_value) or 1.0
        return spread > threshold * width + 1e-12, spread
    return len({_key(v) for v in values}) > 1, None


@dataclass
class ConfigRow:
    config: Any  # ScoreConfig, or None for the Expected
    values: dict[int, Any] = field(default_factory=dict)  # reviewer id -> value
    disagree: bool = False
    spread: float | None = None
    gold: dict | None = None

    @property
    def name(self) -> str:
        return EXPECTED if self.config is None else self.config.name

    def as_dict(self, reviewers: list[dict]) -> dict[str, Any]:
        return {
            "config": self.name,
            "config_id": None if self.config is None else self.config.pk,
            "kind": "expected" if self.config is None else self.config.kind,
            "values": [
                {
                    "reviewer": r,
                    "value": self.values.get(r["id"]),
                    "display": _display(self.values.get(r["id"])),
                    "given": r["id"] in self.values,
                }
                for r in reviewers
            ],
            "disagree": self.disagree,
            "spread": self.spread,
            "gold": self.gold,
        }


@dataclass
class ItemDisagreement:
    item: ReviewItem
    reviewers: list[dict]  # {"id", "username"} in submission order
    rows: list[ConfigRow]

    @property
    def disagreeing(self) -> list[ConfigRow]:
        return [r for r in self.rows if r.disagree]

    @property
    def open(self) -> bool:
        """Some disagreement has no gold value yet."""
        return any(r.gold is None for r in self.disagreeing)

    def as_dict(self, *, all_rows: bool = False) -> dict[str, Any]:
        span = self.item.span
        return {
            "item": self.item.pk,
            "status": self.item.status,
            "span_id": span.span_id,
            "trace_id": span.trace.trace_id,
            "trace_name": span.trace.name,
            "input_preview": span.trace.input_preview,
            "reviewers": self.reviewers,
            "adjudicated": not self.open,
            "configs": [r.as_dict(self.reviewers) for r in (self.rows if all_rows else self.disagreeing)],
        }


def item_disagreements(queue: ReviewQueue, items: list[ReviewItem]) -> list[ItemDisagreement]:
    """Every queue config (and the Expected) of each item, with each submitter's value (a few queries)."""
    from apps.reviews.models import Correction, Score, ScoreSource

    if not items:
        return []
    configs = list(queue.score_configs.all())
    by_item: dict[int, list[dict]] = defaultdict(list)
    for item_id, reviewer_id, username in (
        ReviewSubmission.objects.filter(item__in=items)
        .order_by("submitted_at", "id")
        .values_list("item_id", "reviewer_id", "reviewer__username")
    ):
        by_item[item_id].append({"id": reviewer_id, "username": username})
    span_pks = [i.span_id for i in items]
    submitted = {(i.span_id, r["id"]) for i in items for r in by_item[i.pk]}
    scores: dict[tuple[int, int], dict[int, Any]] = defaultdict(dict)  # (span, config) -> reviewer -> value
    kinds = {c.pk: c.kind for c in configs}
    for span_id, config_id, author_id, value, label, labels, text in Score.objects.filter(
        span_id__in=span_pks, config__in=configs, source=ScoreSource.HUMAN, author__isnull=False
    ).values_list(
        "span_id", "config_id", "author_id", "value", "label", "labels", "text"
    ):  # tuples, not model instances: building Score objects was most of the time on large queues
        if (span_id, author_id) in submitted:
            scores[(span_id, config_id)][author_id] = _state(kinds[config_id], value, label, labels, text)
    corrections: dict[int, dict[int, Any]] = defaultdict(dict)  # span -> reviewer -> newest value
    for span_id, author_id, value in (
        Correction.objects.filter(span_id__in=span_pks, author__isnull=False)
        .order_by("created_at", "id")
        .values_list("span_id", "author_id", "value")
    ):
        if (span_id, author_id) in submitted:
            corrections[span_id][author_id] = value
    golds = {
        (g.item_id, g.config_id): gold_row(g)
        for g in GoldValue.objects.filter(item__in=items).select_related("config", "chosen_from", "decided_by")
    }
    out = []
    threshold = queue.disagreement_threshold
    for item in items:
        rows = []
        for config in [*configs, None]:
            values = corrections[item.span_id] if config is None else scores[(item.span_id, config.pk)]
            disagree, spread = values_disagree(config, list(values.values()), threshold)
            rows.append(
                ConfigRow(
                    config=config,
                    values=dict(values),
                    disagree=disagree,
                    spread=spread,
                    gold=golds.get((item.pk, None if config is None else config.pk)),
                )
            )
        out.append(ItemDisagreement(item=item, reviewers=by_item[item.pk], rows=rows))
    return out


def _candidates(queue: ReviewQueue):
    """Multi-reviewed items, lean (their span and trace are read for the page shown only)."""
    return ReviewItem.objects.filter(queue=queue, submission_count__gte=2, is_gold_question=False).only(
        "id", "queue_id", "span_id", "status"
    )


def _with_spans(entries: list[ItemDisagreement]) -> list[ItemDisagreement]:
    spans = {
        i.pk: i.span
        for i in ReviewItem.objects.filter(pk__in=[e.item.pk for e in entries])
        .select_related("span__trace")
        .only("id", "span__span_id", "span__trace__trace_id", "span__trace__name", "span__trace__input_preview")
    }
    for entry in entries:
        entry.item.span = spans[entry.item.pk]
    return entries


def disagreements_for_queue(
    queue: ReviewQueue, *, state: str = "open", after: int | None = None, limit: int = PAGE
) -> tuple[list[ItemDisagreement], int | None]:
    """A page of the queue's items whose reviewers disagree, in item order after `after`: `state` "open"
    (some disagreement has no gold yet), "adjudicated" (every one has) or "all". Answers (page, the
    cursor of the next page or None)."""
    qs = _candidates(queue).order_by("id")
    if state == "adjudicated":
        qs = qs.filter(Exists(GoldValue.objects.filter(item_id=OuterRef("pk"))))
    if after is not None:
        qs = qs.filter(pk__gt=after)
    found: list[ItemDisagreement] = []
    last = after
    while len(found) < limit:
        chunk = list(qs.filter(Q(pk__gt=last) if last is not None else Q())[:SCAN_CHUNK])
        if not chunk:
            return _with_spans(found), None
        for entry in item_disagreements(queue, chunk):
            last = entry.item.pk
            if entry.disagreeing and (state == "all" or entry.open == (state == "open")):
                found.append(entry)
                if len(found) >= limit:
                    break
        else:
            last = chunk[-1].pk
    more = qs.filter(pk__gt=last).exists()
    return _with_spans(found), (last if more else None)


def next_open_disagreement(queue: ReviewQueue, *, after: int | None) -> ReviewItem | None:
    """The next item (after `after`, wrapping round once) with a disagreement that has no gold yet."""
    page, _ = disagreements_for_queue(queue, after=after, limit=1)
    if not page and after is not None:
        page, _ = disagreements_for_queue(queue, after=None, limit=1)
    return page[0].item if page else None


def disagreement_counts(queue: ReviewQueue) -> dict[str, int]:
    """For analytics: among the newest COUNT_MAX_ITEMS multi-reviewed items, how many disagree, how many
    of those are still open, and how many items of the queue were adjudicated at all."""
    from .gold import adjudicated_items

    items = list(_candidates(queue).order_by("-id")[:COUNT_MAX_ITEMS])
    disagreeing = open_ = 0
    for start in range(0, len(items), SCAN_CHUNK):
        for entry in item_disagreements(queue, items[start : start + SCAN_CHUNK]):
            if entry.disagreeing:
                disagreeing += 1
                open_ += entry.open
    return {
        "scanned": len(items),
        "disagreeing": disagreeing,
        "open": open_,
        "adjudicated": adjudicated_items(queue).count(),
    }
