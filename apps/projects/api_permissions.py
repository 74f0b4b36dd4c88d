"""Who may call an API view (DRF's DEFAULT_PERMISSION_CLASSES).

A view declares `required_scope` (for API keys; default: `read` for safe methods, `write` otherwise). A key
whose scopes lack the one a view needs is refused. What a member may do to an object is the permission
policy's answer for the object's project (`apps.projects.permissions`, through
`apps.projects.api_scope.request_require`). This module imports no more than DRF and the key model: DRF
loads it while `rest_framework.views` is being imported.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.projects.models import ProjectAPIKey


def view_scope(request, view) -> str:
    """The key scope a view needs: its `required_scope` (per method with a dict), else `read` for safe
    methods and `write` otherwise. A key with only `feedback` can therefore call only the feedback endpoint."""
    scope = getattr(view, "required_scope", None)
    if isinstance(scope, dict):
        scope = scope.get(request.method) or scope.get("*")
    if scope:
        return scope
    return "read" if request.method in SAFE_METHODS else "write"


class IsProjectMember(BasePermission):
    message = "Authentication with a project API key or a member's session is required."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ProjectAPIKey):
            scope = view_scope(request, view)
            if not request.auth.has_scope(scope):
                self.message = f"This API key lacks the {scope!r} scope."
                return False
            return True
        user = request.user
        return bool(user and user.is_authenticated)
