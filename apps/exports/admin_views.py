"""Bodies of the custom export admin screens (wired in ExportJobAdmin.get_urls)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.forms import BoundedJSONFormField
from apps.projects.permissions import can, projects_where

from .downloads import download_response
from .models import ExportFormat, ExportJob, ExportSource, ExportStatus
from .selectors import export_job_status
from .services import export_job_cancel, export_job_create

EXPORT_ACTION = "export.run"


def _job_or_404(model_admin, request, pk) -> ExportJob:
    """The job through the admin's queryset (another project's export is a 404 like a missing one)."""
    job = model_admin.get_queryset(request).select_related("project", "requested_by", "schedule").filter(pk=pk).first()
    if job is None:
        raise Http404("No such export.")
    return job


class ExportNewForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None)
    source = forms.ChoiceField(choices=ExportSource.choices)
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.JSONL)
    gzip = forms.BooleanField(required=False, help_text="Compress the file (not for Parquet).")
    filters = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Span or trace filters, e.g. {"has_expected": true, "type": ["llm"]} (see the API docs).',
    )
    options = BoundedJSONFormField(
        required=False,
        initial=dict,
        help_text='Format options, e.g. {"reviewer_scores": true} for CSV score.<config>.<reviewer> columns, '
        '{"spans_column": true} for the span tree in a traces CSV.',
    )
    dataset = forms.ModelChoiceField(queryset=None, required=False)
    version = forms.IntegerField(required=False, min_value=1, help_text="Empty: the latest version.")
    tag = forms.CharField(required=False, max_length=64, help_text="A version tag such as prod (instead of a number).")
    split = forms.CharField(required=False, max_length=100, help_text="Only records in this split.")
    destination = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Empty: the deployment's export storage."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        from apps.datasets.models import Dataset

        from .models import ExportDestination

        projects = projects_where(user, EXPORT_ACTION)
        self.fields["project"].queryset = projects
        self.fields["dataset"].queryset = Dataset.objects.filter(project__in=projects).select_related("project")
        self.fields["destination"].queryset = ExportDestination.objects.filter(project__in=projects).select_related(
            "project"
        )


def export_new_view(model_admin, request):
    """New export form; `?dataset=<id>&version=<n>` (or `&tag=`, `&split=`) preselects a dataset version."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    initial = {}
    dataset_id = request.GET.get("dataset")
    if dataset_id and dataset_id.isdigit():
        initial.update(source=ExportSource.DATASET, dataset=int(dataset_id))
        for key in ("version", "tag", "split"):
            if request.GET.get(key):
                initial[key] = request.GET[key]
    for key in ("source", "format"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    form = ExportNewForm(request.POST or None, user=request.user, initial=initial)
    if dataset_id and dataset_id.isdigit() and not request.POST:
        dataset = form.fields["dataset"].queryset.filter(pk=int(dataset_id)).first()
        if dataset is None:
            raise Http404("No such dataset.")
        form.initial["project"] = dataset.project_id
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = export_job_create(
                project=data["project"],
                source=data["source"],
                format=data["format"],
                gzip=data["gzip"],
                filters=(data["filters"] or {}) if data["source"] != ExportSource.DATASET else {},
                options=data["options"] or {},
                dataset=data["dataset"] if data["source"] == ExportSource.DATASET else None,
                version=data["version"],
                tag=data["tag"],
                split=data["split"],
                requested_by=request.user,
                destination=data["destination"],
            )
        except ApplicationError as exc:
            for field, problems in (exc.fields or {}).items():
                name = field.split(".")[0]
                text = f"{field}: {'; '.join(map(str, problems))}" if "." in field else "; ".join(map(str, problems))
                form.add_error(name if name in form.fields else None, text)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            model_admin.message_user(request, f"Export #{job.pk} queued.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:exports_exportjob_change", args=[job.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "New export",
        "opts": model_admin.model._meta,
        "form": form,
    }
    return TemplateResponse(request, "admin/exports/export_new.html", context)


def export_status_view(model_admin, request):
    """JSON for the progress bars: `?ids=1,2,3` (at most 100) of the user's projects."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()][:100]
    jobs = model_admin.get_queryset(request).filter(pk__in=ids).defer("filters")
    payload = []
    for job in jobs:
        status = export_job_status(job)
        status["status_display"] = job.get_status_display()
        status["download_url"] = (
            reverse("admin:exports_exportjob_download", args=[job.pk]) if job.status == ExportStatus.SUCCEEDED else None
        )
        payload.append(status)
    return JsonResponse({"jobs": payload})


def export_cancel_view(model_admin, request, pk):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    job = _job_or_404(model_admin, request, pk)
    if not can(request.user, EXPORT_ACTION, job.project):
        raise PermissionDenied
    try:
        export_job_cancel(job=job, actor=request.user)
    except ApplicationError as exc:
        model_admin.message_user(request, exc.message, messages.WARNING)
    else:
        model_admin.message_user(request, f"Export #{job.pk} cancelled.", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:exports_exportjob_change", args=[job.pk]))


def export_download_view(model_admin, request, pk):
    job = _job_or_404(model_admin, request, pk)
    if not model_admin.has_view_permission(request, job):
        raise PermissionDenied
    try:
        return download_response(job)
    except ApplicationError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:exports_exportjob_change", args=[job.pk]))
