from __future__ import annotations

from django.db.models import QuerySet

from .models import ROLE_RANK, Membership, Project


def projects_for_user(user, *, min_role: str | None = None) -> QuerySet[Project]:
    """Projects a user may see (superusers: all). With min_role, only those where the role is at least it."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    memberships = Membership.objects.filter(user=user)
    if min_role is not None:
        allowed = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[min_role]]
        memberships = memberships.filter(role__in=allowed)
    return Project.objects.filter(pk__in=memberships.values("project_id"))


def user_role(user, project: Project) -> str | None:
    from .permissions import role_in

    return role_in(user, project)


def user_has_role(user, project: Project, min_role: str) -> bool:
    """Prefer `apps.projects.permissions.can(user, action, project)`: the action table names the role."""
    role = user_role(user, project)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[min_role]
