"""The audit log in the admin: the project-wide list (filters by project, actor, action, object type and
date; CSV/JSONL download of what the filters select) and, through `AuditHistoryMixin`, each object's
"History" page. Read-only for everyone: nothing can be added, changed or deleted here."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db import transaction
from django.urls import path
from django.utils.html import format_html

from apps.core.admin_tools import ReadOnlyAdminMixin

from . import admin_views
from .models import AuditEvent
from .selectors import EXPORT_COLUMNS, audit_projects_for_user
from .services import audit_diff, audit_record, audit_snapshot

# The action prefix of each model the admin edits without a service (forms, inlines, delete).
ADMIN_ACTION_PREFIX = {
    "projects.project": "project",
    "projects.membership": "membership",
    "projects.projectapikey": "api_key",
    "queues.reviewqueue": "review_queue",
    "views.traceview": "trace_view",
    "views.sharelink": "share_link",
    "views.traceviewdefault": "trace_view_default",
    "retention.retentionpolicy": "retention_policy",
}


class AuditHistoryMixin:
    """Replaces a ModelAdmin's "History" page (the button on every change form) with the object's
    audit events."""

    def history_view(self, request, object_id, extra_context=None):
        return admin_views.object_history_view(self, request, object_id, extra_context=extra_context)


def _parent_of(obj):
    from apps.projects.models import Membership, ProjectAPIKey

    return obj.project if isinstance(obj, Membership | ProjectAPIKey) else None


def _record_saved(request, obj, before: dict | None) -> None:
    label = obj._meta.label_lower
    prefix = ADMIN_ACTION_PREFIX[label]
    after = audit_snapshot(obj)
    if before is None:
        audit_record(actor=request.user, action=f"{prefix}.create", obj=obj, parent=_parent_of(obj), after=after)
        return
    before, after = audit_diff(before, after)
    if not after:
        return
    action = f"{prefix}.update"
    if label == "projects.projectapikey" and after.get("revoked") is True:
        action = "api_key.revoke"
    audit_record(actor=request.user, action=action, obj=obj, parent=_parent_of(obj), before=before, after=after)


def _record_deleted(request, obj) -> None:
    audit_record(
        actor=request.user,
        action=f"{ADMIN_ACTION_PREFIX[obj._meta.label_lower]}.delete",
        obj=obj,
        parent=_parent_of(obj),
        before=audit_snapshot(obj),
    )


def _audited(model) -> bool:
    return model._meta.label_lower in ADMIN_ACTION_PREFIX


class AuditedAdminMixin:
    """For admins that save models without a service (the models of ADMIN_ACTION_PREFIX; other models'
    admins call services, which record): records create, update (the fields that changed, many-to-many
    included) and delete of the object and of its inlines, in the admin's transaction."""

    def save_model(self, request, obj, form, change):
        if _audited(type(obj)):
            stored = type(obj).objects.filter(pk=obj.pk).first() if change and obj.pk else None
            obj._audit_before = audit_snapshot(stored)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # many-to-many and inlines are saved here
        if _audited(type(form.instance)):
            _record_saved(request, form.instance, getattr(form.instance, "_audit_before", None))

    def save_formset(self, request, form, formset, change):
        model = formset.model
        if not _audited(model):
            return super().save_formset(request, form, formset, change)
        pks = [f.instance.pk for f in formset.forms if f.instance.pk]
        befores = {o.pk: audit_snapshot(o) for o in model.objects.filter(pk__in=pks)}
        deleting = [f.instance for f in formset.deleted_forms if f.instance.pk]
        for obj in deleting:
            _record_deleted(request, obj)
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            _record_saved(request, obj, None)
        for obj, _fields in formset.changed_objects:
            _record_saved(request, obj, befores.get(obj.pk))

    def delete_model(self, request, obj):
        if _audited(type(obj)):
            _record_deleted(request, obj)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        if _audited(queryset.model):
            for obj in queryset:
                _record_deleted(request, obj)
        super().delete_queryset(request, queryset)


class AuditAdminMixin(AuditHistoryMixin, AuditedAdminMixin):
    """What ProjectScopedAdmin takes from the audit app: the History page and the admin save paths."""


def _summary(value) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:160] + "…"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = False  # append-only: no add, change or delete for anyone, superusers included
    list_display = [
        "created_at",
        "project",
        "actor_label",
        "action",
        "object_type",
        "object_label",
        "before_summary",
        "after_summary",
    ]
    list_filter = [
        "project",
        ("actor_label", admin.AllValuesFieldListFilter),
        ("action", admin.AllValuesFieldListFilter),
        ("object_type", admin.AllValuesFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["project"]
    search_fields = ["object_repr", "object_id", "actor_label", "action"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100
    # The export's columns, the actor as the label it had then.
    fields = [{"actor": "actor_label"}.get(c, c) for c in EXPORT_COLUMNS if c != "id"]
    readonly_fields = fields

    @admin.display(description="object")
    def object_label(self, obj: AuditEvent):
        return format_html("{} <small>#{}</small>", obj.object_repr, obj.object_id)

    @admin.display(description="before")
    def before_summary(self, obj: AuditEvent) -> str:
        return _summary(obj.before)

    @admin.display(description="after")
    def after_summary(self, obj: AuditEvent) -> str:
        return _summary(obj.after)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(project__in=audit_projects_for_user(request.user))

    def _may_read(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or audit_projects_for_user(user).exists()

    def has_module_permission(self, request):
        return self._may_read(request)

    def has_view_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return self._may_read(request) and audit_projects_for_user(request.user).filter(pk=obj.project_id).exists()
        return self._may_read(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project" and not request.user.is_superuser:
            kwargs["queryset"] = audit_projects_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def lookup_allowed(self, lookup, value, request=None):
        # The per-object "History" page links here with these exact lookups.
        if lookup in {"object_type", "object_id", "parent_type", "parent_id"}:
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="audit_auditevent_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        return admin_views.audit_export_view(self, request)
