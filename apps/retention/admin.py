"""Retention in the admin: policies (project admins only), a dry-run preview with "Run now", and the
read-only log of runs. Custom screens go through get_urls -> a one-line method -> admin_views."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_tools import ReadOnlyAdminMixin
from apps.projects.admin_scope import ProjectScopedAdmin

from . import admin_views
from .models import RetentionPolicy, RetentionRun

MANAGE = "retention.manage"


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ProjectScopedAdmin):
    # Members see the policy and its log; only project admins change it, preview it or run it.
    view_action = "project.view"
    manage_action = MANAGE
    list_display = ("project", "max_age_days", "max_traces", "is_active", "last_run_at", "preview_link")
    list_filter = ("is_active",)
    list_select_related = ("project",)
    fields = ("project", "max_age_days", "max_traces", "is_active", "last_run_at")
    readonly_fields = ("last_run_at",)
    change_form_template = "admin/retention/retentionpolicy/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return ("project", *self.readonly_fields) if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", wrap(self.preview_view), name="retention_retentionpolicy_preview"),
            path("<int:pk>/run/", wrap(self.run_view), name="retention_retentionpolicy_run"),
        ] + super().get_urls()

    def preview_view(self, request, pk):
        return admin_views.retention_preview_view(self, request, pk)

    def run_view(self, request, pk):
        return admin_views.retention_run_view(self, request, pk)

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if self.can(request, MANAGE) else tuple(f for f in shown if f != "preview_link")

    @admin.display(description="Preview")
    def preview_link(self, obj):
        return format_html(
            '<a href="{}">Dry run</a>', reverse("admin:retention_retentionpolicy_preview", args=[obj.pk])
        )


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    view_action = "project.view"
    manage_action = MANAGE
    list_display = (
        "started_at",
        "project",
        "dry_run",
        "status",
        "traces_expired",
        "traces_deleted",
        "spans_deleted",
        "kept_pinned",
        "batches",
        "finished_at",
    )
    list_filter = ("status", "dry_run", "project")
    list_select_related = ("project",)
    show_full_result_count = False
    date_hierarchy = "started_at"
    deletable = False
