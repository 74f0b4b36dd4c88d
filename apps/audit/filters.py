import django_filters
from django.db.models import Q

from .models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    actor = django_filters.CharFilter(method="filter_actor", help_text="A username, or an API key's prefix.")
    action = django_filters.CharFilter(help_text="An exact action, e.g. `score_config.update`.")
    action_prefix = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", help_text="Actions starting with this, e.g. `dataset.`."
    )
    object_type = django_filters.CharFilter(help_text="`<app>.<model>`, e.g. `reviews.scoreconfig`.")
    object_id = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["project", "actor", "action", "action_prefix", "object_type", "object_id"]

    def filter_actor(self, queryset, name, value):
        return queryset.filter(Q(actor_user__username=value) | Q(actor_key__prefix=value))
