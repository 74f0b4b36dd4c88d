import django_filters

from apps.core.filters import IsoDateTimeFilter, NumberFilter

from .models import Score, ScoreConfig, ScoreKind, ScoreSource


class ScoreConfigFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ScoreKind.choices)
    is_archived = django_filters.BooleanFilter()
    name = django_filters.CharFilter()

    class Meta:
        model = ScoreConfig
        fields = ["kind", "is_archived", "name"]


class ScoreFilter(django_filters.FilterSet):
    config = django_filters.CharFilter(field_name="config__name", help_text="Score config name.")
    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)
    span_id = django_filters.CharFilter(field_name="span__span_id")
    trace_id = django_filters.CharFilter(field_name="span__trace__trace_id")
    author = django_filters.CharFilter(field_name="author__username")
    value_gte = NumberFilter(field_name="value", lookup_expr="gte")
    value_lte = NumberFilter(field_name="value", lookup_expr="lte")
    label = django_filters.CharFilter()
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Score
        fields = ["config", "source", "span_id", "trace_id", "author", "label"]
