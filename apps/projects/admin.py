from django.contrib import admin, messages
from django.utils.html import format_html

from apps.core.admin import ProjectScopedAdmin
from apps.core.exceptions import ApplicationError

from .models import Membership, Project, ProjectAPIKey
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
    actions = ["create_ingest_key"]

    def get_queryset(self, request):
        qs = super(ProjectScopedAdmin, self).get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk__in=self.user_projects(request))

    def has_add_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Create an API key (ingest, read, write)")
    def create_ingest_key(self, request, queryset):
        for project in queryset.filter(pk__in=self.user_projects(request, min_role="admin")):
            try:
                _, key = api_key_create(project=project, scopes=["ingest", "read", "write"], created_by=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                format_html("New key for {}: <code>{}</code> — copy it now, it is not shown again.", project.slug, key),
                messages.WARNING,
            )
