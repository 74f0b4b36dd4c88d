"""A ModelAdmin base that scopes everything to the user's projects and grants by project role."""

from __future__ import annotations

from django.contrib import admin

from apps.audit.admin import AuditAdminMixin
from apps.projects.models import ROLE_RANK, Membership, Project
from apps.projects.selectors import projects_for_user


class ProjectScopedAdmin(AuditAdminMixin, admin.ModelAdmin):
    """Rows are filtered to the user's projects through `project_field`.

    Members act by role instead of Django model permissions: `view_role` may view,
    `change_role` may add/change/delete. Superusers see all.
    """

    project_field = "project"
    view_role = "viewer"
    change_role = "admin"

    def user_projects(self, request, min_role: str | None = None):
        return projects_for_user(request.user, min_role=min_role)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.project_field}__in": self.user_projects(request)})

    def _has_role(self, request, role: str) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return True
        # One query per request, not one per model and permission on every admin page.
        best = getattr(request, "_assay_best_role_rank", None)
        if best is None:
            roles = Membership.objects.filter(user=user).values_list("role", flat=True).distinct()
            best = max((ROLE_RANK[r] for r in roles), default=-1)
            request._assay_best_role_rank = best
        return best >= ROLE_RANK[role]

    def has_module_permission(self, request):
        return self._has_role(request, self.view_role)

    def has_view_permission(self, request, obj=None):
        return self._has_role(request, self.view_role)

    def has_add_permission(self, request):
        return self._has_role(request, self.change_role)

    def has_change_permission(self, request, obj=None):
        return self._has_role(request, self.change_role)

    def has_delete_permission(self, request, obj=None):
        return self._has_role(request, self.change_role)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Project and not request.user.is_superuser:
            kwargs["queryset"] = self.user_projects(request, min_role=self.change_role)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
