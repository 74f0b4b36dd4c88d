"""One-time set-password links for new members (Django's PasswordResetTokenGenerator).

The token is derived from the account's password hash and last login, so it stops working the moment
the password is set (and after PASSWORD_RESET_TIMEOUT, three days by default). Nothing is stored: the
link is shown once to whoever added the member and, when email settings exist, mailed to them.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

logger = logging.getLogger(__name__)


def password_link_path(user) -> str:
    """The path of the set-password page for `user` (Django's PasswordResetConfirmView)."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})


def absolute_url(path: str, *, base_url: str = "") -> str:
    """`path` under `base_url` (a request's origin), else under the SITE_URL setting."""
    return (base_url or settings.SITE_URL).rstrip("/") + path


def email_configured() -> bool:
    return bool(settings.EMAIL_HOST)


def password_link_mail(*, user, project, link: str, invited_by: str) -> str | None:
    """Mail the link when email settings exist and the user has an address. Returns None when sent,
    else why not (shown beside the link, which still works)."""
    if not email_configured():
        return "Email is not configured (EMAIL_HOST): pass the link on yourself."
    if not user.email:
        return f"{user.get_username()} has no email address: pass the link on yourself."
    body = (
        f"{invited_by} added you to the Assay project {project.name} ({project.slug}).\n\n"
        f"Your user name is {user.get_username()}. Choose a password here (the link works once):\n{link}\n"
    )
    try:
        send_mail(f"You were added to {project.name} in Assay", body, None, [user.email])
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("set-password mail to user %s failed: %s", user.pk, exc)
        return f"The mail to {user.email} could not be sent ({exc.__class__.__name__}): pass the link on yourself."
    return None
