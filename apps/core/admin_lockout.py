"""The page a locked-out admin sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE): 429 with Retry-After."""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = max(1, math.ceil(cool_off.total_seconds())) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "minutes": math.ceil(seconds / 60) if seconds else None,
    }
    response = TemplateResponse(request, "admin/login_locked.html", context, status=429)
    if seconds:
        # Every failure during the lockout restarts it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT).
        response["Retry-After"] = str(seconds)
    return response.render()
