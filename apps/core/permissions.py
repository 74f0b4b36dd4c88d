"""Who may call an API view.

A view declares `required_scope` (for API keys; default: `read` for safe methods, `write`
otherwise). A key whose scopes lack the one a view needs is refused; a key with only the
`feedback` scope can therefore call nothing but the feedback endpoint. What a member may do to an
object is the permission policy's answer for the object's project (`apps.projects.permissions`,
through `apps.core.api.request_require`).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.projects.models import ProjectAPIKey


def view_scope(request, view) -> str:
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
