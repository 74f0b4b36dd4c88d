from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record, audit_record_change, audit_snapshot
from apps.core.exceptions import ApplicationError

from .models import Membership, Project, ProjectAPIKey, Role, Scope
from .password_links import absolute_url, password_link_mail, password_link_path
from .permissions import require

VALID_SCOPES = {s.value for s in Scope}


@transaction.atomic
def project_create(*, slug: str, name: str = "", description: str = "") -> Project:
    slug = slugify(slug)
    if not slug:
        raise ApplicationError("A project needs a slug.", fields={"slug": ["This field is required."]})
    if Project.objects.filter(slug=slug).exists():
        raise ApplicationError(f"Project {slug!r} exists.", fields={"slug": ["A project with this slug exists."]})
    return Project.objects.create(slug=slug, name=name or slug, description=description)


@transaction.atomic
def membership_set(*, project: Project, user, role: str = Role.VIEWER, actor: Any = None) -> Membership:
    if role not in Role.values:
        raise ApplicationError("Unknown role.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    before = audit_snapshot(Membership.objects.filter(project=project, user=user).first())
    membership, created = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    if before != audit_snapshot(membership):
        audit_record(
            actor=actor,
            action="membership.create" if created else "membership.update",
            obj=membership,
            parent=project,
            before=before,
            after=audit_snapshot(membership),
        )
    return membership


def demo_member(*, project: Project, username: str, role: str):
    """A demo user (staff, no usable password: signed in through a password link or by an admin) with
    `role` in the demo project; the one creator of every app's demo people."""
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com", "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership_set(project=project, user=user, role=role)
    return user


def api_key_create(
    *, project: Project, scopes: Iterable[str], name: str = "", created_by=None
) -> tuple[ProjectAPIKey, str]:
    scopes = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in scopes if s not in VALID_SCOPES]
    if unknown or not scopes:
        raise ApplicationError(
            "Unknown or missing scopes.",
            fields={"scopes": [f"Choose from {', '.join(sorted(VALID_SCOPES))}; got {', '.join(unknown) or 'none'}."]},
        )
    api_key, key = ProjectAPIKey.objects.create_key(
        name=name or f"{project.slug} {'+'.join(scopes)}", project=project, scopes=scopes, created_by=created_by
    )
    audit_record(actor=created_by, action="api_key.create", obj=api_key, parent=project, after=audit_snapshot(api_key))
    return api_key, key


KEY_USE_WRITE_SECONDS = 60  # last_used_at is kept to the minute: one UPDATE a minute per key at most
KEY_USE_AUDIT_SECONDS = 3600  # a "used" audit event when a key is first used in an hour


def api_key_mark_used(*, api_key: ProjectAPIKey) -> None:
    """Keep `last_used_at`; each conditional UPDATE lets exactly one of concurrent requests through."""
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=KEY_USE_WRITE_SECONDS))
    if api_key.last_used_at and api_key.last_used_at >= now - timedelta(seconds=KEY_USE_WRITE_SECONDS):
        return
    with transaction.atomic():
        idle = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=KEY_USE_AUDIT_SECONDS))
        previous = api_key.last_used_at
        if ProjectAPIKey.objects.filter(idle, pk=api_key.pk).update(last_used_at=now):
            audit_record(
                actor=api_key,
                action="api_key.use",
                obj=api_key,
                parent=api_key.project,
                before={"last_used_at": previous.isoformat() if previous else None},
                after={"last_used_at": now.isoformat()},
            )
        else:
            ProjectAPIKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


# ---------------------------------------------------------------- members: one step to add a person


@dataclass
class MemberAdded:
    membership: Membership
    user: Any
    user_created: bool  # a new account was made
    staff_granted: bool  # an existing account got admin access (is_staff)
    previous_role: str | None  # None: they were not a member before
    queues: list = field(default_factory=list)  # the queues they were newly assigned to
    password_link: str = ""  # absolute set-password link (accounts without a usable password)
    mail_problem: str | None = None  # why the link was not mailed (None: mailed, or no link)


def _user_for(identifier: str, *, email: str) -> tuple[Any, bool]:
    """The account named by a user name or an email address, or a new unsaved one (True)."""
    User = get_user_model()
    identifier = identifier.strip()
    email = email.strip()
    if not identifier:
        raise ApplicationError("Name the person.", fields={"username_or_email": ["A user name or an email address."]})
    if "@" in identifier:
        try:
            validate_email(identifier)
        except DjangoValidationError:
            raise ApplicationError(
                "Not an email address.", fields={"username_or_email": ["Enter a valid email address."]}
            )
        found = list(User.objects.filter(email__iexact=identifier)[:2])
        if len(found) > 1:
            raise ApplicationError(
                "Several accounts have this email address.",
                fields={"username_or_email": ["Several accounts share it: give the user name."]},
            )
        if found:
            return found[0], False
        email = identifier
        local = identifier.split("@", 1)[0]
        username = local if local and not User.objects.filter(username__iexact=local).exists() else identifier
    else:
        user = User.objects.filter(username=identifier).first()
        if user is None:  # "Nina" for "nina": the one account of that name in another case
            found = list(User.objects.filter(username__iexact=identifier)[:2])
            user = found[0] if len(found) == 1 else None
        if user is not None:
            return user, False
        username = identifier
        if email:
            try:
                validate_email(email)
            except DjangoValidationError:
                raise ApplicationError("Not an email address.", fields={"email": ["Enter a valid email address."]})
    user = User(username=username, email=email, is_staff=True)
    try:
        user.full_clean(exclude=["password"])
    except DjangoValidationError as exc:
        raise ApplicationError(
            "This user name cannot be used.",
            fields={"username_or_email": [m for ms in exc.message_dict.values() for m in ms]},
        )
    user.set_unusable_password()
    return user, True


