"""Bodies of the retention policy's admin screens (wired in RetentionPolicyAdmin.get_urls).

The policy is loaded through the admin's queryset (another project's answers like a missing one, 404);
the preview needs `retention.manage` in its project and "Run now" `retention.run` (403 otherwise).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import admin_can

from .models import RetentionRun
from .selectors import retention_plan, retention_preview
from .services import retention_run_request


def _policy_or_404(model_admin, request, pk):
    policy = model_admin.get_queryset(request).select_related("project").filter(pk=pk).first()
    if policy is None:
        raise Http404("Retention policy not found.")
    return policy


def retention_preview_view(model_admin, request, pk):
    policy = _policy_or_404(model_admin, request, pk)
    if not admin_can(request, "retention.manage", policy.project_id):
        raise PermissionDenied
    preview = retention_preview(retention_plan(policy=policy))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": policy,
        "policy": policy,
        "title": f"Retention of {policy.project.name}: dry run",
        "preview": preview,
        "can_run": admin_can(request, "retention.run", policy.project_id),
        "runs": RetentionRun.objects.filter(policy=policy).order_by("-started_at", "-id")[:10],
    }
    response = TemplateResponse(request, "admin/retention/retentionpolicy/preview.html", context)
    response["Cache-Control"] = "no-store"
    return response


def retention_run_view(model_admin, request, pk):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    policy = _policy_or_404(model_admin, request, pk)
    if not admin_can(request, "retention.run", policy.project_id):
        raise PermissionDenied
    try:
        run = retention_run_request(actor=request.user, policy=policy)
    except ApplicationError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
    else:
        model_admin.message_user(request, f"Retention run {run.pk} queued; its log is below.", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:retention_retentionpolicy_preview", args=[policy.pk]))
