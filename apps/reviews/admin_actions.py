"""Admin actions of the reviews app's changelists."""

from __future__ import annotations

from django.contrib import admin, messages

from .services.score_configs import score_config_archive, score_config_restore


@admin.action(description="Archive (keeps scores, refuses new ones)")
def archive_configs(modeladmin, request, queryset):
    for config in queryset:
        score_config_archive(config=config, actor=request.user)
    modeladmin.message_user(request, f"Archived {queryset.count()} config(s).", messages.SUCCESS)


@admin.action(description="Restore archived configs")
def restore_configs(modeladmin, request, queryset):
    for config in queryset:
        score_config_restore(config=config, actor=request.user)
    modeladmin.message_user(request, f"Restored {queryset.count()} config(s).", messages.SUCCESS)
