"""Admin actions of the trace views app's changelists."""

from __future__ import annotations

from django.contrib import admin, messages

from . import services


@admin.action(description="Revoke selected share links")
def revoke(modeladmin, request, queryset):
    for link in queryset:
        services.share_link_revoke(link=link, actor=request.user)
    messages.success(request, f"Revoked {queryset.count()} link(s).")
