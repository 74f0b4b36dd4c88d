"""Declared filters for traces and spans, shared by the read API, the admin and "add by filter" endpoints.

Only the filters declared here reach the ORM: user input never becomes a lookup name or an
`order_by`. Reuse them anywhere a user picks traces or spans by filter::

    fs = SpanFilter(data=request.data.get("filters") or {}, queryset=Span.objects.filter(project=project))
    if not fs.is_valid():
        raise ApplicationError("Invalid filters.", fields=fs.errors)
    spans = fs.qs

`data` may be a QueryDict (query string: repeat a multi-valued parameter or separate values with
commas) or a plain dict from JSON (a multi-valued filter also takes a list).

Semantics:
- `tags`: every listed tag must be present (a trace matches when any of its spans carries the tag).
- `tags` and `has_expected` answer on what the request's user may see (blind review queues: another
  reviewer's tags and corrections do not count), like every reader of annotations.
- `metadata=key:value` (repeatable, all must match): compares the text of a top-level metadata key.
  On traces it matches when the root span **or any span** of the trace has it (user and session
  ids usually sit on the root span; a model or retriever setting on a child span counts too).
- `q` (traces): case-insensitive substring of the input/output previews, or an exact trace id.
"""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from drf_spectacular.utils import extend_schema_field

from apps.core.filters import IsoDateTimeFromToRangeFilter, NumberFilter

from .models import ReviewStatus, Span, SpanTag, SpanType, Trace, TraceOrigin

METADATA_KEY_RE = re.compile(r"^[\w.\-/@$ ]{1,100}$")
MAX_VALUES = 20
MAX_VALUE_CHARS = 500


