"""The "Add to review queue…" actions the trace and span changelists pick up from the registry."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.core.parsing import is_id
from apps.projects.admin_scope import policy_action
from apps.projects.permissions import projects_where

from .models import ReviewQueue
from .services.filling import review_items_add, review_items_add_traces


def _add_to_queue(modeladmin, request, queryset, *, kind: str):
    """The intermediate page of "Add to review queue…". With "select all", `queryset` is the whole
    filtered changelist; the insert runs in the database without loading the rows."""
    queues = (
        ReviewQueue.objects.filter(project__in=projects_where(request.user, "queue.manage"))
        .select_related("project")
        .order_by("project__slug", "name")
    )
    if request.POST.get("queue"):
        queue = queues.filter(pk=request.POST["queue"]).first() if is_id(request.POST["queue"]) else None
        if queue is None:
            modeladmin.message_user(request, "Choose one of your review queues.", messages.ERROR)
            return None
        try:
            if kind == "traces":
                result = review_items_add_traces(queue=queue, traces=queryset, actor=request.user)
            else:
                result = review_items_add(queue=queue, spans=queryset, actor=request.user)
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        modeladmin.message_user(
            request,
            format_html(
                'Added {} item(s) to <a href="{}">{}</a> ({} already there).',
                result["added"],
                reverse("admin:queues_reviewqueue_board", args=[queue.pk]),
                queue.name,
                result["already_queued"],
            ),
            messages.SUCCESS,
        )
        return None
    if not queues:
        modeladmin.message_user(request, "You administer no review queue yet: create one first.", messages.WARNING)
        return None
    return render(
        request,
        "admin/queues/add_to_queue.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Add to review queue",
            "queues": queues,
            "kind": kind,
            "opts": modeladmin.model._meta,
            "action_name": request.POST.get("action", ""),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "selected_count": None
            if request.POST.get("select_across") == "1"
            else len(request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)),
        },
    )


@policy_action("queue.manage")
@admin.action(description="Add to review queue…")
def add_traces_to_review_queue(modeladmin, request, queryset):
    return _add_to_queue(modeladmin, request, queryset, kind="traces")


@policy_action("queue.manage")
@admin.action(description="Add to review queue…")
def add_spans_to_review_queue(modeladmin, request, queryset):
    return _add_to_queue(modeladmin, request, queryset, kind="spans")
