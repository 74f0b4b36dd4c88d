"""Admin actions of the reviews app's changelists."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_tools import selected_apply

from .services.score_configs import score_config_archive, score_config_restore


@admin.action(description="Archive (keeps scores, refuses new ones)")
def archive_configs(modeladmin, request, queryset):
    selected_apply(
        modeladmin, request, queryset, score_config_archive, param="config", done="Archived {count} config(s)."
    )


@admin.action(description="Restore archived configs")
def restore_configs(modeladmin, request, queryset):
    selected_apply(
        modeladmin, request, queryset, score_config_restore, param="config", done="Restored {count} config(s)."
    )
