"""`/api/v1/members/` (apps/projects/api.py): project admins list, add, re-role and remove members; keys
need the `admin` scope; another project's members are invisible (404 exactly like a missing id)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.audit.models import AuditEvent
from apps.projects.models import Membership, Role
from apps.projects.services import membership_set
from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()
URL = "/api/v1/members/"


@pytest.fixture
def lead(member, project):
    return member(project, role=Role.ADMIN, username="lead")


def test_an_admin_lists_their_projects_members_only(client_as, lead, member, project, other_project):
    rex = member(project, role=Role.REVIEWER, username="rex")
    queue = factories.ReviewQueueFactory(project=project, name="Refunds")
    queue.assignees.add(rex)
    factories.ReviewQueueFactory(project=other_project, name="Elsewhere").assignees.add(rex)
    member(other_project, role=Role.ADMIN, username="stranger")
    membership_set(project=other_project, user=lead, role=Role.VIEWER)  # a viewer there: not listed
    response = client_as(user=lead).get(URL)
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()["results"]}
    assert set(rows) == {"lead", "rex"}
    assert rows["rex"]["role"] == "reviewer" and rows["rex"]["queues"] == ["Refunds"]
    assert rows["rex"]["project"] == "acme" and rows["rex"]["email"] == "rex@example.com"
    assert {r["username"] for r in client_as(user=lead).get(URL, {"role": "admin"}).json()["results"]} == {"lead"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR])
def test_below_admin_everything_is_refused(client_as, member, project, role):
    user = member(project, role=role)
    target = Membership.objects.get(user=user)
    client = client_as(user=user)
    assert client.get(URL).status_code == 403
    assert (
        client.post(URL, {"project": "acme", "username_or_email": "x", "role": "admin"}, format="json").status_code
        == 403
    )
    assert client.patch(f"{URL}{target.pk}/", {"role": "admin"}, format="json").status_code == 403
    assert client.delete(f"{URL}{target.pk}/").status_code == 403
    target.refresh_from_db()
    assert target.role == role and not User.objects.filter(username="x").exists()


def test_add_a_new_person_with_queues(client_as, lead, project):
    factories.ReviewQueueFactory(project=project, name="Refunds")
    response = client_as(user=lead).post(
        URL,
        {"project": "acme", "username_or_email": "nina@example.com", "role": "reviewer", "queues": ["Refunds"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["username"] == "nina" and body["queues"] == ["Refunds"] and body["user_created"] is True
    assert body["password_link"].startswith("http://testserver/accounts/set-password/")
    assert body["mailed"] is False
    user = User.objects.get(username="nina")
    assert user.is_staff and not user.has_usable_password()
    # Again: the same person, a new role, no new link.
    again = client_as(user=lead).post(
        URL, {"project": "acme", "username_or_email": "nina", "role": "curator"}, format="json"
    )
    assert again.status_code == 200 and again.json()["role"] == "curator"
    assert again.json()["user_created"] is False


def test_bad_input_names_the_field(client_as, lead, project, other_project):
    factories.ReviewQueueFactory(project=other_project, name="Theirs")
    client = client_as(user=lead)
    unknown_queue = client.post(URL, {"project": "acme", "username_or_email": "a", "queues": ["Theirs"]}, format="json")
    assert unknown_queue.status_code == 400 and "queues" in unknown_queue.json()["fields"]
    bad_role = client.post(URL, {"project": "acme", "username_or_email": "a", "role": "owner"}, format="json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()["fields"]
    bad_name = client.post(URL, {"project": "acme", "username_or_email": "a b"}, format="json")
    assert bad_name.status_code == 400 and "username_or_email" in bad_name.json()["fields"]
    assert not User.objects.filter(username__in=["a", "a b"]).exists()


def test_change_role_and_remove(client_as, lead, member, project):
    rex = member(project, role=Role.REVIEWER, username="rex")
    queue = factories.ReviewQueueFactory(project=project)
    queue.assignees.add(rex)
    target = Membership.objects.get(user=rex)
    client = client_as(user=lead)
    changed = client.patch(f"{URL}{target.pk}/", {"role": "curator"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "curator"
    assert client.delete(f"{URL}{target.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=target.pk).exists() and not queue.assignees.exists()
    assert User.objects.filter(username="rex").exists()  # the account stays
    actions = set(AuditEvent.objects.filter(project=project).values_list("action", flat=True))
    assert {"membership.update", "membership.delete", "review_queue.update"} <= actions


def test_the_last_admin_stays(client_as, lead, project):
    mine = Membership.objects.get(user=lead)
    client = client_as(user=lead)
    refused = client.patch(f"{URL}{mine.pk}/", {"role": "viewer"}, format="json")
    assert refused.status_code == 400 and "admin" in refused.json()["error"]
    assert client.delete(f"{URL}{mine.pk}/").status_code == 400
    mine.refresh_from_db()
    assert mine.role == Role.ADMIN


def test_an_admin_of_a_sees_nothing_of_b(client_as, lead, member, project, other_project):
    theirs = Membership.objects.get(user=member(other_project, role=Role.REVIEWER, username="theirs"))
    client = client_as(user=lead)
    for method, body in (("patch", {"role": "admin"}), ("delete", None)):
        hidden = getattr(client, method)(f"{URL}{theirs.pk}/", body, format="json")
        missing = getattr(client, method)(f"{URL}999999/", body, format="json")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()
    add = client.post(URL, {"project": "other", "username_or_email": "spy", "role": "admin"}, format="json")
    nowhere = client.post(URL, {"project": "nowhere", "username_or_email": "spy", "role": "admin"}, format="json")
    assert add.status_code == nowhere.status_code == 404 and add.json() == nowhere.json()
    # Viewer of B: B's members still answer like missing ones, and adding there is refused.
    membership_set(project=other_project, user=lead, role=Role.VIEWER)
    assert client.patch(f"{URL}{theirs.pk}/", {"role": "admin"}, format="json").status_code == 404
    assert client.post(URL, {"project": "other", "username_or_email": "spy"}, format="json").status_code == 403
    theirs.refresh_from_db()
    assert theirs.role == Role.REVIEWER and not User.objects.filter(username="spy").exists()


def test_keys_need_the_admin_scope_and_stay_in_their_project(key_client, member, project, other_project):
    theirs = Membership.objects.get(user=member(other_project, role=Role.REVIEWER, username="theirs"))
    writer = key_client(project, scopes=("read", "write"))
    assert writer.get(URL).status_code == 403
    assert writer.post(URL, {"username_or_email": "x"}, format="json").status_code == 403
    admin_key = key_client(project, scopes=("admin",))
    added = admin_key.post(URL, {"username_or_email": "kay", "role": "reviewer", "project": "other"}, format="json")
    assert added.status_code == 201 and added.json()["project"] == "acme"  # the key's own project
    assert [r["username"] for r in admin_key.get(URL).json()["results"]] == ["kay"]
    assert admin_key.patch(f"{URL}{theirs.pk}/", {"role": "admin"}, format="json").status_code == 404
    event = AuditEvent.objects.get(action="membership.create", project=project)
    assert event.actor_key is not None
