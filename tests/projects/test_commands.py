from io import StringIO

import pytest
from django.core.management import call_command

from apps.projects.models import Project, ProjectAPIKey

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
    call_command("add_member", "shop", "rita", "--role", "reviewer", "--queue", "Refunds",
                 "--email", "rita@example.com", stdout=out)
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
