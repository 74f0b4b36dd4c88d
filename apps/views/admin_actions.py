"""Admin actions of the trace views app's changelists."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_tools import selected_apply

from . import services


@admin.action(description="Revoke selected share links")
def revoke(modeladmin, request, queryset):
    selected_apply(
        modeladmin, request, queryset, services.share_link_revoke, param="link", done="Revoked {count} link(s)."
    )
