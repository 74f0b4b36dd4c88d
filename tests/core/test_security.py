"""Every admin page sends a Content-Security-Policy without inline script, and none of them needs one:
a walk over every URL of every registered ModelAdmin (and the site's own) on the demo data."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from apps.queues.models import ReviewItem
from apps.traces.models import Span, Trace
from apps.views.models import TraceView

pytestmark = pytest.mark.django_db

JS_TYPES = {"", "text/javascript", "application/javascript", "module"}
# Answer only POST, or end the session; asking them with GET proves nothing more than the header.
SKIP = {"logout", "view_on_site"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


def assert_no_inline_script_allowed(url: str, response) -> None:
    policy = response.get("Content-Security-Policy")
    assert policy, f"{url} ({response.status_code}) sends no Content-Security-Policy"
    parsed = directives(policy)
    scripts = parsed.get("script-src", parsed.get("default-src"))
    assert scripts is not None, f"{url}: the policy does not restrict scripts: {policy}"
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "https:", "http:"} & set(scripts), (url, policy)


class InlineScriptFinder(HTMLParser):
    """Inline <script> code, on* event handler attributes and javascript: URLs: what the policy blocks."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not attributes.get("src"):
            self._in_inline_script = (attributes.get("type") or "").lower() in JS_TYPES

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:80]}")


def inline_script_in(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _first_pk(model) -> str | None:
    pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return None if pk is None else str(pk)


def _kwarg_values(model) -> dict[str, str | None]:
    """A value for each URL parameter the admin screens take, from the demo data."""
    item = ReviewItem.objects.order_by("pk").first()
    view = TraceView.objects.order_by("pk").first()
    trace = Trace.objects.filter(project=view.project).order_by("pk").first() if view else None
    own = _first_pk(model)
    return {
        "object_id": own,
        "pk": own,
        "queue_id": str(item.queue_id) if item else own,
        "item_id": str(item.pk) if item else None,
        "span_pk": _first_pk(Span),
        "trace_ref": trace.trace_id if trace else None,
    }


def admin_urls() -> list[str]:
    urls = {
        reverse("admin:index"),
        reverse("admin:password_change"),
        reverse("admin:password_change_done"),
        reverse("admin:jsi18n"),
    }
    urls |= {reverse("admin:app_list", kwargs={"app_label": m._meta.app_label}) for m in admin.site._registry}
    for model, model_admin in admin.site._registry.items():
        values = _kwarg_values(model)
        for pattern in model_admin.get_urls():
            if not pattern.name or any(pattern.name.endswith(s) for s in SKIP):
                continue
            names = list(getattr(pattern.pattern, "converters", {}))
            # A screen with a parameter this walk does not know yet gets the model's first object.
            kwargs = {name: values.get(name, values["pk"]) for name in names}
            if any(v is None for v in kwargs.values()):
                continue
            try:
                urls.add(reverse(f"admin:{pattern.name}", kwargs=kwargs))
            except NoReverseMatch:
                continue
    return sorted(urls)


def test_every_admin_page_sends_a_csp_without_inline_script_and_has_none(demo, admin_client):
    urls = admin_urls()
    registered = len(admin.site._registry)
    assert len(urls) > 5 * registered  # changelist, add, change, history, delete for each, and more
    pages, problems = 0, []
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code < 500, url
        assert_no_inline_script_allowed(url, response)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            pages += 1
            found = inline_script_in(response.content.decode())
            if found:
                problems.append((url, found[:3]))
    assert not problems, problems
    assert pages > 4 * registered


def test_the_sign_in_page_and_the_api_docs_send_the_policy_too(client):
    for url in ("/admin/login/", "/admin/", "/api/docs/"):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        assert_no_inline_script_allowed(url, response)
        assert not inline_script_in(response.content.decode()), url


def test_share_pages_keep_their_own_stricter_policy(client):
    response = client.get("/share/not-a-token/")
    assert response.status_code == 404
    policy = directives(response["Content-Security-Policy"])
    assert policy["style-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]


def test_the_finder_sees_what_the_policy_would_block():
    assert inline_script_in("<script>alert(1)</script>")
    assert inline_script_in('<a href="#" onclick="go()">x</a>')
    assert inline_script_in('<a href=" JavaScript:go()">x</a>')
    assert not inline_script_in('<script src="/static/x.js"></script><script type="application/json">{}</script>')


def test_a_page_without_a_policy_would_fail_the_walk():
    class Bare(dict):
        status_code = 200

        def get(self, key, default=None):
            return super().get(key, default)

    with pytest.raises(AssertionError):
        assert_no_inline_script_allowed("/x/", Bare())
    with pytest.raises(AssertionError):
        assert_no_inline_script_allowed("/x/", Bare({"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"}))
