"""The project page's "Add member" screen and the roles edited in place (apps/projects/admin_views.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.projects.models import Membership, Role
from apps.projects.services import membership_set
from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()


def add_url(project) -> str:
    return reverse("admin:projects_project_member_add", args=[project.pk])


def link_in(html: str) -> str:
    return re.search(r'id="password-link" value="([^"]+)"', html).group(1)


@pytest.fixture
def lead(member, project):
    return member(project, role=Role.ADMIN, username="lead")


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def test_the_project_page_has_the_button_for_its_admins_only(client, lead_client, member, project):
    page = lead_client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    assert add_url(project) in page and "Add member" in page
    client.force_login(member(project, role=Role.CURATOR))
    page = client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    assert add_url(project) not in page


def test_a_new_person_in_one_step_then_they_choose_a_password_and_sign_in(lead_client, project):
    queue = factories.ReviewQueueFactory(project=project, name="Refunds")
    factories.ReviewQueueFactory(project=project, name="Other")
    form = lead_client.get(add_url(project))
    assert form.status_code == 200 and "Refunds" in form.content.decode()
    response = lead_client.post(
        add_url(project),
        {"username_or_email": "nina", "email": "nina@example.com", "role": "reviewer", "queues": [queue.pk]},
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "New account <strong>nina</strong>" in html and "Assigned to Refunds" in html
    user = User.objects.get(username="nina")
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert user.email == "nina@example.com"
    assert Membership.objects.get(project=project, user=user).role == Role.REVIEWER
    assert list(queue.assignees.all()) == [user]
    assert set(AuditEvent.objects.filter(project=project).values_list("action", flat=True)) >= {
        "user.create",
        "membership.create",
        "review_queue.update",
        "user.password_link",
    }
    assert "Email is not configured" in html and not mail.outbox

    # The link: a page to choose a password, once.
    link = link_in(html)
    assert link.startswith("http://testserver/accounts/set-password/")
    person = Client()
    page = person.get(link, follow=True)
    assert page.status_code == 200 and b"new_password1" in page.content
    done = person.post(
        page.redirect_chain[-1][0], {"new_password1": "a-long-new-password-5", "new_password2": "a-long-new-password-5"}
    )
    assert done.status_code == 302
    signed = Client().post(
        "/admin/login/", {"username": "nina", "password": "a-long-new-password-5", "next": "/admin/"}
    )
    assert signed.status_code == 302 and signed["Location"] == "/admin/"
    again = Client().get(link, follow=True)
    assert b"new_password1" not in again.content  # used up

    # Not shown again anywhere.
    assert link not in lead_client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()


def test_the_link_is_mailed_when_email_is_configured(lead_client, project, settings):
    settings.EMAIL_HOST = "smtp.example.com"
    response = lead_client.post(add_url(project), {"username_or_email": "omar@example.com", "role": "viewer"})
    html = response.content.decode()
    user = User.objects.get(email="omar@example.com")
    assert user.username == "omar"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["omar@example.com"]
    assert link_in(html) in mail.outbox[0].body and "was mailed to omar@example.com" in html


def test_an_existing_account_found_by_email_keeps_its_password(lead_client, project):
    existing = factories.UserFactory(username="pia", email="Pia@Example.com", is_staff=False)
    response = lead_client.post(add_url(project), {"username_or_email": "pia@example.com", "role": "curator"})
    html = response.content.decode()
    assert response.status_code == 200 and "<strong>pia</strong>" in html and "New account" not in html
    assert 'id="password-link"' not in html  # they have a password
    existing.refresh_from_db()
    assert existing.is_staff and existing.check_password("pw")  # given admin access, password untouched
    assert "given access to the admin" in html
    assert Membership.objects.get(project=project, user=existing).role == Role.CURATOR
    assert User.objects.filter(email__iexact="pia@example.com").count() == 1


def test_adding_a_member_again_changes_their_role(lead_client, member, project):
    rex = member(project, role=Role.REVIEWER, username="rex")
    response = lead_client.post(add_url(project), {"username_or_email": "rex", "role": "curator"})
    assert "role changed from reviewer to curator" in response.content.decode()
    assert Membership.objects.get(project=project, user=rex).role == Role.CURATOR


def test_roles_change_in_place_on_the_project_page(lead_client, lead, member, project):
    rex = member(project, role=Role.REVIEWER, username="rex")
    queue = factories.ReviewQueueFactory(project=project)
    queue.assignees.add(rex)
    mine = Membership.objects.get(project=project, user=lead)
    theirs = Membership.objects.get(project=project, user=rex)
    url = reverse("admin:projects_project_change", args=[project.pk])
    page = lead_client.get(url)
    assert page.status_code == 200 and 'name="memberships-0-role"' in page.content.decode()

    def save(rows, delete=()):
        body = {
            "name": project.name,
            "slug": project.slug,
            "description": "",
            "allowed_origins": "[]",
            "memberships-TOTAL_FORMS": str(len(rows)),
            "memberships-INITIAL_FORMS": str(len(rows)),
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        }
        for i, (membership, role) in enumerate(rows):
            body[f"memberships-{i}-id"] = str(membership.pk)
            body[f"memberships-{i}-project"] = str(project.pk)
            body[f"memberships-{i}-role"] = role
            if membership in delete:
                body[f"memberships-{i}-DELETE"] = "on"
        return lead_client.post(url, body)

    assert save([(mine, "admin"), (theirs, "curator")]).status_code == 302
    theirs.refresh_from_db()
    assert theirs.role == Role.CURATOR
    assert AuditEvent.objects.filter(action="membership.update", object_id=str(theirs.pk)).exists()
    # The last admin stays admin.
    refused = save([(mine, "viewer"), (theirs, "curator")])
    assert refused.status_code == 200 and "keeps at least one admin" in refused.content.decode()
    mine.refresh_from_db()
    assert mine.role == Role.ADMIN
    # Handing the role over in one save works; removing takes them off the project's queues.
    assert save([(mine, "viewer"), (theirs, "admin")]).status_code == 302
    assert Membership.objects.get(pk=mine.pk).role == Role.VIEWER
    membership_set(project=project, user=lead, role=Role.ADMIN)
    assert save([(mine, "admin"), (theirs, "admin")], delete=[theirs]).status_code == 302
    assert not Membership.objects.filter(pk=theirs.pk).exists() and not queue.assignees.exists()
    assert AuditEvent.objects.filter(action="membership.delete", object_id=str(theirs.pk)).exists()


def test_refused_for_a_member_below_admin_and_nothing_is_written(client, member, project):
    client.force_login(member(project, role=Role.CURATOR))
    before = (User.objects.count(), Membership.objects.count())
    assert client.get(add_url(project)).status_code == 403
    assert client.post(add_url(project), {"username_or_email": "sneaky", "role": "admin"}).status_code == 403
    assert (User.objects.count(), Membership.objects.count()) == before


def test_another_projects_screen_answers_like_a_missing_one(lead_client, lead, project, other_project):
    hidden = lead_client.post(add_url(other_project), {"username_or_email": "x", "role": "admin"})
    missing = lead_client.post(
        reverse("admin:projects_project_member_add", args=[999_999]), {"username_or_email": "x", "role": "admin"}
    )
    assert hidden.status_code == missing.status_code == 404
    membership_set(project=other_project, user=lead, role=Role.VIEWER)
    assert lead_client.post(add_url(other_project), {"username_or_email": "x", "role": "admin"}).status_code == 403
    assert not User.objects.filter(username="x").exists()


def test_mistakes_are_shown_on_the_form(lead_client, project, other_project):
    foreign = factories.ReviewQueueFactory(project=other_project)
    bad_queue = lead_client.post(
        add_url(project), {"username_or_email": "z", "role": "reviewer", "queues": [foreign.pk]}
    )
    assert bad_queue.status_code == 200 and "Select a valid choice" in bad_queue.content.decode()
    bad_name = lead_client.post(add_url(project), {"username_or_email": "no spaces please", "role": "reviewer"})
    assert bad_name.status_code == 200 and "errornote" in bad_name.content.decode()
    assert not User.objects.filter(username__in=["z", "no spaces please"]).exists()
