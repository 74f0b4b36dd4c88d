"""Bodies of the Disagreements screens: a queue's list of items where reviewers differ, and the keyboard
adjudication screen of one item (POST JSON saves its gold and answers the next open disagreement).

The list reads as the project's members may (blinded spans are left out, as on the board); adjudicating
needs `queue.adjudicate` (curator or admin) in the queue's project.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from apps.core.exceptions import ApplicationError, unknown_fields_refuse
from apps.core.parsing import json_parse
from apps.projects.permissions import can

from . import adjudication, disagreement, gold
from .admin_views import _ctx, _error_response, _item_or_404, _queue_or_404

ADJUDICATION_KEYS = {"scores", "expected", "note"}


def _visible(request, entries):
    from apps.reviews.visibility import annotations_visible_to

    visibility = annotations_visible_to(request.user, [e.item.span_id for e in entries])
    return [e for e in entries if visibility.sees_others(e.item.span_id)]


def disagreements_view(model_admin, request, queue_id: int):
    queue = _queue_or_404(model_admin, request, queue_id)
    state = request.GET.get("state") or "open"
    if state not in ("open", "adjudicated", "all"):
        state = "open"
    after = request.GET.get("after", "")
    entries, next_after = disagreement.disagreements_for_queue(
        queue, state=state, after=int(after) if after.isdigit() else None
    )
    rows = [e.as_dict() for e in _visible(request, entries)]
    return render(
        request,
        "admin/queues/disagreements.html",
        _ctx(
            model_admin,
            request,
            title=f"Disagreements · {queue.name}",
            queue=queue,
            rows=rows,
            state=state,
            next_after=next_after,
            can_adjudicate=can(request.user, "queue.adjudicate", queue.project),
            threshold_percent=round(queue.disagreement_threshold * 100, 1),
        ),
    )


def _next_url(queue, item_id: int) -> str:
    nxt = disagreement.next_open_disagreement(queue, after=item_id)
    if nxt is None or nxt.pk == item_id:
        return reverse("admin:queues_reviewqueue_disagreements", args=[queue.pk]) + "?done=1"
    return reverse("admin:queues_reviewqueue_adjudicate", args=[queue.pk, nxt.pk])


def _post(request, queue, item) -> JsonResponse:
    try:
        data, _ = json_parse(request.body or b"{}")  # the API's body rules: depth, surrogates, NUL
        if not isinstance(data, dict):
            raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
        unknown_fields_refuse(data, ADJUDICATION_KEYS)
        kwargs = {"expected": data["expected"]} if "expected" in data else {}
        rows = adjudication.item_adjudicate(
            actor=request.user, item=item, decisions=data.get("scores") or {}, note=data.get("note") or "", **kwargs
        )
    except ApplicationError as exc:
        return _error_response(exc)
    return JsonResponse({"gold": rows, "next_url": _next_url(queue, item.pk)})


def adjudicate_view(model_admin, request, queue_id: int, item_id: int):
    """GET: the item's reviewers side by side per config, with the keyboard controls; POST: save."""
    queue = _queue_or_404(model_admin, request, queue_id)
    if not can(request.user, "queue.adjudicate", queue.project):
        raise PermissionDenied("Adjudicating needs the curator role in the project.")
    item = _item_or_404(queue, item_id)
    if request.method == "POST":
        return _post(request, queue, item)
    if request.method != "GET":
        raise Http404
    entry = disagreement.item_disagreements(queue, [item])[0]
    data = entry.as_dict(all_rows=True)
    for number, reviewer in enumerate(data["reviewers"], start=1):
        reviewer["number"] = number
    configs = {c.pk: c for c in queue.score_configs.all()}
    for row in data["configs"]:
        config = configs.get(row["config_id"])
        row["options"] = [o["label"] for o in config.options] if config is not None and config.options else []
        row["multi"] = bool(config and config.multi_select)
        row["range"] = (
            [config.min_value, config.max_value] if config is not None and config.kind == "continuous" else None
        )
    state = {
        "saveUrl": reverse("admin:queues_reviewqueue_adjudicate", args=[queue.pk, item.pk]),
        "skipUrl": _next_url(queue, item.pk),
        "rows": [
            {
                "config": r["config"],
                "kind": r["kind"],
                "options": r["options"],
                "multi": r["multi"],
                "gold": r["gold"]["value"] if r["gold"] else None,
                "chosenFrom": r["gold"]["chosen_from"]["id"] if r["gold"] and r["gold"]["chosen_from"] else None,
                "given": [v["reviewer"]["id"] for v in r["values"] if v["given"]],
            }
            for r in data["configs"]
        ],
        "reviewers": [r["id"] for r in data["reviewers"]],
    }
    return render(
        request,
        "admin/queues/adjudicate.html",
        _ctx(
            model_admin,
            request,
            title=f"Adjudicate item {item.pk} · {queue.name}",
            queue=queue,
            item=item,
            entry=data,
            adjudication_state=state,
            history=gold.item_revisions(item, limit=20),
            trace_url=reverse("admin:traces_trace_change", args=[item.span.trace_id])
            + "?"
            + urlencode({"span": item.span.span_id}),
        ),
    )
