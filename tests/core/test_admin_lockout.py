"""Admin sign-in lockout (django-axes, AXES_LOCKOUT_CALLABLE in apps/core/admin_lockout.py): failures in a
row lock the address and the user name out, the right password included, until the cool-off passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "the-right-password-7"


@pytest.fixture
def staff(db):
    user = factories.UserFactory(username="ada", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client: Client, password: str, *, username: str = "ada", address: str = "192.0.2.5"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def let_cool_off_pass():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


def test_fifty_wrong_passwords_then_the_right_one_is_refused_until_the_cool_off(staff):
    client = Client()
    answers = [sign_in(client, f"guess-{i}") for i in range(50)]
    limit = settings.AXES_FAILURE_LIMIT
    assert all(r.status_code == 200 for r in answers[: limit - 1])  # the form again, with an error
    assert all(r.status_code == 429 for r in answers[limit:])
    right = sign_in(client, PASSWORD)
    assert right.status_code == 429
    assert int(right["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert "Too many failed sign-ins" in right.content.decode()
    assert "script-src 'self'" in right["Content-Security-Policy"]
    assert not signed_in(client)

    let_cool_off_pass()
    assert sign_in(client, PASSWORD).status_code == 302
    assert signed_in(client)


def test_lockout_covers_the_user_name_from_any_address_and_the_address_for_any_user_name(staff):
    bob = factories.UserFactory(username="bob", is_staff=True)
    bob.set_password(PASSWORD)
    bob.save()
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), f"guess-{i}", address="192.0.2.5")
    # The same user name from another address...
    assert sign_in(Client(), PASSWORD, address="198.51.100.8").status_code == 429
    # ...and another user name from the same address.
    assert sign_in(Client(), PASSWORD, username="bob", address="192.0.2.5").status_code == 429


def test_a_successful_sign_in_resets_the_count(staff):
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, f"guess-{i}").status_code == 200
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, f"again-{i}").status_code == 200
    assert sign_in(client, PASSWORD).status_code == 302


def test_lockout_honours_the_trusted_proxy_count(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            LOGIN,
            {"username": f"nobody-{i}", "password": "x"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="192.0.2.99",
        )
    # The locked address is the client's, not the proxy's: another client behind the proxy signs in.
    assert AccessAttempt.objects.filter(ip_address="192.0.2.99").exists()
    ok = Client().post(
        LOGIN,
        {"username": "ada", "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.100",
    )
    assert ok.status_code == 302
