"""Filter fields that refuse what the database cannot compare: times through the one time parser,
numbers that are finite floats. Every FilterSet uses these instead of django-filter's own."""

from __future__ import annotations

from datetime import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget

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


class NumberFilter(django_filters.NumberFilter):
    """A finite float (`1e400`, `inf` and `nan` are 400): PostgreSQL cannot compare a float column
    with a number beyond double precision."""

    field_class = forms.FloatField
