"""The admin sign-in form (apps/projects/login.py): a right password on an account without admin access or
without a project is told exactly that; a wrong password gets the one message, account or not."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from apps.projects.login import NO_ADMIN_ACCESS, NO_PROJECT
from apps.projects.models import Role
from apps.projects.services import membership_set
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
WRONG = "Please enter the correct username and password for a staff account"


def sign_in(username: str, password: str, client: Client | None = None):
    client = client or Client()
    return client, client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR="192.0.2.40"
    )


def text(response) -> str:
    return response.content.decode().replace("&#x27;", "'")


@pytest.fixture
def project():
    return factories.ProjectFactory(slug="login-p")


def test_a_member_signs_in(project):
    user = factories.UserFactory(username="rita")
    membership_set(project=project, user=user, role=Role.REVIEWER)
    client, response = sign_in("rita", "pw")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_password_says_so_whether_or_not_the_account_exists(project):
    user = factories.UserFactory(username="rita")
    membership_set(project=project, user=user, role=Role.REVIEWER)
    factories.UserFactory(username="outsider", is_staff=False)
    answers = [sign_in(name, "not-the-password")[1] for name in ("rita", "outsider", "nobody-at-all")]
    for response in answers:
        assert response.status_code == 200
        assert WRONG in text(response)
        assert NO_ADMIN_ACCESS not in text(response) and NO_PROJECT not in text(response)
    # The three pages differ only in the echoed user name.
    bodies = [
        text(r).replace(name, "NAME") for r, name in zip(answers, ("rita", "outsider", "nobody-at-all"), strict=True)
    ]
    errors = [b[b.index('<p class="errornote">') :].split("</p>")[0] for b in bodies]
    assert errors[0] == errors[1] == errors[2]


def test_the_right_password_without_admin_access_is_told_so(project):
    user = factories.UserFactory(username="newbie", is_staff=False)
    membership_set(project=project, user=user, role=Role.REVIEWER)
    client, response = sign_in("newbie", "pw")
    assert response.status_code == 200
    assert NO_ADMIN_ACCESS in text(response) and WRONG not in text(response)
    assert client.get("/admin/").status_code == 302  # not signed in


def test_the_right_password_without_a_project_is_told_so():
    factories.UserFactory(username="loner")
    client, response = sign_in("loner", "pw")
    assert response.status_code == 200
    assert NO_PROJECT in text(response) and WRONG not in text(response)
    assert client.get("/admin/").status_code == 302


def test_a_superuser_needs_no_project():
    factories.UserFactory(username="root", is_superuser=True)
    _, response = sign_in("root", "pw")
    assert response.status_code == 302


def test_refused_right_passwords_do_not_count_towards_the_lockout_and_wrong_ones_still_do(project):
    factories.UserFactory(username="loner")
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        _, response = sign_in("loner", "pw")
        assert response.status_code == 200 and NO_PROJECT in text(response)
    assert not AccessAttempt.objects.filter(username="loner", failures_since_start__gt=0).exists()
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in("loner", f"guess-{i}")
    _, locked = sign_in("loner", "pw")
    assert locked.status_code == 429  # locked out: the message about the project is not reached
    assert NO_PROJECT not in text(locked)
