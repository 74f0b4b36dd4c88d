import django_filters
from django.db.models import Exists, OuterRef, Q

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


# ---------------------------------------------------------------- the blind rule inside list filters
# A filter on what others wrote (a tag, an expected output) would tell a blind reviewer what they may not
# read: "which spans carry alice's tag" is alice's tag. These are the filters' conditions as `user` may see
# the rows, from the one rule (`blinded_span_ids` / `visible_annotations_q`). None or a superuser: all rows.


def _everything(user) -> bool:
    return user is None or not getattr(user, "is_authenticated", False) or user.is_superuser


def visible_span_tags_q(user) -> Q:
    """SpanTag rows `user` may see: on a blinded span only the tags they added, and ingested tags (trace
    content, not a reviewer's judgement)."""
    from .models import AnnotationSource
    from .visibility import visible_annotations_q

    if _everything(user):
        return Q()
    return visible_annotations_q(user, span_field="span", author_field="added_by") | Q(
        added_by__isnull=True, source=AnnotationSource.INGEST
    )


def seen_expected_q(user) -> Q:
    """Spans whose expected output, as `user` may see it, is set: on a blinded span their own correction,
    or an ingested expected that nobody corrected (`AnnotationVisibility.annotations`)."""
    from .models import Correction
    from .visibility import blinded_span_ids

    if _everything(user):
        return Q(expected__isnull=False)
    blinded = blinded_span_ids(user)
    own = Exists(Correction.objects.filter(span_id=OuterRef("pk"), author=user))
    corrected = Exists(Correction.objects.filter(span_id=OuterRef("pk")))
    return (Q(expected__isnull=False) & ~Q(pk__in=blinded)) | (
        Q(pk__in=blinded) & (own | (Q(expected__isnull=False) & ~corrected))
    )
