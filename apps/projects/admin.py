from django.contrib import admin, messages
from django.utils.html import format_html

from apps.core.admin import ProjectScopedAdmin
from apps.core.exceptions import ApplicationError

from .models import Membership, Project, ProjectAPIKey
from .selectors import user_has_role
from .services import api_key_create


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class APIKeyInline(admin.TabularInline):
    model = ProjectAPIKey
    extra = 0
    fields = ["name", "prefix", "scopes", "created", "revoked", "expiry_date", "last_used_at"]
    readonly_fields = ["prefix", "scopes", "created", "last_used_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_field = "pk"
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline, APIKeyInline]
    actions = ["create_full_key", "create_read_key", "create_feedback_key"]

    def get_queryset(self, request):
        qs = super(ProjectScopedAdmin, self).get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk__in=self.user_projects(request))

    def has_add_permission(self, request):
        return request.user.is_superuser

    # A member may be admin of one project and viewer of another: decide per project.
    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return request.user.is_active and request.user.is_staff and user_has_role(request.user, obj, "admin")

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request)
        return request.user.is_active and request.user.is_staff and user_has_role(request.user, obj, "admin")

    def _create_keys(self, request, queryset, scopes: list[str]):
        allowed = queryset.filter(pk__in=self.user_projects(request, min_role="admin"))
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
    def create_full_key(self, request, queryset):
        self._create_keys(request, queryset, ["ingest", "read", "write"])

    @admin.action(description="Create a read-only API key")
    def create_read_key(self, request, queryset):
        self._create_keys(request, queryset, ["read"])

    @admin.action(description="Create a feedback key (safe to publish in a browser)")
    def create_feedback_key(self, request, queryset):
        self._create_keys(request, queryset, ["feedback"])
