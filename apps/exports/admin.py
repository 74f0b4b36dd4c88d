from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_tools import selected_apply
from apps.core.exceptions import ApplicationError
from apps.core.forms import BoundedJSONFormField
from apps.projects.admin_scope import ProjectScopedAdmin

from . import admin_views
from .destinations import (
    CREDENTIAL_KEYS,
    export_destination_delete,
    export_destination_save,
    export_destination_validate,
)
from .models import JOB_FIELDS, ExportDestination, ExportJob, ExportSchedule, ExportStatus
from .schedules import SCHEDULE_FIELDS, export_schedule_pause, export_schedule_resume, export_schedule_trigger
from .services import (
    export_schedule_delete,
    export_schedule_save,
    export_schedule_validate,
)


@admin.register(ExportJob)
class ExportJobAdmin(ProjectScopedAdmin):
    manage_action = "export.run"
    # The progress column names the status; the export's own label repeats source, format and status.
    list_display = (
        "export_label",
        "project",
        "source",
        "format",
        "progress_bar",
        "row_count",
        "size",
        "requested_by",
        "created_at",
        "download",
    )
    list_filter = ("status", "source", "format", "project")
    list_select_related = ("project", "requested_by")
    show_full_result_count = False
    date_hierarchy = "created_at"
    # The API's fields, progress as a bar and the size readable.
    readonly_fields = tuple({"progress": "progress_bar", "byte_size": "size"}.get(f, f) for f in JOB_FIELDS)
    exclude = ("selected_pks", "run_token", "byte_size", "progress", "dispatched_at")
    change_list_template = "admin/exports/exportjob/change_list.html"
    change_form_template = "admin/exports/exportjob/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("selected_pks", "problems")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(self.export_new_view), name="exports_exportjob_new"),
            path("status/", wrap(self.export_status_view), name="exports_exportjob_status"),
            path("<int:pk>/cancel/", wrap(self.export_cancel_view), name="exports_exportjob_cancel"),
            path("<int:pk>/download/", wrap(self.export_download_view), name="exports_exportjob_download"),
        ] + super().get_urls()

    def export_new_view(self, request):
        return admin_views.export_new_view(self, request)

    def export_status_view(self, request):
        return admin_views.export_status_view(self, request)

    def export_cancel_view(self, request, pk):
        return admin_views.export_cancel_view(self, request, pk)

    def export_download_view(self, request, pk):
        return admin_views.export_download_view(self, request, pk)

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.export_new_view(self, request)

    def has_change_permission(self, request, obj=None):
        return False  # jobs are read-only; cancel is its own button

    @admin.display(description="Export", ordering="id")
    def export_label(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="Progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress class="export-progress" max="1" value="{}" data-export-id="{}" data-status="{}">{}%</progress>'
            ' <span class="export-status" data-export-id="{}">{}</span>',
            obj.progress,
            obj.pk,
            obj.status,
            round(obj.progress * 100),
            obj.pk,
            obj.get_status_display(),
        )

    @admin.display(description="Size")
    def size(self, obj):
        return filesizeformat(obj.byte_size) if obj.status == ExportStatus.SUCCEEDED else "—"

    @admin.display(description="Selected rows")
    def selected_count(self, obj):
        return "—" if obj.selected_pks is None else len(obj.selected_pks)

    @admin.display(description="File")
    def download(self, obj):
        if obj.status != ExportStatus.SUCCEEDED:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:exports_exportjob_download", args=[obj.pk]), obj.file_name
        )


