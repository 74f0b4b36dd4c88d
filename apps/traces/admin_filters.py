"""List filters of the trace and span changelists (the sidebar): time window, project, recent names
and models, tags, span types, has-expected."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.text import Truncator

from apps.core.parsing import is_id

from .filters import SpanFilter, TraceFilter
from .models import Span, SpanType, Tag, Trace, TraceOrigin


class StartedWithinFilter(admin.SimpleListFilter):
    title = "start time"
    parameter_name = "started"
    windows = {
        "1h": ("Last hour", timedelta(hours=1)),
        "24h": ("Last 24 hours", timedelta(days=1)),
        "7d": ("Last 7 days", timedelta(days=7)),
        "30d": ("Last 30 days", timedelta(days=30)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.windows.items()]

    def queryset(self, request, queryset):
        window = self.windows.get(self.value() or "")
        return queryset.filter(start_time__gte=timezone.now() - window[1]) if window else queryset


class ProjectListFilter(admin.SimpleListFilter):
    """Only the user's projects; hidden for a user of one project."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request, model_admin):
        return [(str(p.pk), p.slug) for p in model_admin.user_projects(request).only("pk", "slug")[:200]]

    def has_output(self):
        return len(self.lookup_choices) > 1

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not is_id(value):
            return queryset.none()
        return queryset.filter(project_id=int(value))


class RecentValuesFilter(admin.SimpleListFilter):
    """Exact match on a column; the choices are the values seen in the newest rows (cheap, no DISTINCT scan)."""

    field = ""
    sample = 2000
    max_choices = 50

    def lookups(self, request, model_admin):
        recent = (
            model_admin.get_queryset(request).order_by("-start_time").values_list(self.field, flat=True)[: self.sample]
        )
        values = sorted({v for v in recent if v})[: self.max_choices]
        current = self.value()
        if current and current not in values:
            values.append(current)
        return [(v, Truncator(v).chars(60)) for v in values]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class TraceNameFilter(RecentValuesFilter):
    title = "name"
    parameter_name = "name"
    field = "name"


class SpanNameFilter(TraceNameFilter):
    pass


class SpanModelFilter(RecentValuesFilter):
    title = "model"
    parameter_name = "model"
    field = "model"


class TagListFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = Tag.objects.filter(project__in=model_admin.user_projects(request))
        names = sorted(set(tags.values_list("name", flat=True)[:500]))
        return [(n, n) for n in names]

    def queryset(self, request, queryset):
        name = self.value()
        if not name:
            return queryset
        # The API's filter, on the tags this user may see (blind review queues).
        filterset = TraceFilter if queryset.model is Trace else SpanFilter
        return filterset(data={"tags": [name]}, queryset=queryset, request=request).qs


class HasSpanTypeFilter(admin.SimpleListFilter):
    title = "has a span of type"
    parameter_name = "span_type"

    def lookups(self, request, model_admin):
        return SpanType.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value not in SpanType.values:
            return queryset
        return queryset.filter(Exists(Span.objects.filter(trace_id=OuterRef("pk"), type=value)))


class HasExpectedFilter(admin.SimpleListFilter):
    title = "expected output"
    parameter_name = "has_expected"

    def lookups(self, request, model_admin):
        return [("yes", "Has expected"), ("no", "No expected")]

    def queryset(self, request, queryset):
        from apps.reviews.filters import seen_expected_q

        if self.value() not in ("yes", "no"):
            return queryset
        has = seen_expected_q(request.user)  # as this user may see it (blind review queues)
        return queryset.filter(has if self.value() == "yes" else ~has)


class OriginListFilter(admin.SimpleListFilter):
    """Production traces unless asked for: experiment traces have their own pages."""

    title = "origin"
    parameter_name = "origin"

    def lookups(self, request, model_admin):
        return [(TraceOrigin.EXPERIMENT, "Experiment"), ("all", "All origins")]

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = "Production"
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == "all":
            return queryset
        return queryset.filter(origin=value if value in TraceOrigin.values else TraceOrigin.PRODUCTION)
