"""Template helpers for showing spans: `{% span_value value as shown %}` and `|duration_ms`."""

from django import template

from apps.traces.rendering import format_duration_ms, span_value_display

register = template.Library()


@register.simple_tag
def span_value(value):
    """Classify a span value (see apps.traces.rendering); render it with traces/_span_io.html."""
    return span_value_display(value)


@register.filter
def duration_ms(value):
    return format_duration_ms(value)
