from __future__ import annotations

from django.db.models import QuerySet

from .models import Membership, Project


def projects_for_user(user) -> QuerySet[Project]:
    """Projects a user is a member of (superusers: all). For a role, `permissions.projects_where`."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    memberships = Membership.objects.filter(user=user)
    return Project.objects.filter(pk__in=memberships.values("project_id"))
