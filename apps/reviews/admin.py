from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm

from apps.core.admin_tools import ReadOnlyAdminMixin
from apps.core.exceptions import ApplicationError
from apps.core.json_preview import json_preview
from apps.core.markdown import render_markdown
from apps.projects.admin_scope import ProjectScopedAdmin
from apps.projects.models import Project

from . import admin_actions, admin_views
from .models import Comment, Correction, Score, ScoreConfig, ScoreEvent, TagEvent
from .resources import ScoreConfigResource
from .services.score_configs import (
    CONFIG_FIELDS,
    score_config_clean,
    score_config_create,
    score_config_delete,
    score_config_update,
)
from .services.scores import score_delete
from .visibility import visible_annotations_q


class ScoreConfigForm(forms.ModelForm):
    class Meta:
        model = ScoreConfig
        fields = ["project", *CONFIG_FIELDS]
        help_texts = {
            "options": 'Categorical only: [{"label": "correct", "value": 1}, {"label": "incorrect", "value": 0}]',
            "min_value": "Continuous only. Reviewers see a slider in percent of [min, max].",
            "max_length": "Text only: the longest answer accepted.",
        }

    def clean(self):
        cleaned = super().clean()
        project = cleaned.get("project") or (self.instance.project if self.instance.pk else None)
        if project is None:
            return cleaned
        data = {k: cleaned.get(k) for k in CONFIG_FIELDS if k in cleaned}
        if data.get("options") is None:
            data["options"] = []
        existing = ScoreConfig.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        try:
            clean = score_config_clean(project=project, data=data, instance=existing)
        except ApplicationError as exc:
            for name, msgs in exc.fields.items():
                root = name.split(".")[0]
                target = root if root in self.fields else None
                for msg in msgs:
                    self.add_error(target, f"{name}: {msg}" if name != root else msg)
            return cleaned
        cleaned.update(clean)
        return cleaned


class ScoreConfigImportForm(ImportForm):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        help_text="Configs are imported into this project; one with the same name there is updated.",
    )


class ScoreConfigConfirmImportForm(ConfirmImportForm):
    project = forms.ModelChoiceField(queryset=Project.objects.none(), widget=forms.HiddenInput)


