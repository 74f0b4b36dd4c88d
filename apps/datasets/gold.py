"""Gold into dataset records: a span with an adjudicated (or known) gold value gives its record the gold
Expected (`expected_source` "auto" and "gold") and says so in the record's metadata under `assay`:
`{"adjudicated": true, "adjudicated_by", "adjudicated_at", "gold_scores": {config: value},
"expected_from_gold": bool, "review_items": [ids]}`."""

from __future__ import annotations

from typing import Any


def spans_gold(span_pks: list[int]) -> dict[int, dict]:
    from apps.queues.gold import span_gold

    return span_gold(span_pks)


def spans_with_gold_count(spans) -> int:
    """How many of a span queryset have any gold value (the mapping form says so)."""
    from apps.queues.models import GoldValue

    return GoldValue.objects.filter(item__span__in=spans.values("pk")).values("item__span_id").distinct().count()


def gold_expected(gold: dict | None) -> tuple[bool, Any]:
    """(has a gold Expected, its value)."""
    if gold is None or "expected" not in gold:
        return False, None
    return True, gold["expected"]


def record_gold_metadata(gold: dict, *, expected_from_gold: bool) -> dict[str, Any]:
    return {
        "adjudicated": bool(gold["adjudicated"]),
        "adjudicated_by": gold["by"],
        "adjudicated_at": gold["at"],
        "gold_scores": dict(gold["scores"]),
        "expected_from_gold": expected_from_gold,
        "review_items": list(gold["items"]),
    }
