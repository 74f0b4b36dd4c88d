from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.projects.models import Membership, Project, ProjectAPIKey, Role
from tests import factories

pytestmark = pytest.mark.django_db


def test_create_project_and_key_prints_usable_key_on_last_line(api_client):
    call_command("create_project", "shop", "--name", "Shop bot", stdout=StringIO())
    out = StringIO()
    call_command("create_api_key", "shop", "--scopes", "ingest,read", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    api_key = ProjectAPIKey.objects.get_from_key(key)
    assert api_key.project == Project.objects.get(slug="shop")
    assert sorted(api_key.scopes) == ["ingest", "read"]
    # Stored hashed: the clear key is nowhere in the row.
    assert key not in str(ProjectAPIKey.objects.filter(pk=api_key.pk).values().first())


def test_create_api_key_rejects_unknown_scope():
    call_command("create_project", "shop", stdout=StringIO())
    with pytest.raises(Exception, match="scopes"):
        call_command("create_api_key", "shop", "--scopes", "root", stdout=StringIO())


def test_add_member_makes_the_account_assigns_queues_and_prints_the_link_last():
    from django.contrib.auth import get_user_model

    from apps.projects.models import Membership
    from tests import factories

    call_command("create_project", "shop", stdout=StringIO())
    project = Project.objects.get(slug="shop")
    queue = factories.ReviewQueueFactory(project=project, name="Refunds")
    out = StringIO()
    call_command(
        "add_member",
        "shop",
        "rita",
        "--role",
        "reviewer",
        "--queue",
        "Refunds",
        "--email",
        "rita@example.com",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert lines[0] == "Created rita; reviewer in shop." and "Assigned to: Refunds." in lines
    assert lines[-1].startswith("http://127.0.0.1:8000/accounts/set-password/")
    user = get_user_model().objects.get(username="rita")
    assert user.is_staff and user.email == "rita@example.com" and not user.has_usable_password()
    assert Membership.objects.get(project=project, user=user).role == "reviewer"
    assert list(queue.assignees.all()) == [user]

    # Again, for an account with a password: a new role, no link.
    user.set_password("chosen-pw-123")
    user.save()
    out = StringIO()
    call_command("add_member", "shop", "rita", "--role", "curator", stdout=out)
    assert out.getvalue().strip() == "Found rita; curator in shop."


def test_add_member_refuses_what_it_cannot_do():
    call_command("create_project", "shop", stdout=StringIO())
    with pytest.raises(Exception, match="No project"):
        call_command("add_member", "nope", "rita", stdout=StringIO())
    with pytest.raises(Exception, match="Not a queue of shop: Missing"):
        call_command("add_member", "shop", "rita", "--queue", "Missing", stdout=StringIO())
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="rita").exists()


def _ensure_admin(*args) -> str:
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_ensure_admin_creates_a_superuser_once_prints_a_working_password_and_admins_every_project():
    factories.ProjectFactory(slug="acme"), factories.ProjectFactory(slug="shop")
    line = _ensure_admin().strip().splitlines()[-1]
    assert line.startswith("Admin login: admin / ")
    password = line.removeprefix("Admin login: admin / ")
    user = get_user_model().objects.get(username="admin")
    assert user.check_password(password) and user.is_superuser and user.is_staff
    assert {(m.project.slug, m.role) for m in Membership.objects.filter(user=user)} == {
        ("acme", Role.ADMIN),
        ("shop", Role.ADMIN),
    }

    # A second run keeps the password, and makes the admin an admin of projects added since.
    factories.ProjectFactory(slug="later")
    again = _ensure_admin()
    assert "exists (password unchanged" in again and password not in again
    user.refresh_from_db()
    assert user.check_password(password)
    assert Membership.objects.filter(user=user, role=Role.ADMIN).count() == 3
    assert get_user_model().objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_ensure_admin_sets_a_given_password_and_raises_a_lower_role_to_admin(project):
    _ensure_admin("--username", "root", "--password", "first-pass-123")
    user = get_user_model().objects.get(username="root")
    Membership.objects.filter(user=user, project=project).update(role=Role.VIEWER)
    assert "Admin login: root / second-pass-456" in _ensure_admin("--username", "root", "--password", "second-pass-456")
    user.refresh_from_db()
    assert not user.check_password("first-pass-123") and user.check_password("second-pass-456")
    assert Membership.objects.get(user=user, project=project).role == Role.ADMIN