class MultiValueField(forms.Field):
    """A list of strings from repeated parameters, comma-separated values, or a JSON list."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *args, split_commas: bool = True, allowed: list[str] | None = None, **kwargs):
        self.split_commas = split_commas
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value in (None, "", []):
            return []
        if isinstance(value, str | int | float):
            value = [value]
        if not isinstance(value, list | tuple):
            raise forms.ValidationError("Give a string or a list of strings.")
        out: list[str] = []
        for item in value:
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise forms.ValidationError("Each value must be a string.")
            parts = str(item).split(",") if self.split_commas else [str(item)]
            out.extend(p.strip() for p in parts if p.strip())
        if len(out) > MAX_VALUES:
            raise forms.ValidationError(f"At most {MAX_VALUES} values.")
        if any(len(v) > MAX_VALUE_CHARS for v in out):
            raise forms.ValidationError(f"Each value is at most {MAX_VALUE_CHARS} characters.")
        unknown = sorted(set(out) - set(self.allowed)) if self.allowed is not None else []
        if unknown:
            raise forms.ValidationError(
                f"Unknown value(s) {', '.join(unknown)}; choose from {', '.join(self.allowed)}."
            )
        return out

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no); anything else is an error naming the field, not "no filter"."""

    widget = forms.TextInput
    TRUE = {"true", "1", "yes"}
    FALSE = {"false", "0", "no"}

    def to_python(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Use true or false.")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


STRING_LIST_SCHEMA = {"type": "array", "items": {"type": "string"}}


@extend_schema_field(STRING_LIST_SCHEMA)
class MultiValueFilter(django_filters.Filter):
    """Base for filters taking several values; `filter()` receives a (possibly empty) list."""

    field_class = MultiValueField

    def filter(self, qs, value):
        return qs if not value else self.filter_values(qs, value)

    def filter_values(self, qs, values):  # pragma: no cover - overridden
        raise NotImplementedError


@extend_schema_field(STRING_LIST_SCHEMA)
class InFilter(MultiValueFilter):
    """`field IN (values)`."""

    def filter_values(self, qs, values):
        return qs.filter(**{f"{self.field_name}__in": values})


class MetadataField(MultiValueField):
    """`key:value` pairs; values may contain colons (split at the first one)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("split_commas", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if isinstance(value, dict):  # JSON callers may send {"key": "value", ...}
            value = [f"{k}:{v}" for k, v in value.items()]
        pairs = []
        for item in super().to_python(value):
            key, sep, val = item.partition(":")
            key = key.strip()
            if not sep or not METADATA_KEY_RE.match(key):
                raise forms.ValidationError(
                    "Use key:value, with a key of letters, digits, and . _ - / @ $ or spaces (at most 100)."
                )
            pairs.append((key, val))
        return pairs


def metadata_condition(queryset: QuerySet, key: str, value: str, *, alias: str = "_meta_text") -> QuerySet:
    """Rows of `queryset` whose metadata[key], as text, equals `value`. The key is a bound parameter."""
    return queryset.alias(**{alias: Cast(KeyTextTransform(key, "metadata"), CharField())}).filter(**{alias: value})


@extend_schema_field(STRING_LIST_SCHEMA)
class MetadataFilter(MultiValueFilter):
    field_class = MetadataField

    def __init__(self, *args, through_spans: bool = False, **kwargs):
        self.through_spans = through_spans
        super().__init__(*args, **kwargs)

    def filter_values(self, qs, pairs):
        for i, (key, value) in enumerate(pairs):
            if self.through_spans:
                spans = metadata_condition(Span.objects.filter(trace_id=OuterRef("pk")), key, value)
                qs = qs.filter(Exists(spans))
            else:
                qs = metadata_condition(qs, key, value, alias=f"_meta_text_{i}")
        return qs


@extend_schema_field(STRING_LIST_SCHEMA)
class TagsFilter(MultiValueFilter):
    """Every tag must be present, through the SpanTag rows (indexed by tag, span)."""

    def __init__(self, *args, on_traces: bool = False, **kwargs):
        self.on_traces = on_traces
        super().__init__(*args, **kwargs)

    def filter_values(self, qs, names):
        from apps.reviews.filters import visible_span_tags_q

        seen = visible_span_tags_q(_filter_request_user(self.parent))  # blind review queues: only the tags they may see
        for name in names:
            if self.on_traces:
                tagged = SpanTag.objects.filter(span__trace_id=OuterRef("pk"), tag__name=name)
            else:
                tagged = SpanTag.objects.filter(span_id=OuterRef("pk"), tag__name=name)
            qs = qs.filter(Exists(tagged.filter(seen)))
        return qs


def _filter_request_user(filterset):
    """Who the filters answer to (`request.user` of an API or admin list; None: everything)."""
    return getattr(getattr(filterset, "request", None), "user", None) if filterset is not None else None


@extend_schema_field(STRING_LIST_SCHEMA)
class SpanTypeOnTraceFilter(MultiValueFilter):
    """Traces that have at least one span of one of these types."""

    def filter_values(self, qs, types):
        return qs.filter(Exists(Span.objects.filter(trace_id=OuterRef("pk"), type__in=types)))


class OriginFilter(django_filters.ChoiceFilter):
    """`production` (the default, also when absent), `experiment` or `all`: experiment traces stay out
    of production lists unless asked for."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [*TraceOrigin.choices, ("all", "All")])
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        value = value or TraceOrigin.PRODUCTION
        return qs if value == "all" else qs.filter(**{self.field_name: value})


class TraceFilter(django_filters.FilterSet):
    trace_id = InFilter(field_name="trace_id", help_text="One or more trace ids.")
    name = InFilter(field_name="name", help_text="Exact trace name(s).")
    start_time = IsoDateTimeFromToRangeFilter(
        field_name="start_time", help_text="`start_time_after` / `start_time_before` (ISO 8601)."
    )
    end_time = IsoDateTimeFromToRangeFilter(
        field_name="end_time", help_text="`end_time_after` / `end_time_before` (ISO 8601)."
    )
    min_duration_ms = NumberFilter(field_name="duration_ms", lookup_expr="gte")
    max_duration_ms = NumberFilter(field_name="duration_ms", lookup_expr="lte")
    has_error = StrictBooleanFilter(field_name="has_error")
    tags = TagsFilter(on_traces=True, help_text="Tag names; all must be present on a span of the trace.")
    span_type = SpanTypeOnTraceFilter(
        allowed=list(SpanType.values), help_text="Traces with at least one span of one of these types."
    )
    metadata = MetadataFilter(
        through_spans=True, help_text="`key:value`, repeatable; matches the root span or any span."
    )
    user_id = django_filters.CharFilter(field_name="user_id")
    session_id = django_filters.CharFilter(field_name="session_id")
    review_status = django_filters.MultipleChoiceFilter(field_name="review_status", choices=ReviewStatus.choices)
    q = django_filters.CharFilter(
        method="search", max_length=200, help_text="Substring of the input/output previews, or an exact trace id."
    )
    origin = OriginFilter(field_name="origin", help_text="production (default), experiment or all.")
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug (session users).")

    class Meta:
        model = Trace
        fields: list[str] = []

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(trace_id=value) | Q(input_preview__icontains=value) | Q(output_preview__icontains=value)
        )


