"""Helpers for audit tests: a project admin, and a change form's current values for an admin POST."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.projects.models import Role


@pytest.fixture
def admin_member(project, member):
    return member(project, role=Role.ADMIN, username="alice")


@pytest.fixture
def events():
    """events(action) -> the events with that action, oldest first."""

    def get(action: str) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(action=action).order_by("id"))

    return get


def change_form_data(response) -> dict:
    """The values a change form was rendered with (main form and inlines), ready to POST back."""
    data: dict = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            elif isinstance(value, dict):
                import json

                data[key] = json.dumps(value)
            else:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = str(value)
        for form in formset.initial_forms:
            add(form)
    return data
