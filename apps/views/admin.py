"""Admin of trace views: the editor (spec, live preview, gallery, describe in words, share), share links,
the default view, and a page showing one trace through a view with live score controls."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core.parsing import is_id
from apps.projects.admin_scope import ProjectScopedAdmin

from . import admin_actions, admin_views
from .models import ShareLink, TraceView, TraceViewDefault


@admin.register(TraceView)
class TraceViewAdmin(ProjectScopedAdmin):
    manage_action = "trace_view.edit"
    list_display = ("name", "project", "component_count", "is_default", "updated_at", "editor_link")
    list_filter = ("project",)
    search_fields = ("name", "description")
    list_select_related = ("project",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    fields = ("project", "name", "description", "spec", "created_by", "created_at", "updated_at")

    @admin.display(description="components")
    def component_count(self, obj: TraceView) -> int:
        return len((obj.spec or {}).get("components") or [])

    def get_queryset(self, request):
        defaults = TraceViewDefault.objects.filter(view=OuterRef("pk"), queue__isnull=True)
        return super().get_queryset(request).annotate(has_default=Exists(defaults))

    @admin.display(description="default in review", boolean=True)
    def is_default(self, obj: TraceView) -> bool:
        return obj.has_default

    @admin.display(description="")
    def editor_link(self, obj: TraceView) -> str:
        return format_html('<a href="{}">Open editor</a>', reverse("admin:views_traceview_editor", args=[obj.pk]))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("editor/", wrap(self.editor_view), name="views_traceview_editor_new"),
            path("<int:pk>/editor/", wrap(self.editor_view), name="views_traceview_editor"),
            path("<int:pk>/trace/<str:trace_ref>/", wrap(self.trace_page_view), name="views_traceview_trace"),
            *super().get_urls(),
        ]

    def editor_view(self, request, pk: int | None = None):
        return admin_views.trace_view_editor_view(self, request, pk)

    def trace_page_view(self, request, pk: int, trace_ref: str):
        return admin_views.trace_view_trace_view(self, request, pk, trace_ref)

    def add_view(self, request, form_url="", extra_context=None):
        if self.has_add_permission(request):
            return redirect("admin:views_traceview_editor_new")
        return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_queryset(request).filter(pk=object_id).first() if is_id(object_id) else None
        if obj is not None and self.has_change_permission(request, obj):
            return redirect("admin:views_traceview_editor", pk=obj.pk)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ShareLink)
class ShareLinkAdmin(ProjectScopedAdmin):
    manage_action = "share_link.manage"
    list_display = ("view", "trace", "project", "status", "expires_at", "created_by", "created_at")
    list_filter = ("project",)
    list_select_related = ("view", "trace", "project", "created_by")
    readonly_fields = ("project", "view", "trace", "expires_at", "revoked_at", "created_by", "created_at")
    exclude = ("key",)
    actions = [admin_actions.revoke]

    @admin.display(description="status")
    def status(self, obj: ShareLink) -> str:
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.expires_at > timezone.now() else "expired"

    def has_add_permission(self, request):
        return False  # links are made from the editor or the API, which return the signed URL once


@admin.register(TraceViewDefault)
class TraceViewDefaultAdmin(ProjectScopedAdmin):
    manage_action = "trace_view.edit"
    list_display = ("project", "queue", "view")
    list_select_related = ("project", "queue", "view")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("view", "queue") and not request.user.is_superuser:
            projects = self.user_projects(request, self.manage_action)
            kwargs["queryset"] = db_field.related_model.objects.filter(project__in=projects)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
