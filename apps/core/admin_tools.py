"""ModelAdmin mixins and action helpers every app may use (core imports no feature app)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages


def selected_apply(modeladmin, request, queryset, service: Callable, *, param: str, done: str) -> None:
    """An admin action's body: `service(<param>=obj, actor=request.user)` for each selected object, then
    `done` (formatted with `count`) as a success message."""
    for obj in queryset:
        service(**{param: obj}, actor=request.user)
    modeladmin.message_user(request, done.format(count=len(queryset)), messages.SUCCESS)


class ReadOnlyAdminMixin:
    """Rows only services write (ingest, workers, append-only logs): the admin shows them and never adds
    or changes them; with `deletable = False` it never deletes them either."""

    deletable = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