def _queues_of(project: Project, queues: Iterable) -> list:
    from apps.queues.models import ReviewQueue

    wanted = list(queues or [])
    ids = [q for q in wanted if isinstance(q, int)] + [q.pk for q in wanted if isinstance(q, ReviewQueue)]
    names = [q for q in wanted if isinstance(q, str)]
    found = list(ReviewQueue.objects.filter(Q(pk__in=ids) | Q(name__in=names), project=project))
    if len(found) != len(set(ids)) + len(set(names)):
        known = {q.pk for q in found} | {q.name for q in found}
        missing = [str(q) for q in [*ids, *names] if q not in known]
        raise ApplicationError(
            "Unknown review queue.", fields={"queues": [f"Not a queue of {project.slug}: {', '.join(missing)}."]}
        )
    return found


def _assign(*, actor: Any, user, queues: list) -> list:
    assigned = []
    for queue in queues:
        if queue.assignees.filter(pk=user.pk).exists():
            continue
        before = audit_snapshot(queue, ["assignees"])
        queue.assignees.add(user)
        audit_record_change(actor=actor, action="review_queue.update", obj=queue, before=before, fields=["assignees"])
        assigned.append(queue)
    return assigned


@transaction.atomic
def _member_add(
    *, actor: Any, project: Project, username_or_email: str, role: str, queues: Iterable, email: str
) -> MemberAdded:
    if role not in Role.values:
        raise ApplicationError("Unknown role.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    user, created = _user_for(username_or_email, email=email)
    if not created and not user.is_active:
        raise ApplicationError(
            "This account is deactivated; a superuser can reactivate it.",
            fields={"username_or_email": ["The account is deactivated."]},
        )
    chosen = _queues_of(project, queues)
    staff_granted = False
    if created:
        user.save()
        audit_record(
            actor=actor,
            action="user.create",
            obj=user,
            project=project,
            after={"username": user.get_username(), "email": user.email, "is_staff": True},
        )
    elif not user.is_staff:
        user.is_staff = True  # a member needs admin access to sign in; it grants nothing by itself
        user.save(update_fields=["is_staff"])
        staff_granted = True
        audit_record(
            actor=actor,
            action="user.update",
            obj=user,
            project=project,
            before={"is_staff": False},
            after={"is_staff": True},
        )
    previous = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    if previous == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(project=project, leaving=user)
    membership = membership_set(project=project, user=user, role=role, actor=actor)
    assigned = _assign(actor=actor, user=user, queues=chosen)
    return MemberAdded(
        membership=membership,
        user=user,
        user_created=created,
        staff_granted=staff_granted,
        previous_role=previous,
        queues=assigned,
    )


def member_add(
    *,
    actor: Any,
    project: Project,
    username_or_email: str,
    role: str = Role.REVIEWER,
    queues: Iterable = (),
    email: str = "",
    base_url: str = "",
) -> MemberAdded:
    """Add a person to `project` in one step: find the account by user name or email, or create it with
    admin access (`is_staff`) and no password; set the membership's role; assign them to `queues` (ids,
    names or objects of this project). An account without a usable password gets a one-time
    set-password link, mailed when email settings exist. `actor` None: the command line."""
    if actor is not None:
        require(actor, "member.manage", project)
    added = _member_add(
        actor=actor, project=project, username_or_email=username_or_email, role=role, queues=queues, email=email
    )
    user = added.user
    if not user.has_usable_password():
        added.password_link = absolute_url(password_link_path(user), base_url=base_url)
        audit_record(actor=actor, action="user.password_link", obj=user, project=project)
        inviter = getattr(actor, "get_username", lambda: "A project admin")()
        added.mail_problem = password_link_mail(
            user=user, project=project, link=added.password_link, invited_by=inviter
        )
    return added


def _keep_an_admin(*, project: Project, leaving) -> None:
    others = Membership.objects.filter(project=project, role=Role.ADMIN).exclude(user=leaving)
    if not others.filter(user__is_active=True).exists():
        raise ApplicationError(
            "A project keeps at least one admin.", fields={"role": ["Make someone else admin first."]}
        )


@transaction.atomic
def member_role_set(*, actor: Any, membership: Membership, role: str) -> Membership:
    """Change a member's role (the last admin of a project stays admin)."""
    if actor is not None:
        require(actor, "member.manage", membership.project_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(project=membership.project, leaving=membership.user)
    return membership_set(project=membership.project, user=membership.user, role=role, actor=actor)


@transaction.atomic
def member_remove(*, actor: Any, membership: Membership) -> None:
    """Remove a member from the project and from its queues' assignees; the account stays."""
    from apps.queues.models import ReviewQueue

    if actor is not None:
        require(actor, "member.manage", membership.project_id)
    if membership.role == Role.ADMIN:
        _keep_an_admin(project=membership.project, leaving=membership.user)
    user = membership.user
    for queue in ReviewQueue.objects.filter(project_id=membership.project_id, assignees=user):
        before = audit_snapshot(queue, ["assignees"])
        queue.assignees.remove(user)
        audit_record_change(actor=actor, action="review_queue.update", obj=queue, before=before, fields=["assignees"])
    audit_record(
        actor=actor,
        action="membership.delete",
        obj=membership,
        parent=membership.project,
        before=audit_snapshot(membership),
    )
    membership.delete()
