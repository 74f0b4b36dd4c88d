"""Non-API pages: the public share page. Every page that shows trace content sends a strict CSP."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .renderer import render_html, render_tree
from .selectors import share_link_for_token

IMG_SRC = "'self' https: http: data:"


def content_security_policy(*, frame_ancestors: list[str] | None = None, admin: bool = False) -> str:
    """No inline script, ever: trace content cannot run even if some escaping were missed.

    Admin pages keep inline *styles* (Django's admin templates use a few); share pages do not.
    """
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    style = "'self' 'unsafe-inline'" if admin else "'self'"
    return (
        f"default-src 'none'; script-src 'self'; style-src {style}; img-src {IMG_SRC}; "
        f"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {ancestors}"
    )


def frame_origins(project) -> list[str]:
    """The project's allowed origins that are plain http(s) origins (nothing that could widen the CSP)."""
    pattern = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
    return [o.rstrip("/") for o in (project.allowed_origins or []) if isinstance(o, str) and pattern.match(o.rstrip("/"))]


@never_cache
@require_GET
def share_page(request, token: str) -> HttpResponse:
    link = share_link_for_token(token)
    if link is None:
        response = render(request, "views/share_gone.html", status=404)
        response["Content-Security-Policy"] = content_security_policy()
        response["Referrer-Policy"] = "no-referrer"
        return response
    nodes = render_tree(link.view.spec, link.trace, viewer=link.created_by)
    response = render(request, "views/share.html", {
        "link": link, "view": link.view, "trace": link.trace, "body": render_html(nodes, interactive=False),
    })
    origins = frame_origins(link.project)
    response["Content-Security-Policy"] = content_security_policy(frame_ancestors=origins)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    if origins:
        # frame-ancestors names who may embed; X-Frame-Options cannot express a list, so it is left out.
        response.xframe_options_exempt = True
    return response