class ExportScheduleForm(forms.ModelForm):
    filters = BoundedJSONFormField(
        required=False,
        initial=dict,
        help_text='Span or trace filters, e.g. {"has_expected": true, "tags": ["golden"]}.',
    )
    options = BoundedJSONFormField(
        required=False,
        initial=dict,
        help_text='Format options, e.g. {"reviewer_scores": true} (CSV per-reviewer scores).',
    )

    class Meta:
        model = ExportSchedule
        fields = ("project", *SCHEDULE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = self.instance
        for name, value in cleaned.items():
            setattr(candidate, name, value)
        candidate.filters = cleaned.get("filters") or {}
        candidate.options = cleaned.get("options") or {}
        try:
            export_schedule_validate(schedule=candidate)
        except ApplicationError as exc:
            for field, problems in (exc.fields or {"__all__": [exc.message]}).items():
                target = field if field in self.fields else None
                self.add_error(target, [str(p) for p in problems] if isinstance(problems, list) else str(problems))
        return cleaned


@admin.register(ExportSchedule)
class ExportScheduleAdmin(ProjectScopedAdmin):
    manage_action = "export.schedule"
    form = ExportScheduleForm
    list_display = (
        "name",
        "project",
        "source",
        "format",
        "mode",
        "when",
        "enabled",
        "watermark",
        "last_run_at",
        "last_job",
    )
    list_filter = ("enabled", "mode", "source", "project")
    list_select_related = ("project", "periodic_task")
    readonly_fields = ("watermark", "last_run_at", "periodic_task", "created_by")
    actions = ["run_now", "pause", "resume"]

    @admin.display(description="When")
    def when(self, obj):
        return obj.cron if obj.kind == "crontab" else f"every {obj.every} {obj.period}"

    @admin.display(description="Last run")
    def last_job(self, obj):
        job = obj.jobs.order_by("-created_at").first()
        if job is None:
            return "—"
        return format_html(
            '<a href="{}">#{} {}</a>',
            reverse("admin:exports_exportjob_change", args=[job.pk]),
            job.pk,
            job.get_status_display(),
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "dataset" and not request.user.is_superuser:
            from apps.datasets.models import Dataset

            kwargs["queryset"] = Dataset.objects.filter(project__in=self.user_projects(request, self.manage_action))
        if db_field.name == "destination" and not request.user.is_superuser:
            kwargs["queryset"] = ExportDestination.objects.filter(
                project__in=self.user_projects(request, self.manage_action)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        export_schedule_save(schedule=obj, actor=request.user)

    def delete_model(self, request, obj):
        export_schedule_delete(schedule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            export_schedule_delete(schedule=schedule, actor=request.user)

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        for schedule in queryset:
            try:
                job = export_schedule_trigger(schedule=schedule, actor=request.user)
            except ApplicationError:
                self.message_user(
                    request, f"{schedule}: the previous run is unfinished or nothing is due.", messages.WARNING
                )
            else:
                self.message_user(request, f"{schedule}: export #{job.pk} queued.", messages.SUCCESS)

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        selected_apply(
            self, request, queryset, export_schedule_pause, param="schedule", done="{count} schedule(s) paused."
        )

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        selected_apply(
            self, request, queryset, export_schedule_resume, param="schedule", done="{count} schedule(s) resumed."
        )


class ExportDestinationForm(forms.ModelForm):
    """Credentials are typed in, never shown back: the fields are always empty; empty keeps the stored ones."""

    access_key_id = forms.CharField(required=False, max_length=256, widget=forms.PasswordInput(render_value=False))
    secret_access_key = forms.CharField(required=False, max_length=512, widget=forms.PasswordInput(render_value=False))
    session_token = forms.CharField(required=False, max_length=4096, widget=forms.PasswordInput(render_value=False))
    clear_credentials = forms.BooleanField(required=False, help_text="Remove the stored credentials.")
    endpoint_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="S3-compatible endpoint (empty: AWS)."
    )

    class Meta:
        model = ExportDestination
        fields = ("project", "name", "kind", "bucket", "prefix", "endpoint_url", "region")

    def credentials(self) -> dict | None:
        if self.cleaned_data.get("clear_credentials"):
            return {}
        typed = {k: self.cleaned_data.get(k) for k in CREDENTIAL_KEYS if self.cleaned_data.get(k)}
        return typed or None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for name in self._meta.fields:
            if name in cleaned:
                setattr(self.instance, name, cleaned[name])
        try:
            export_destination_validate(destination=self.instance, credentials=self.credentials())
        except ApplicationError as exc:
            for field, problems in (exc.fields or {"__all__": [exc.message]}).items():
                self.add_error(field if field in self.fields else None, [str(p) for p in problems])
        return cleaned


@admin.register(ExportDestination)
class ExportDestinationAdmin(ProjectScopedAdmin):
    manage_action = "export.destination"
    form = ExportDestinationForm
    list_display = ("name", "project", "kind", "bucket", "prefix", "endpoint_url", "has_credentials")
    list_filter = ("kind", "project")
    list_select_related = ("project",)
    readonly_fields = ("has_credentials", "created_by", "created_at", "updated_at")

    @admin.display(boolean=True, description="Credentials stored")
    def has_credentials(self, obj):
        return obj.has_credentials

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        export_destination_save(destination=obj, credentials=form.credentials(), actor=request.user)

    def delete_model(self, request, obj):
        export_destination_delete(destination=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for destination in queryset:
            export_destination_delete(destination=destination, actor=request.user)
