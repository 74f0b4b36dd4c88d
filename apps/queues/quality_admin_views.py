"""Admin screens of reviewer quality and gold questions: the quality section of the analytics page,
a reviewer's drill-down, and the queue's gold-question list (mark and unmark)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.exceptions import ApplicationError
from apps.projects.permissions import can

from . import gold_questions, quality
from .admin_views import _ctx, _queue_or_404
from .models import GoldSource, GoldValue, ReviewItem
from .quality_charts import quality_charts


def quality_context(request, queue) -> dict[str, Any]:
    """The analytics page's reviewer-quality section: everyone for leads, else the user's own row."""
    lead = quality.may_see_everyone(queue=queue, actor=request.user)
    if lead:
        data = quality.queue_quality(queue)
    else:
        data = quality.queue_quality(queue, only_reviewer_id=request.user.pk, with_matrix=False)
        for row in data["reviewers"]:
            row.pop("gold", None)
    return {
        "lead": lead,
        "may_mark_gold": can(request.user, "queue.gold_questions", queue.project),
        **data,
        "charts": quality_charts(data),
    }


def reviewer_view(model_admin, request, queue_id: int):
    """`?id=<user id>`: one reviewer's figures and latest items beside the gold (leads; a reviewer sees
    their own values only). Anyone else's answers like a reviewer who does not exist."""
    queue = _queue_or_404(model_admin, request, queue_id)
    raw = request.GET.get("id", "")
    if not raw.isdigit():
        raise Http404("Reviewer not found.")
    reviewer_id = int(raw)
    lead = quality.may_see_everyone(queue=queue, actor=request.user)
    if not lead and reviewer_id != request.user.pk:
        raise Http404("Reviewer not found.")
    data = quality.queue_quality(queue, only_reviewer_id=reviewer_id, with_matrix=False)
    if not data["reviewers"]:
        raise Http404("Reviewer not found.")
    gold_only = lead and request.GET.get("gold") == "1"
    items = quality.reviewer_items(queue, reviewer_id=reviewer_id, gold_only=gold_only)
    if not lead:
        items = [quality.without_gold(row) for row in items]
    row = data["reviewers"][0]
    if not lead:
        row.pop("gold", None)
    return render(
        request,
        "admin/queues/reviewer.html",
        _ctx(
            model_admin,
            request,
            title=f"{row['username']} · {queue.name}",
            queue=queue,
            reviewer=row,
            items=items,
            lead=lead,
            gold_only=gold_only,
            configs=[c.name for c in queue.score_configs.all()],
            limit=quality.DRILL_DOWN_LIMIT,
        ),
    )


def gold_questions_view(model_admin, request, queue_id: int):
    """The queue's gold questions with their known answers, and the items a lead may make gold
    questions (those with gold values); POST `mark` / `unmark` with `item` ids."""
    queue = _queue_or_404(model_admin, request, queue_id)
    if not can(request.user, "queue.gold_questions", queue.project):
        raise PermissionDenied("Gold questions need the curator role in the project.")
    if request.method == "POST":
        ids = [int(x) for x in request.POST.getlist("item") if x.isdigit()][: gold_questions.MAX_IMPORT]
        op = request.POST.get("op")
        try:
            if op == "mark" and ids:
                result = gold_questions.gold_questions_mark(queue=queue, item_ids=ids, actor=request.user)
                messages.success(
                    request,
                    f"{len(result['marked'])} item(s) are gold questions now."
                    + (
                        f" {len(result['skipped'])} without gold values left as they were." if result["skipped"] else ""
                    ),
                )
            elif op == "unmark" and ids:
                result = gold_questions.gold_questions_unmark(queue=queue, item_ids=ids, actor=request.user)
                messages.success(request, f"{len(result['unmarked'])} gold question(s) are normal items again.")
            else:
                messages.error(request, "Choose items and an action.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("admin:queues_reviewqueue_gold_questions", queue.pk)
    candidates = (
        ReviewItem.objects.filter(queue=queue, is_gold_question=False, gold_values__config__isnull=False)
        .distinct()
        .select_related("span__trace")
        .order_by("-id")[:200]
    )
    sources = {}
    for item_id, source in GoldValue.objects.filter(item__in=candidates).values_list("item_id", "source"):
        sources.setdefault(item_id, set()).add(GoldSource(source).label)
    return render(
        request,
        "admin/queues/gold_questions.html",
        _ctx(
            model_admin,
            request,
            title=f"Gold questions · {queue.name}",
            queue=queue,
            questions=gold_questions.gold_questions_of(queue=queue),
            candidates=[{"item": i, "sources": sorted(sources.get(i.pk, []))} for i in candidates],
        ),
    )
