from django.contrib import admin, messages
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import ProjectScopedAdmin, ProjectScopedInline, policy_action

from .models import Membership, Project, ProjectAPIKey
from .services import api_key_create


class MembershipInline(ProjectScopedInline, admin.TabularInline):
    manage_action = "member.manage"
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


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
                    "+".join(scopes), project.slug, key,
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