@admin.register(ScoreConfig)
class ScoreConfigAdmin(ImportExportMixin, ProjectScopedAdmin):
    manage_action = "score_config.manage"
    form = ScoreConfigForm
    resource_classes = [ScoreConfigResource]
    import_form_class = ScoreConfigImportForm
    confirm_form_class = ScoreConfigConfirmImportForm
    list_display = ["name", "project", "kind", "settings_summary", "order", "is_archived", "score_count"]
    list_filter = ["kind", "is_archived", "project"]
    list_select_related = ["project"]
    search_fields = ["name", "description"]
    ordering = ["project", "order", "name"]
    actions = [admin_actions.archive_configs, admin_actions.restore_configs]
    readonly_fields = ["description_preview", "is_archived", "archived_at", "created_by", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_scores=Count("scores"))

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        return [*fields, "project"] if obj is not None else fields

    @admin.display(description="scores", ordering="n_scores")
    def score_count(self, obj):
        return obj.n_scores

    @admin.display(description="settings")
    def settings_summary(self, obj):
        if obj.kind == "continuous":
            return f"{obj.min_value:g} – {obj.max_value:g}"
        if obj.kind == "categorical":
            text = ", ".join(f"{o['label']}={o['value']:g}" for o in obj.options)
            return f"{text} (multi)" if obj.multi_select else text
        if obj.kind == "text":
            return f"≤ {obj.max_length} characters"
        return "true / false"

    @admin.display(description="description (rendered)")
    def description_preview(self, obj):
        return render_markdown(obj.description)

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in CONFIG_FIELDS if k in form.cleaned_data}
        if change:
            saved = score_config_update(config=ScoreConfig.objects.get(pk=obj.pk), actor=request.user, **data)
        else:
            saved = score_config_create(project=form.cleaned_data["project"], created_by=request.user, **data)
            obj.pk = saved.pk
            obj._state.adding = False
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.scores.exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        score_config_delete(config=obj, actor=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # import-export: admins only; the import picks the target project
    def has_import_permission(self, request):
        return self.can(request, self.manage_action)

    def has_export_permission(self, request):
        return self.can(request, self.manage_action)

    def create_import_form(self, request):
        form = super().create_import_form(request)
        form.fields["project"].queryset = self.user_projects(request, self.manage_action)
        return form

    def create_confirm_form(self, request, import_form=None):
        form = super().create_confirm_form(request, import_form)
        form.fields["project"].queryset = self.user_projects(request, self.manage_action)
        return form

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["project"] = import_form.cleaned_data["project"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        cleaned = getattr(form, "cleaned_data", None) or {}
        return {"project": cleaned.get("project")}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {}


class ReadMostlyAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Annotations are written through the panel and the API; the admin lists and deletes them."""

    manage_action = "annotation.delete"
    author_field = "author"

    def get_queryset(self, request):
        # Blind review queues: a reviewer lists only their own annotations on the items they review.
        return super().get_queryset(request).filter(visible_annotations_q(request.user, author_field=self.author_field))


@admin.register(Score)
class ScoreAdmin(ReadMostlyAdmin):
    list_display = ["span_link", "config", "display_value", "source", "author", "updated_at"]
    list_filter = ["source", "config__kind", "project"]
    list_select_related = ["span", "config", "author", "project"]
    search_fields = ["span__span_id", "config__name", "label", "text"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="span")
    def span_link(self, obj):
        # The span page of the traces admin shows the annotation panel beside the span.
        url = reverse("admin:traces_span_change", args=[obj.span_id])
        return format_html('<a href="{}">{}</a>', url, obj.span.name or obj.span.span_id)

    @admin.display(description="value")
    def display_value(self, obj):
        return obj.display_value

    # Deleting goes through the service so the score history records it.
    def delete_model(self, request, obj):
        score_delete(score=obj)

    def delete_queryset(self, request, queryset):
        for score in queryset:
            score_delete(score=score)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path("panel/<int:span_pk>/", wrap(self.annotation_panel), name="reviews_annotation_panel"),
            path("panel/<int:span_pk>/history/", wrap(self.annotation_history), name="reviews_annotation_history"),
            path("panel/<int:span_pk>/submit/", wrap(self.annotation_submit), name="reviews_annotation_submit"),
        ]
        return urls + super().get_urls()

    def annotation_panel(self, request, span_pk: int):
        return admin_views.annotation_panel_view(self, request, span_pk)

    def annotation_history(self, request, span_pk: int):
        return admin_views.annotation_history_view(self, request, span_pk)

    def annotation_submit(self, request, span_pk: int):
        return admin_views.annotation_submit_view(self, request, span_pk)


@admin.register(ScoreEvent)
class ScoreEventAdmin(ReadMostlyAdmin):
    list_display = ["created_at", "span", "config", "action", "value", "label", "text", "author", "source"]
    list_filter = ["action", "source", "project"]
    list_select_related = ["span", "config", "author"]
    show_full_result_count = False
    ordering = ["-id"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Comment)
class CommentAdmin(ReadMostlyAdmin):
    list_display = ["created_at", "span", "author", "source", "short_text"]
    list_filter = ["source", "project"]
    list_select_related = ["span", "author"]
    search_fields = ["text", "span__span_id"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="text")
    def short_text(self, obj):
        return json_preview(obj.text, 120)


@admin.register(Correction)
class CorrectionAdmin(ReadMostlyAdmin):
    list_display = ["created_at", "span", "author", "source", "value_preview"]
    list_filter = ["source", "project"]
    list_select_related = ["span", "author"]
    search_fields = ["span__span_id"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="value")
    def value_preview(self, obj):
        return json_preview(obj.value, 120)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TagEvent)
class TagEventAdmin(ReadMostlyAdmin):
    author_field = "user"
    list_display = ["created_at", "span", "tag_name", "action", "user", "source"]
    list_filter = ["action", "source", "project"]
    list_select_related = ["span", "user"]
    search_fields = ["tag_name", "span__span_id"]
    show_full_result_count = False
    ordering = ["-id"]

    def has_delete_permission(self, request, obj=None):
        return False
