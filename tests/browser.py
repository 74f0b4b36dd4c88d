"""Helpers for Playwright tests: signing a user in to the live server."""

from __future__ import annotations

from django.conf import settings
from django.test import Client


def session_cookie(user, live_server) -> dict:
    """A session cookie for `user`, made without going through the login form."""
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }


def logged_in_page(browser, live_server, user, **context_options):
    """A new browser context signed in as `user`, and a page in it (context options such as
    viewport={"width": 1440, "height": 900} or color_scheme="dark" go to Playwright)."""
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.add_cookies([session_cookie(user, live_server)])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def login_through_form(page, live_server, username: str, password: str = "pw") -> None:
    """Sign in the way a person does, through the admin login form."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
