"""The review panel of the admin dashboard: the user's queues with progress, and reviewer activity."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from .models import ReviewSubmission
from .selectors import queue_progress, queues_for_user

MAX_QUEUES = 8


def review_dashboard_panel(request) -> dict[str, Any] | None:
    user = request.user
    queues = list(queues_for_user(user).order_by("-updated_at")[:MAX_QUEUES])
    if not queues:
        return None
    rows = [{"queue": q, "progress": queue_progress(queue=q, user=user)} for q in queues]
    reviewers = list(
        ReviewSubmission.objects.filter(item__queue__in=queues)
        .order_by()
        .values("reviewer__username")
        .annotate(n=Count("id"))
        .order_by("-n")[:10]
    )
    # The most recently active queue gets its charts and agreement figures on the dashboard too.
    from .analytics import queue_agreement, score_distribution

    focus = queues[0]
    focus_data = {
        "queue": focus,
        "distributions": [score_distribution(focus, c) for c in focus.score_configs.all()],
        "agreement": queue_agreement(focus),
    }
    return {
        "title": "Review queues",
        "template": "queues/_dashboard_panel.html",
        "context": {"rows": rows, "reviewers": reviewers, "focus": focus_data},
    }
