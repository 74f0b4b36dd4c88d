"""Dataset admin: the dataset list and form, plus custom screens (records, versions, diff, import,
generation, jobs) routed through get_urls; bodies live in admin_views.py."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_tools import ReadOnlyAdminMixin
from apps.core.json_preview import json_preview
from apps.projects.admin_scope import ProjectScopedAdmin

from . import admin_actions, admin_views, intake_admin_views
from .models import Dataset, DatasetJob, DatasetVersion
from .selectors import dataset_records_at_version
from .services.datasets import dataset_create, dataset_delete, dataset_update


@admin.register(Dataset)
class DatasetAdmin(ProjectScopedAdmin):
    manage_action = "dataset.write"
    list_display = ["name", "project", "version_link", "record_count", "updated_at", "screens"]
    list_select_related = ["project"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    fields = ["project", "name", "description"]
    change_form_template = "admin/datasets/dataset/change_form.html"
    actions = [admin_actions.add_negative_feedback]

    def get_queryset(self, request):
        current = DatasetVersion.objects.filter(dataset=OuterRef("pk"), number=OuterRef("latest_version"))
        return super().get_queryset(request).annotate(current_record_count=Subquery(current.values("record_count")[:1]))

    def get_readonly_fields(self, request, obj=None):
        return ["project"] if obj is not None else []

    @admin.display(description="Version", ordering="latest_version")
    def version_link(self, obj):
        if not obj.latest_version:
            return "—"
        return format_html(
            '<a href="{}">v{}</a>', reverse("admin:datasets_dataset_versions", args=[obj.pk]), obj.latest_version
        )

    @admin.display(description="Records", ordering="current_record_count")
    def record_count(self, obj):
        return obj.current_record_count or 0

    @admin.display(description="")
    def screens(self, obj):
        return format_html(
            '<a href="{}">Records</a> · <a href="{}">History</a>',
            reverse("admin:datasets_dataset_records", args=[obj.pk]),
            reverse("admin:datasets_dataset_versions", args=[obj.pk]),
        )

    def save_model(self, request, obj, form, change):
        if change:
            dataset_update(
                dataset=Dataset.objects.get(pk=obj.pk),
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description", ""),
                actor=request.user,
            )
        else:
            created = dataset_create(
                project=form.cleaned_data["project"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description", ""),
                created_by=request.user,
            )
            obj.pk = created.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        dataset_delete(dataset=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for dataset in queryset:
            dataset_delete(dataset=dataset, actor=request.user)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dataset = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        if dataset is not None:
            records = dataset_records_at_version(dataset=dataset)
            extra_context = {
                **(extra_context or {}),
                "record_total": dataset.current_record_count or 0,
                "preview_rows": [
                    {"record": r, "input": json_preview(r.input, 120), "expected": json_preview(r.expected, 120)}
                    for r in records[:10]
                ],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/records/", wrap(self.records_view), name="datasets_dataset_records"),
            path("<int:pk>/records/export/", wrap(self.records_export_view), name="datasets_dataset_records_export"),
            path("<int:pk>/records/save/", wrap(self.record_save_view), name="datasets_dataset_record_save"),
            path("<int:pk>/records/history/", wrap(self.record_history_view), name="datasets_dataset_record_history"),
            path("<int:pk>/records/delete/", wrap(self.record_delete_view), name="datasets_dataset_record_delete"),
            path("<int:pk>/versions/", wrap(self.versions_view), name="datasets_dataset_versions"),
            path("<int:pk>/versions/restore/", wrap(self.version_restore_view), name="datasets_dataset_restore"),
            path("<int:pk>/versions/tag/", wrap(self.version_tag_view), name="datasets_dataset_tag"),
            path("<int:pk>/diff/", wrap(self.diff_view), name="datasets_dataset_diff"),
            path("<int:pk>/import/", wrap(self.import_view), name="datasets_dataset_import"),
            path("<int:pk>/generate/", wrap(self.generate_view), name="datasets_dataset_generate"),
            path("<int:pk>/from-feedback/", wrap(self.from_feedback_view), name="datasets_dataset_from_feedback"),
            path("jobs/<int:job_id>/", wrap(self.job_view), name="datasets_dataset_job"),
            path("jobs/<int:job_id>/status/", wrap(self.job_status_view), name="datasets_dataset_job_status"),
        ] + super().get_urls()

    def records_view(self, request, pk):
        return admin_views.records_view(self, request, pk)

    def records_export_view(self, request, pk):
        return admin_views.records_export_view(self, request, pk)

    def record_save_view(self, request, pk):
        return admin_views.record_save_view(self, request, pk)

    def record_history_view(self, request, pk):
        return admin_views.record_history_view(self, request, pk)

    def record_delete_view(self, request, pk):
        return admin_views.record_delete_view(self, request, pk)

    def versions_view(self, request, pk):
        return admin_views.versions_view(self, request, pk)

    def version_restore_view(self, request, pk):
        return admin_views.version_restore_view(self, request, pk)

    def version_tag_view(self, request, pk):
        return admin_views.version_tag_view(self, request, pk)

    def diff_view(self, request, pk):
        return admin_views.diff_view(self, request, pk)

    def import_view(self, request, pk):
        return intake_admin_views.import_view(self, request, pk)

    def generate_view(self, request, pk):
        return intake_admin_views.generate_view(self, request, pk)

    def from_feedback_view(self, request, pk):
        return intake_admin_views.from_feedback_view(self, request, pk)

    def job_view(self, request, job_id):
        return intake_admin_views.job_view(self, request, job_id)

    def job_status_view(self, request, job_id):
        return intake_admin_views.job_status_view(self, request, job_id)


@admin.register(DatasetJob)
class DatasetJobAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    manage_action = "dataset.write"
    list_display = ["id", "kind", "dataset", "status", "done", "total", "created_at", "finished_at"]
    list_select_related = ["dataset", "project"]
    list_filter = ["status", "kind"]
    fields = [
        "kind",
        "dataset",
        "status",
        "done",
        "total",
        "error",
        "version",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    readonly_fields = fields
    show_full_result_count = False
