"""Bodies of the queue admin's kanban board and analytics screens (the review loop is in admin_views.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import prefetch_related_objects
from django.http import JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from . import analytics, selectors
from .admin_views import _ctx, _queue_or_404
from .models import ItemStatus, ReviewQueue

MAX_ASSIGNEES = 500


def _board_filters(request, queue: ReviewQueue) -> dict[str, Any]:
    User = get_user_model()
    assignee = request.user if request.GET.get("mine") == "1" else None
    reviewer = None
    raw = request.GET.get("reviewer", "")
    if raw.isdigit():
        reviewer = User.objects.filter(pk=int(raw), memberships__project=queue.project).first()
        if reviewer is None and request.user.is_superuser:
            reviewer = User.objects.filter(pk=int(raw)).first()
    return {"assignee": assignee, "reviewer": reviewer}


def _cards(request, queue: ReviewQueue, status: str, filters: dict, after: int | None = None):
    items = selectors.board_items(
        queue=queue, status=status, after=after, limit=selectors.BOARD_PAGE + 1, viewer=request.user, **filters
    )
    more = len(items) > selectors.BOARD_PAGE
    items = items[: selectors.BOARD_PAGE]
    summaries = selectors.item_score_summaries(queue=queue, items=items, user=request.user)
    cards = [{"item": i, "summary": summaries.get(i.pk, [])} for i in items]
    return cards, more


def _board_queue(model_admin, request, queue_id: int) -> ReviewQueue:
    """The queue with its score configs read once for every column's cards."""
    queue = _queue_or_404(model_admin, request, queue_id)
    prefetch_related_objects([queue], "score_configs")
    return queue


def board_view(model_admin, request, queue_id: int):
    queue = _board_queue(model_admin, request, queue_id)
    filters = _board_filters(request, queue)
    counts = selectors.board_counts(queue=queue, viewer=request.user, **filters)
    columns = []
    for status, label in ItemStatus.choices:
        cards, more = _cards(request, queue, status, filters)
        columns.append({"status": status, "label": label, "count": counts[status], "cards": cards, "more": more})
    User = get_user_model()
    reviewers = User.objects.filter(memberships__project=queue.project).order_by("username").distinct()[:200]
    can_move = selectors.user_may_lead(queue=queue, user=request.user)
    assignable = (
        list(selectors.queue_assignable_users(queue=queue).values("id", "username")[:MAX_ASSIGNEES]) if can_move else []
    )
    return render(
        request,
        "admin/queues/board.html",
        _ctx(
            model_admin,
            request,
            title=f"Board · {queue.name}",
            queue=queue,
            columns=columns,
            reviewers=reviewers,
            filters=filters,
            mine=request.GET.get("mine") == "1",
            can_move=can_move,
            can_review=selectors.user_may_review(queue=queue, user=request.user),
            progress=selectors.queue_progress(queue=queue, user=request.user),
            filtered=any(filters.values()),
            board_state={
                "queueId": queue.pk,
                "itemUrl": reverse("review-item", args=[queue.pk, 0]).replace("/0/", "/{id}/"),
                "columnUrl": reverse("admin:queues_reviewqueue_board_column", args=[queue.pk]),
                "reviewUrl": reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, 0]).replace(
                    "/0/", "/{id}/"
                ),
                "query": request.GET.urlencode(),
                "filtered": any(filters.values()),
                "canAssign": can_move,
                "assignees": assignable,
                "me": request.user.pk,
                "mine": request.GET.get("mine") == "1",
            },
        ),
    )


def board_column_view(model_admin, request, queue_id: int):
    """More cards of one column (after the last shown), as an HTML fragment."""
    queue = _board_queue(model_admin, request, queue_id)
    status = request.GET.get("status", "")
    after = request.GET.get("after", "")
    if status not in ItemStatus.values or not after.isdigit():
        return JsonResponse({"error": "Invalid column.", "fields": {"status": ["Give status and after."]}}, status=400)
    cards, more = _cards(request, queue, status, _board_filters(request, queue), after=int(after))
    html = render_to_string(
        "admin/queues/_cards.html",
        {
            "cards": cards,
            "queue": queue,
            "can_move": selectors.user_may_lead(queue=queue, user=request.user),
        },
        request=request,
    )
    return JsonResponse({"html": html, "more": more})


# ---------------------------------------------------------------- analytics


def analytics_view(model_admin, request, queue_id: int):
    queue = _queue_or_404(model_admin, request, queue_id)
    data = analytics.queue_analytics(queue)
    data["progress"] = selectors.queue_progress(queue=queue, user=request.user)
    from .quality_admin_views import quality_context

    data["quality"] = quality_context(request, queue)
    return render(
        request,
        "admin/queues/analytics.html",
        _ctx(
            model_admin,
            request,
            title=f"Analytics · {queue.name}",
            queue=queue,
            **data,
        ),
    )
