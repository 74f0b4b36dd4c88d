"""The admin's sign-in form: a person whose password is right is told what else is missing.

Django's admin form answers "enter the correct username and password for a staff account" both for
a wrong password and for a right one on an account without admin access, so a new reviewer checks
their password. Here the second case names what is missing (admin access, or a project). Only a
right password reaches `confirm_login_allowed` (authentication has succeeded, through django-axes'
backend, which refuses a locked-out sign-in first), so a wrong password still gets the one message
whether or not the account exists, and lockout counting is unchanged.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from apps.projects.models import Membership

NO_ADMIN_ACCESS = (
    "Your password is right, but this account has no access to the Assay admin yet. Ask an admin "
    "of your project to add you (Projects → your project → Add member); that gives the access."
)
NO_PROJECT = (
    "Your password is right, but this account belongs to no project yet, so there is nothing to "
    "show. Ask an admin of your project to add you (Projects → your project → Add member)."
)


class AssayAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "no_admin_access": NO_ADMIN_ACCESS,
        "no_project": NO_PROJECT,
    }

    def confirm_login_allowed(self, user):
        if not user.is_active:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
        if not user.is_staff:
            raise forms.ValidationError(self.error_messages["no_admin_access"], code="no_admin_access")
        if not user.is_superuser and not Membership.objects.filter(user=user).exists():
            raise forms.ValidationError(self.error_messages["no_project"], code="no_project")
