"""The member services (apps/projects/services.py): the rules every surface shares."""

from __future__ import annotations

import smtplib

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from apps.core.exceptions import ApplicationError
from apps.projects.models import Membership, Role
from apps.projects.services import member_add, member_remove, member_role_set
from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_the_actor_needs_the_admin_role_in_that_project(member, project, other_project):
    curator = member(project, role=Role.CURATOR)
    admin_elsewhere = member(other_project, role=Role.ADMIN)
    for actor in (curator, admin_elsewhere):
        with pytest.raises(ApplicationError) as refused:
            member_add(actor=actor, project=project, username_or_email="x", role=Role.ADMIN)
        assert refused.value.status == 403
    assert not User.objects.filter(username="x").exists()


def test_an_email_shared_by_two_accounts_asks_for_the_user_name(member, project):
    lead = member(project, role=Role.ADMIN)
    factories.UserFactory(username="a1", email="same@example.com")
    factories.UserFactory(username="a2", email="SAME@example.com")
    with pytest.raises(ApplicationError, match="Several accounts"):
        member_add(actor=lead, project=project, username_or_email="same@example.com")
    assert member_add(actor=lead, project=project, username_or_email="a2").user.username == "a2"


def test_a_new_account_from_an_email_whose_name_is_taken_is_named_by_the_address(member, project):
    lead = member(project, role=Role.ADMIN)
    factories.UserFactory(username="sam", email="sam@old.example")
    added = member_add(actor=lead, project=project, username_or_email="sam@new.example")
    assert added.user_created and added.user.username == "sam@new.example"


def test_a_deactivated_account_is_not_brought_back(member, project):
    lead = member(project, role=Role.ADMIN)
    factories.UserFactory(username="gone", is_active=False)
    with pytest.raises(ApplicationError, match="deactivated"):
        member_add(actor=lead, project=project, username_or_email="gone")
    assert not Membership.objects.filter(user__username="gone").exists()


def test_the_last_admin_cannot_step_down_or_leave(member, project):
    lead = member(project, role=Role.ADMIN)
    mine = Membership.objects.get(user=lead)
    for attempt in (
        lambda: member_role_set(actor=lead, membership=mine, role=Role.REVIEWER),
        lambda: member_remove(actor=lead, membership=mine),
        lambda: member_add(actor=lead, project=project, username_or_email=lead.username, role=Role.VIEWER),
    ):
        with pytest.raises(ApplicationError, match="at least one admin"):
            attempt()
    member(project, role=Role.ADMIN, username="second")
    member_role_set(actor=lead, membership=mine, role=Role.REVIEWER)
    mine.refresh_from_db()
    assert mine.role == Role.REVIEWER


def test_a_mail_that_fails_still_adds_the_member_and_says_why(member, project, settings, monkeypatch):
    settings.EMAIL_HOST = "smtp.example.com"
    lead = member(project, role=Role.ADMIN)

    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("apps.projects.password_links.send_mail", refuse)  # the edge of the world: SMTP
    added = member_add(actor=lead, project=project, username_or_email="ivy@example.com")
    assert added.password_link and "could not be sent" in added.mail_problem
    assert Membership.objects.filter(project=project, user=added.user).exists()
    assert not mail.outbox


def test_a_user_name_in_another_case_finds_the_account(member, project):
    lead = member(project, role=Role.ADMIN)
    nina = factories.UserFactory(username="nina")
    added = member_add(actor=lead, project=project, username_or_email="Nina")
    assert added.user == nina and not added.user_created
