"""Admin for scorers, their versions and failures, online rules, run jobs and scoring jobs.

Scorers and versions are made through the API (a definition is validated there and versions are immutable),
so here they are read-only; online rules are edited here through the same validation as the API.
The lead merges this registration into the app's admin.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from apps.core.admin_tools import ReadOnlyAdminMixin
from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import ProjectScopedAdmin

from .models import OnlineRule, RunJob, Scorer, ScorerFailure, ScorerVersion, ScoringJob
from .online import online_rule_clean


class ReadOnlyAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """View only: these rows are written by services (versions are immutable, jobs are the worker's)."""


class ScorerVersionInline(admin.TabularInline):
    model = ScorerVersion
    fields = ("number", "config", "definition_hash", "note", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Scorer)
class ScorerAdmin(ReadOnlyAdmin):
    list_display = ("name", "project", "kind", "latest_version", "is_archived", "updated_at")
    list_filter = ("kind", "is_archived")
    list_select_related = ("project",)
    search_fields = ("name",)
    readonly_fields = ("project", "name", "kind", "description", "latest_version", "created_at", "updated_at")
    inlines = [ScorerVersionInline]


@admin.register(ScorerVersion)
class ScorerVersionAdmin(ReadOnlyAdmin):
    project_field = "scorer__project"
    list_display = ("scorer", "number", "config", "definition_hash", "created_at")
    list_select_related = ("scorer", "config")
    readonly_fields = ("scorer", "number", "config", "definition", "definition_hash", "note", "created_by")

    def object_project_id(self, obj) -> int:
        return obj.scorer.project_id


@admin.register(ScorerFailure)
class ScorerFailureAdmin(ReadOnlyAdmin):
    list_display = ("scorer_version", "span", "result", "short_error", "created_at")
    list_select_related = ("scorer_version__scorer", "span", "result")
    show_full_result_count = False
    readonly_fields = ("project", "scorer_version", "span", "result", "error", "created_at")

    @admin.display(description="error")
    def short_error(self, obj) -> str:
        return obj.error[:120]


class OnlineRuleForm(forms.ModelForm):
    class Meta:
        model = OnlineRule
        fields = ("project", "scorer", "scorer_version", "sample_rate", "span_name", "span_type", "root_only")
        fields += ("is_active",)

    def clean(self):
        data = super().clean()
        project = data.get("project")
        if project is not None:
            try:
                online_rule_clean(project, {k: v for k, v in data.items() if k != "project"}, None)
            except ApplicationError as exc:
                for field, messages in exc.fields.items():
                    self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(OnlineRule)
class OnlineRuleAdmin(ProjectScopedAdmin):
    form = OnlineRuleForm
    manage_action = "score_config.manage"
    list_display = ("scorer", "project", "scorer_version", "sample_rate", "span_name", "span_type", "is_active")
    list_select_related = ("scorer", "project", "scorer_version")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("scorer", "scorer_version") and not request.user.is_superuser:
            through = "project" if db_field.name == "scorer" else "scorer__project"
            model = Scorer if db_field.name == "scorer" else ScorerVersion
            kwargs["queryset"] = model.objects.filter(**{f"{through}__in": self.user_projects(request)})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ExperimentJobAdmin(ReadOnlyAdmin):
    project_field = "experiment__project"
    list_display = ("pk", "experiment", "status", "done", "failed", "total", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("experiment",)

    def object_project_id(self, obj) -> int:
        return obj.experiment.project_id


@admin.register(RunJob)
class RunJobAdmin(ExperimentJobAdmin):
    readonly_fields = ("experiment", "status", "params", "total", "done", "failed", "error", "cancel_requested")


@admin.register(ScoringJob)
class ScoringJobAdmin(ExperimentJobAdmin):
    readonly_fields = ("experiment", "scorer_version", "status", "total", "done", "failed", "error")
