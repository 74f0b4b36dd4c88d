"""Non-API pages: the public share page. Every page that shows trace content sends a strict CSP."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.security import content_security_policy
from apps.core.throttling import ShareAddressThrottle, ShareLinkThrottle, request_wait

from .renderer import render_html, render_tree
from .selectors import share_link_for_token


def frame_origins(project) -> list[str]:
    """The project's allowed origins that are plain http(s) origins (nothing that could widen the CSP)."""
    pattern = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
    return [
        o.rstrip("/") for o in (project.allowed_origins or []) if isinstance(o, str) and pattern.match(o.rstrip("/"))
    ]


@never_cache
@require_GET
def share_page(request, token: str) -> HttpResponse:
    wait = request_wait(request, [ShareAddressThrottle(), ShareLinkThrottle(token)])
    if wait is not None:
        response = render(request, "views/share_throttled.html", {"wait": wait}, status=429)
        response["Retry-After"] = str(wait)
        response["Content-Security-Policy"] = content_security_policy()
        response["Referrer-Policy"] = "no-referrer"
        return response
    link = share_link_for_token(token)
    if link is None:
        response = render(request, "views/share_gone.html", status=404)
        response["Content-Security-Policy"] = content_security_policy()
        response["Referrer-Policy"] = "no-referrer"
        return response
    nodes = render_tree(link.view.spec, link.trace, viewer=link.created_by)
    response = render(
        request,
        "views/share.html",
        {
            "link": link,
            "view": link.view,
            "trace": link.trace,
            "body": render_html(nodes, interactive=False),
        },
    )
    origins = frame_origins(link.project)
    response["Content-Security-Policy"] = content_security_policy(frame_ancestors=origins)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    if origins:
        # frame-ancestors names who may embed; X-Frame-Options cannot express a list, so it is left out.
        response.xframe_options_exempt = True
    return response
