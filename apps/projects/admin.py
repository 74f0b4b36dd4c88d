from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.urls import path
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import ProjectScopedAdmin, ProjectScopedInline, admin_can, policy_action

from . import admin_views
from .models import Membership, Project, ProjectAPIKey, Role
from .services import api_key_create, member_remove, member_role_set


class MembershipFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors) or not self.instance.pk:
            return
        had_admin = self.instance.memberships.filter(role=Role.ADMIN, user__is_active=True).exists()
        keeps_admin = any(
            form.cleaned_data.get("role") == Role.ADMIN and form.instance.user.is_active
            for form in self.forms
            if form.instance.pk and not self._should_delete_form(form)
        )
        if had_admin and not keeps_admin:
            raise forms.ValidationError("A project keeps at least one admin: make someone else admin first.")


class MembershipInline(ProjectScopedInline, admin.TabularInline):
    """Roles are changed in place and members removed here; people are added by "Add member" (which
    makes the account when needed), so the inline adds no rows."""

    manage_action = "member.manage"
    model = Membership
    formset = MembershipFormSet
    extra = 0
    fields = ["user", "user_email", "role"]
    readonly_fields = ["user", "user_email"]

    @admin.display(description="Email")
    def user_email(self, obj):
        return obj.user.email if obj and obj.pk else ""

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None):
        return False  # "Add member" (the button above) adds people


class APIKeyInline(ProjectScopedInline, admin.TabularInline):
    manage_action = "api_key.manage"
    model = ProjectAPIKey
    extra = 0
    fields = ["name", "prefix", "scopes", "created", "revoked", "expiry_date", "last_used_at"]
    readonly_fields = ["prefix", "scopes", "created", "last_used_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # keys are made by the actions below, which show the secret once

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_field = "pk"
    manage_action = "project.manage"
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline, APIKeyInline]
    actions = ["create_full_key", "create_read_key", "create_feedback_key"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/members/add/", wrap(self.member_add_view), name="projects_project_member_add"),
        ] + super().get_urls()

    def member_add_view(self, request, pk):
        return admin_views.member_add_view(self, request, pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        project = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        can_add = project is not None and admin_can(request, "member.manage", project)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_add_member": can_add})

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Role changes and removals go through the member services (audit, queue assignments); promotions
        # to admin first, so handing the admin role over in one save keeps an admin at every step.
        deleted = [f for f in formset.deleted_forms if f.instance.pk]
        changed = [f for f in formset.forms if f not in deleted and f.instance.pk and f.has_changed()]
        changed.sort(key=lambda f: f.cleaned_data["role"] != Role.ADMIN)
        for inline_form in changed:
            member_role_set(
                actor=request.user,
                membership=Membership.objects.get(pk=inline_form.instance.pk),
                role=inline_form.cleaned_data["role"],
            )
        for inline_form in deleted:
            member_remove(actor=request.user, membership=Membership.objects.get(pk=inline_form.instance.pk))
        # What the admin's change message reads from a saved formset.
        formset.new_objects = []
        formset.changed_objects = [(f.instance, f.changed_data) for f in changed]
        formset.deleted_objects = [f.instance for f in deleted]

    def selection_allowed(self, request, queryset, action):
        # Key creation reports each refused project by name instead of refusing the whole selection.
        return action == "api_key.manage" or super().selection_allowed(request, queryset, action)

    def _create_keys(self, request, queryset, scopes: list[str]):
        allowed = queryset.filter(pk__in=self.user_projects(request, "api_key.manage"))
        refused = queryset.exclude(pk__in=allowed.values("pk"))
        for project in refused:
            self.message_user(request, f"You need the admin role in {project.slug} to create its keys.", messages.ERROR)
        for project in allowed:
            try:
                _, key = api_key_create(project=project, scopes=scopes, created_by=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                format_html(
                    "New {} key for {}: <code>{}</code> — copy it now, it is not shown again.",
                    "+".join(scopes),
                    project.slug,
                    key,
                ),
                messages.WARNING,
            )

    @admin.action(description="Create an API key (ingest, read, write)")
    @policy_action("api_key.manage")
    def create_full_key(self, request, queryset):
        self._create_keys(request, queryset, ["ingest", "read", "write"])

    @admin.action(description="Create a read-only API key")
    @policy_action("api_key.manage")
    def create_read_key(self, request, queryset):
        self._create_keys(request, queryset, ["read"])

    @admin.action(description="Create a feedback key (safe to publish in a browser)")
    @policy_action("api_key.manage")
    def create_feedback_key(self, request, queryset):
        self._create_keys(request, queryset, ["feedback"])
