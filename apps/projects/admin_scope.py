"""A ModelAdmin base that scopes everything to the user's projects and decides every permission by the
role in the object's own project (`apps.projects.permissions`)."""

from __future__ import annotations

import functools

from django.contrib import admin, messages
from django.db import models

from apps.audit.admin import AuditAdminMixin
from apps.core.forms import BoundedJSONFormField
from apps.projects import permissions as policy
from apps.projects.models import Project
from apps.projects.selectors import projects_for_user


def request_roles(request) -> dict[int, str]:
    """The user's {project id: role}, loaded once per request (admin pages ask many times)."""
    roles = getattr(request, "_assay_roles", None)
    if roles is None:
        roles = policy.user_roles(request.user)
        request._assay_roles = roles
    return roles


def admin_can(request, action: str, project) -> bool:
    """The policy for a signed-in staff member in the admin."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    return policy.can(user, action, project, roles=request_roles(request))


def admin_can_anywhere(request, action: str) -> bool:
    """Whether the action is allowed in at least one project (shows buttons, lists, actions)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    return any(policy.role_allows(role, action) for role in request_roles(request).values())


def admin_projects(request, action: str):
    """The projects where the admin user may do `action` (for add forms and choice lists)."""
    return policy.projects_where(request.user, action)


def policy_action(action: str):
    """Mark an admin action with the policy action the selected objects' projects must grant."""

    def mark(fn):
        fn.policy_action = action
        return fn

    return mark


class ProjectScopedAdmin(AuditAdminMixin, admin.ModelAdmin):
    """Rows are filtered to the user's projects through `project_field`.

    Members act by role instead of Django model permissions: `view_action` may view, `add_action`
    / `change_action` / `delete_action` (default `manage_action`) may add, change and delete, each
    decided by the role in the object's own project. Admin actions are offered only where some
    project grants their policy action (`@policy_action(...)`, default `change_action`) and refuse a
    selection that reaches a project which does not. Superusers may do all.
    """

    project_field = "project"
    view_action = "project.view"
    manage_action = "project.manage"
    # JSON typed into an admin form is read under the same rules as an API body.
    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}
    add_action: str | None = None
    change_action: str | None = None
    delete_action: str | None = None

    # -- the policy, per object

    def _action(self, kind: str) -> str:
        return getattr(self, f"{kind}_action", None) or self.manage_action

    def object_project_id(self, obj) -> int:
        if self.project_field == "pk":
            return obj.pk
        return getattr(obj, f"{self.project_field}_id")

    def can(self, request, action: str, obj=None) -> bool:
        """`action` on `obj` (its own project), or without an object: in at least one project."""
        if obj is None:
            return admin_can_anywhere(request, action)
        return admin_can(request, action, self.object_project_id(obj))

    def user_projects(self, request, action: str | None = None):
        if action is None:
            return projects_for_user(request.user)
        return admin_projects(request, action)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.project_field}__in": self.user_projects(request)})

    def has_module_permission(self, request):
        return self.can(request, self.view_action)

    def has_view_permission(self, request, obj=None):
        return self.can(request, self.view_action, obj)

    def has_add_permission(self, request):
        return self.can(request, self._action("add"))

    def has_change_permission(self, request, obj=None):
        return self.can(request, self._action("change"), obj)

    def has_delete_permission(self, request, obj=None):
        return self.can(request, self._action("delete"), obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Project and not request.user.is_superuser:
            kwargs["queryset"] = self.user_projects(request, self._action("add"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- admin actions

    def action_policy(self, func) -> str:
        if getattr(func, "policy_action", None):
            return func.policy_action
        if "delete" in (getattr(func, "allowed_permissions", None) or ()):
            return self._action("delete")
        return self._action("change")

    def selection_allowed(self, request, queryset, action: str) -> bool:
        if request.user.is_superuser:
            return True
        allowed = self.user_projects(request, action)
        return not queryset.exclude(**{f"{self.project_field}__in": allowed}).exists()

    def _guard_action(self, func, action: str):
        @functools.wraps(func)
        def guarded(modeladmin, request, queryset):
            if not modeladmin.selection_allowed(request, queryset, action):
                modeladmin.message_user(
                    request,
                    f"Nothing done: some selected rows belong to a project where you lack the "
                    f"{policy.action_role(action)} role.",
                    messages.ERROR,
                )
                return None
            return func(modeladmin, request, queryset)

        return guarded

    def get_actions(self, request):
        actions = super().get_actions(request)
        guarded = {}
        for name, (func, action_name, description) in actions.items():
            action = self.action_policy(func)
            if self.can(request, action):
                guarded[name] = (self._guard_action(func, action), action_name, description)
        return guarded


class ProjectScopedInline:
    """Mixin for an inline (before TabularInline/StackedInline), decided by the role in its parent
    object's project: `view_action` to see the rows, `manage_action` to add, change and delete them."""

    view_action = "project.view"
    manage_action = "project.manage"
    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}

    def _parent_can(self, request, action: str, obj) -> bool:
        if obj is None:
            return admin_can_anywhere(request, action)
        parent_admin = self.admin_site._registry[self.parent_model]
        return admin_can(request, action, parent_admin.object_project_id(obj))

    def has_view_permission(self, request, obj=None):
        return self._parent_can(request, self.view_action, obj)

    def has_add_permission(self, request, obj=None):
        return self._parent_can(request, self.manage_action, obj)

    def has_change_permission(self, request, obj=None):
        return self._parent_can(request, self.manage_action, obj)

    def has_delete_permission(self, request, obj=None):
        return self._parent_can(request, self.manage_action, obj)
