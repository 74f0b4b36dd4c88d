"""Reads of gold values: an item's gold, a span's gold (for datasets, exports, the trace page and the span
API), always as the caller may see it (blind queues hide gold from reviewers like other annotations)."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from .models import GoldSource, GoldValue, ReviewItem

EXPECTED = "expected"  # the name the Expected row goes by in API bodies and answers


def gold_state(gold) -> Any:
    """A gold score as a reviewer would give it: the labels, the label, the text, true/false or the number
    (the shape `score_value_clean` accepts back). The Expected row answers its expected value."""
    if gold.config_id is None:
        return gold.expected
    if gold.labels:
        return list(gold.labels)
    if gold.label:
        return gold.label
    if gold.text:
        return gold.text
    if gold.config.kind == "boolean":
        return gold.value is not None and gold.value >= 0.5
    return gold.value


def gold_display(gold) -> str:
    state = gold_state(gold)
    if isinstance(state, bool):
        return "yes" if state else "no"
    if isinstance(state, list):
        return ", ".join(map(str, state))
    if state is None:
        return ""
    if isinstance(state, float):
        return f"{state:g}"
    if isinstance(state, str):
        return state
    import json

    return json.dumps(state, ensure_ascii=False)


def gold_row(gold) -> dict[str, Any]:
    return {
        "config": EXPECTED if gold.config_id is None else gold.config.name,
        "config_id": gold.config_id,
        "value": gold_state(gold),
        "display": gold_display(gold),
        "source": gold.source,
        "chosen_from": None
        if gold.chosen_from is None
        else {"id": gold.chosen_from_id, "username": gold.chosen_from.get_username()},
        "note": gold.note,
        "decided_by": None
        if gold.decided_by is None
        else {"id": gold.decided_by_id, "username": gold.decided_by.get_username()},
        "decided_at": gold.decided_at.isoformat(),
    }


def _gold_rows(qs: QuerySet) -> QuerySet:
    return qs.select_related("config", "chosen_from", "decided_by").order_by("config__order", "config__name", "id")


def item_gold(item: ReviewItem) -> list[dict[str, Any]]:
    """An item's gold rows (Expected last), for leads and the API. Callers check visibility first."""
    rows = [gold_row(g) for g in _gold_rows(GoldValue.objects.filter(item=item))]
    return sorted(rows, key=lambda r: r["config"] == EXPECTED)


def item_gold_visible(item: ReviewItem, user) -> list[dict[str, Any]]:
    """`item_gold` as `user` may see it: nothing on a span they are blinded on."""
    from apps.reviews.visibility import annotations_visible_to

    if not annotations_visible_to(user, [item.span_id]).sees_others(item.span_id):
        return []
    return item_gold(item)


def item_revisions(item: ReviewItem, limit: int = 100) -> list[dict[str, Any]]:
    from .models import GoldValueRevision

    revisions = (
        GoldValueRevision.objects.filter(item=item)
        .select_related("config", "chosen_from", "decided_by")
        .order_by("-decided_at", "-id")[:limit]
    )
    return [{**gold_row(r), "cleared": r.cleared} for r in revisions]


def span_gold(span_pks: list[int], *, sources=(GoldSource.ADJUDICATED, GoldSource.KNOWN_ANSWER)) -> dict[int, dict]:
    """The gold of each span, for datasets and exports: {span pk: {"scores": {config name: value},
    "expected": value (key present only when an Expected is gold), "adjudicated": bool, "by": username,
    "at": iso time, "items": [item ids]}}. A span reviewed in several queues takes, per config, the most
    recently decided gold."""
    out: dict[int, dict] = {}
    if not span_pks:
        return out
    rows = (
        GoldValue.objects.filter(item__span_id__in=span_pks, source__in=sources)
        .select_related("config", "decided_by", "item")
        .order_by("decided_at", "id")
    )
    for gold in rows:  # oldest first: a newer decision overwrites
        entry = out.setdefault(
            gold.item.span_id, {"scores": {}, "adjudicated": False, "by": None, "at": None, "items": []}
        )
        if gold.config_id is None:
            entry["expected"] = gold.expected
        else:
            entry["scores"][gold.config.name] = gold_state(gold)
        entry["adjudicated"] = entry["adjudicated"] or gold.source == GoldSource.ADJUDICATED
        entry["by"] = gold.decided_by.get_username() if gold.decided_by else None
        entry["at"] = gold.decided_at.isoformat()
        if gold.item_id not in entry["items"]:
            entry["items"].append(gold.item_id)
    return out


def span_gold_visible(span_pks: list[int], user) -> dict[int, dict]:
    """`span_gold` as `user` may see it (blind queues)."""
    from apps.reviews.visibility import annotations_visible_to

    visibility = annotations_visible_to(user, span_pks)
    return {pk: g for pk, g in span_gold(span_pks).items() if visibility.sees_others(pk)}


def adjudicated_items(queue) -> QuerySet:
    """The queue's items with at least one adjudicated gold value."""
    return ReviewItem.objects.filter(queue=queue).filter(
        Exists(GoldValue.objects.filter(item_id=OuterRef("pk"), source=GoldSource.ADJUDICATED))
    )


def span_gold_api_extension(spans, request) -> dict[int, dict[str, Any]]:
    """Adds `gold` to spans of the trace/span read API that have one (as the caller may see it)."""
    golds = span_gold_visible([s.pk for s in spans], request.user)
    return {pk: {"gold": {k: v for k, v in g.items() if k != "items"}} for pk, g in golds.items()}


def trace_page_gold_panel(*, request, trace, span=None, **_kwargs) -> dict | None:
    """The trace page's Gold panel: the selected span's gold values, who decided them and why."""
    from apps.projects.permissions import can

    if span is None or not can(request.user, "project.view", trace.project):
        return None
    from apps.reviews.visibility import annotations_visible_to

    if not annotations_visible_to(request.user, [span.pk]).sees_others(span.pk):
        return None
    golds = list(_gold_rows(GoldValue.objects.filter(item__span=span).select_related("item__queue")))
    if not golds:
        return None
    rows = [{**gold_row(g), "queue": g.item.queue.name} for g in golds]
    return {"title": "Gold", "template": "queues/_gold_panel.html", "context": {"gold_rows": rows}}
