"""Admin form fields that read JSON under the same rules as an API body (`apps.core.parsing`)."""

from __future__ import annotations

from django import forms

from apps.core.exceptions import ApplicationError
from apps.core.parsing import json_text_parse


class BoundedJSONFormField(forms.JSONField):
    """Django's JSON form field, parsed by `json_text_parse`: no RecursionError on deep input, lone
    surrogates refused, U+0000 stripped (PostgreSQL cannot store it)."""

    def to_python(self, value):
        if (
            self.disabled
            or value in self.empty_values
            or isinstance(value, forms.fields.JSONString)
            or not isinstance(value, str | bytes)
        ):
            return super().to_python(value)
        try:
            parsed = json_text_parse(value, field=self.label or "value")
        except ApplicationError as exc:
            messages = [m for ms in exc.fields.values() for m in ms] or [exc.message]
            raise forms.ValidationError(messages, code="invalid") from None
        if isinstance(parsed, str):
            return forms.fields.JSONString(parsed)
        return parsed
