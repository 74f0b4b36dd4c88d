"""Filter fields that refuse what the database cannot compare: times through the one time parser,
numbers that are finite floats. Every FilterSet uses these instead of django-filter's own."""

from __future__ import annotations

from datetime import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.widgets import DateRangeWidget
from rest_framework.exceptions import ValidationError

from .times import TimeError, datetime_bounded, datetime_parse


class BoundedIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 through `datetime_parse`: offsets within ±15:59, in range, answered as UTC."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            if isinstance(value, datetime):
                return datetime_bounded(value)
            return datetime_parse(str(value))
        except TimeError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class BoundedIsoDateTimeRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((BoundedIsoDateTimeField(), BoundedIsoDateTimeField()), *args, **kwargs)


class IsoDateTimeFromToRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` / `<name>_before`, ISO 8601, bounded."""

    field_class = BoundedIsoDateTimeRangeField


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


def filterset_errors(filterset) -> dict[str, list[str]]:
    """A FilterSet's errors keyed by the parameters as the user wrote them: a range filter's error
    names `<name>_after` / `<name>_before` (whichever is at fault), not the filter's own name."""
    form = filterset.form
    out: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        field = form.fields.get(name)
        suffixes = getattr(getattr(field, "widget", None), "suffixes", None)
        if not suffixes or not isinstance(field, forms.MultiValueField):
            out[name] = [str(m) for m in messages]
            continue
        keys = [f"{name}_{suffix}" if suffix else name for suffix in suffixes]
        at_fault: dict[str, list[str]] = {}
        for key, sub in zip(keys, field.fields, strict=False):
            try:
                sub.clean(form.data.get(key))
            except forms.ValidationError as exc:
                at_fault[key] = [str(m) for m in exc.messages]
        out.update(at_fault or {key: [str(m) for m in messages] for key in keys if key in form.data})
        if not at_fault and not any(key in form.data for key in keys):
            out[name] = [str(m) for m in messages]
    return out


class FilterBackend(DjangoFilterBackend):
    """django-filter's DRF backend, with errors named as the parameters were written (`filterset_errors`)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise ValidationError(filterset_errors(filterset))
        return filterset.qs


class NumberFilter(django_filters.NumberFilter):
    """A finite float (`1e400`, `inf` and `nan` are 400): PostgreSQL cannot compare a float column
    with a number beyond double precision."""

    field_class = forms.FloatField
