"""The one permission policy: what each role may do in a project.

`POLICY` maps an action to the minimum role a member needs in the object's own project, and to
the scope a project API key needs (None: keys may never do it). `can()` answers "may this user
or key do this action on this project's object"; the admin, the API and the services all ask it.
The role that counts is the one in the object's project, never the best role anywhere.
Superusers may do everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from django.db.models import QuerySet

from apps.core.exceptions import ApplicationError

from .models import ROLE_RANK, Membership, Project, ProjectAPIKey, Role


class Rule(NamedTuple):
    role: str
    key_scopes: tuple[str, ...]  # a key needs one of these (none: keys may never do it)


POLICY: dict[str, Rule] = {
    # reading anything of a project
    "project.view": Rule(Role.VIEWER, ("read",)),
    # the project itself, its members and its keys
    "project.manage": Rule(Role.ADMIN, ()),
    # a key needs the `admin` scope, which no other action accepts: `write` never reaches people
    "member.manage": Rule(Role.ADMIN, ("admin",)),
    "api_key.manage": Rule(Role.ADMIN, ()),
    "audit.read": Rule(Role.ADMIN, ("write",)),
    # telemetry
    "trace.ingest": Rule(Role.REVIEWER, ("ingest",)),
    "trace.delete": Rule(Role.ADMIN, ()),
    # annotating: scores, comments, corrections, tags on spans, reviewing queue items
    "annotation.write": Rule(Role.REVIEWER, ("write",)),
    "feedback.send": Rule(Role.REVIEWER, ("feedback", "write")),
    "annotation.delete": Rule(Role.ADMIN, ()),
    "queue.review": Rule(Role.REVIEWER, ()),
    # leading a queue: moving cards, assigning, seeing scores in blind queues, adjudicating
    "queue.lead": Rule(Role.CURATOR, ("write",)),
    # gold questions: marking, importing and reading their known answers
    "queue.gold_questions": Rule(Role.CURATOR, ("write",)),
    # settling disagreements: an item's gold values per score config and for its Expected
    "queue.adjudicate": Rule(Role.CURATOR, ("write",)),
    # configuring: score types, queues, export schedules
    "score_config.manage": Rule(Role.ADMIN, ("write",)),
    "queue.manage": Rule(Role.ADMIN, ("write",)),
    "export.schedule": Rule(Role.ADMIN, ("write",)),
    "export.destination": Rule(Role.ADMIN, ("write",)),
    # retention: how long traces are kept (it deletes data, so keys need the `admin` scope)
    "retention.manage": Rule(Role.ADMIN, ("admin",)),
    "retention.run": Rule(Role.ADMIN, ("admin",)),
    # curating: tags, datasets, one-off exports, trace views and their share links
    "tag.manage": Rule(Role.CURATOR, ("write",)),
    "dataset.write": Rule(Role.CURATOR, ("write",)),
    "export.run": Rule(Role.CURATOR, ("write",)),
    "trace_view.edit": Rule(Role.CURATOR, ("write",)),
    "share_link.manage": Rule(Role.CURATOR, ("write",)),
    # experiments: creating one on a dataset version; posting its results (like ingest)
    "experiment.write": Rule(Role.CURATOR, ("write",)),
    "experiment.results": Rule(Role.REVIEWER, ("ingest",)),
}


def action_role(action: str) -> str:
    """The minimum role an action needs (KeyError for an action not in the table: a typo is a bug)."""
    return POLICY[action].role


def _project_id(project: Project | int) -> int:
    return project if isinstance(project, int) else project.pk


def user_roles(user) -> dict[int, str]:
    """{project id: role} of a user's memberships (one query)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


def role_in(user, project: Project | int, *, roles: Mapping[int, str] | None = None) -> str | None:
    """The user's role in that project (superusers: admin), or None for a non-member."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    pid = _project_id(project)
    if roles is not None:
        return roles.get(pid)
    # Roles read with the object for this request (queue admin views): only the projects read are in it.
    cached = getattr(user, "_assay_roles", None)
    if cached is not None and pid in cached:
        return cached[pid]
    return Membership.objects.filter(user=user, project_id=pid).values_list("role", flat=True).first()


def roles_allowing(action: str) -> list[str]:
    """The roles that may do `action` (for filtering memberships)."""
    return [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[action_role(action)]]


def role_allows(role: str | None, action: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[action_role(action)]


def can(actor, action: str, project: Project | int, *, roles: Mapping[int, str] | None = None) -> bool:
    """May `actor` (a user or a ProjectAPIKey) do `action` on an object of `project`?

    `roles` is an optional {project id: role} map already loaded for the user (admin pages ask
    many times per request).
    """
    rule = POLICY[action]
    if isinstance(actor, ProjectAPIKey):
        return actor.project_id == _project_id(project) and any(actor.has_scope(s) for s in rule.key_scopes)
    return role_allows(role_in(actor, project, roles=roles), action)


def require(actor, action: str, project: Project | int, *, roles: Mapping[int, str] | None = None) -> None:
    """`can()` or an ApplicationError 403 naming the role needed."""
    if not can(actor, action, project, roles=roles):
        raise ApplicationError(f"This needs the {action_role(action)} role in the project.", status=403)


def projects_where(user, action: str) -> QuerySet[Project]:
    """The projects in which the user may do `action` (superusers: all)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    allowed = roles_allowing(action)
    return Project.objects.filter(pk__in=Membership.objects.filter(user=user, role__in=allowed).values("project_id"))


def roles_table() -> list[tuple[str, str, tuple[str, ...]]]:
    """(action, minimum role, key scopes) rows, for the docs and the permission-matrix test."""
    return [(action, str(rule.role), rule.key_scopes) for action, rule in POLICY.items()]