def filter_parameter_names(filterset_class) -> set[str]:
    """The data keys a FilterSet accepts: its filters, with range filters as `<name>_after` / `_before`.

    Use it to reject unknown keys (`set(data) - filter_parameter_names(SpanFilter)`); the form's
    field names alone miss the range suffixes. Errors of a range filter are keyed by its name
    (`start_time`) in `filterset.errors`; `apps.core.filters.filterset_errors` names the parameter."""
    names: set[str] = set()
    form = filterset_class(data={}, queryset=filterset_class._meta.model.objects.none()).form
    for name, form_field in form.fields.items():
        suffixes = getattr(form_field.widget, "suffixes", None)
        if suffixes:
            names.update(f"{name}_{suffix}" if suffix else name for suffix in suffixes)
        else:
            names.add(name)
    return names


class SpanFilter(django_filters.FilterSet):
    span_id = InFilter(field_name="span_id", help_text="One or more span ids.")
    trace_id = InFilter(field_name="trace__trace_id", help_text="One or more trace ids.")
    parent_span_id = django_filters.CharFilter(field_name="parent_span_id")
    is_root = StrictBooleanFilter(method="filter_is_root", help_text="Only the root span of each trace.")
    name = InFilter(field_name="name", help_text="Exact span name(s).")
    type = InFilter(field_name="type", allowed=list(SpanType.values), help_text="Span type(s).")
    model = InFilter(field_name="model", help_text="Model name(s).")
    start_time = IsoDateTimeFromToRangeFilter(
        field_name="start_time", help_text="`start_time_after` / `start_time_before` (ISO 8601)."
    )
    min_duration_ms = NumberFilter(field_name="duration_ms", lookup_expr="gte")
    max_duration_ms = NumberFilter(field_name="duration_ms", lookup_expr="lte")
    has_error = StrictBooleanFilter(field_name="is_error")
    has_expected = StrictBooleanFilter(method="filter_has_expected")
    tags = TagsFilter(help_text="Tag names; all must be on the span.")
    metadata = MetadataFilter(help_text="`key:value`, repeatable; on the span's own metadata.")
    review_status = django_filters.MultipleChoiceFilter(
        field_name="trace__review_status", choices=ReviewStatus.choices, help_text="Review status of the trace."
    )
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug (session users).")

    class Meta:
        model = Span
        fields: list[str] = []

    def filter_is_root(self, queryset, name, value):
        if value is None:
            return queryset
        from .selectors import trace_root_span_pk  # selectors import the filters

        is_root = Q(pk=trace_root_span_pk(OuterRef("trace_id")))
        return queryset.filter(is_root) if value else queryset.exclude(is_root)

    def filter_has_expected(self, queryset, name, value):
        from apps.reviews.filters import seen_expected_q

        if value is None:
            return queryset
        has = seen_expected_q(_filter_request_user(self))  # as the caller may see it (blind review queues)
        return queryset.filter(has if value else ~has)
