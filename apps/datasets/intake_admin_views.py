"""Bodies of the dataset admin's intake screens (wired in DatasetAdmin.get_urls): import a file, generate
examples, add corrected negative feedback, and follow a background job. Loading and the permission check
are the records screens' (`admin_views.dataset_or_404`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.core.llm import LLM_HELP, llm_configured
from apps.projects.selectors import projects_for_user

from . import generation, importers, selectors
from .admin_views import allow, back_to_records, dataset_or_404, error_text, render_screen, version_message
from .forms import GenerateForm, ImportForm
from .models import Dataset, DatasetJob
from .services.jobs import dataset_spans_add_or_start
from .services.spans import feedback_spans

FEEDBACK_MESSAGE = "Add corrected negative feedback"


def _labels(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _import(request, dataset: Dataset, form: ImportForm) -> tuple[int, object, str, dict]:
    """(row count, version, error message, row errors) of importing the form's file."""
    upload = form.cleaned_data["file"]
    try:
        count, version = importers.dataset_import_file(
            dataset=dataset,
            content=upload.read(),
            filename=upload.name,
            fmt=form.cleaned_data["format"],
            columns=form.column_mapping(),
            tags=_labels(form.cleaned_data.get("tags")),
            splits=_labels(form.cleaned_data.get("splits")),
            author=request.user,
            message=form.cleaned_data.get("message") or "",
            dry_run=form.cleaned_data.get("dry_run"),
        )
    except ApplicationError as exc:
        return 0, None, exc.message, exc.fields
    except Exception as exc:  # a column mapping line without '='
        return 0, None, str(getattr(exc, "message", exc)), {}
    return count, version, "", {}


@allow("GET", "POST")
def import_view(model_admin, request, pk):
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    screen = {"template": "admin/datasets/dataset/import.html", "dataset": dataset, "can_write": can_write}
    title = f"{dataset.name}: import records"
    if request.method != "POST":
        return render_screen(model_admin, request, **screen, title=title, form=ImportForm())
    form = ImportForm(request.POST, request.FILES)
    errors: dict[str, list[str]] = {}
    error_message = ""
    valid_rows = None
    if form.is_valid():
        count, version, error_message, errors = _import(request, dataset, form)
        if not error_message and form.cleaned_data.get("dry_run"):
            valid_rows = count
        elif not error_message:
            version_message(request, version, f"Imported {count} row(s) from {form.cleaned_data['file'].name}")
            return back_to_records(dataset)
    return render_screen(
        model_admin,
        request,
        **screen,
        title=title,
        form=form,
        error_message=error_message,
        row_errors=sorted(errors.items()),
        valid_rows=valid_rows,
    )


@allow("GET", "POST")
def generate_view(model_admin, request, pk):
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    form = GenerateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and llm_configured():
        try:
            version = generation.dataset_generate_records(dataset=dataset, author=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
        else:
            version_message(request, version, "Generated records (tagged needs-review)")
            return back_to_records(dataset, tag=generation.GENERATED_TAG)
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/generate.html",
        dataset,
        can_write,
        title=f"{dataset.name}: generate examples",
        form=form,
        how_to=LLM_HELP,
    )


def spans_add_and_report(request, dataset: Dataset, span_pks: list[int], *, kind: str, mapping: dict, message: str):
    """Add the spans (now, or as a job: the service decides) and say so; a redirect to the job's page
    when it was queued, else None."""
    outcome = dataset_spans_add_or_start(
        dataset=dataset, kind=kind, span_pks=span_pks, mapping=mapping, author=request.user, message=message
    )
    if isinstance(outcome, DatasetJob):
        messages.info(request, f"Adding {len(span_pks)} spans to {dataset.name} in the background.")
        return redirect("admin:datasets_dataset_job", outcome.pk)
    records_url = reverse("admin:datasets_dataset_records", args=[dataset.pk])
    skipped = f" {len(outcome.skipped)} span(s) had no input at that path and were skipped." if outcome.skipped else ""
    if outcome.version is None:
        text = format_html(
            '{} already holds these spans unchanged: no new version.{} <a href="{}">Open the records</a>.',
            dataset.name,
            skipped,
            records_url,
        )
        messages.info(request, text)
        return None
    v = outcome.version
    text = format_html(
        'Added to {} as version {} ({} added, {} updated).{} <a href="{}">Open the records</a>.',
        dataset.name,
        v.number,
        v.added,
        v.updated,
        skipped,
        records_url,
    )
    messages.success(request, text)
    return None


def feedback_add_and_report(request, dataset: Dataset, *, none_left: str):
    """Add the project's corrected negative feedback to the dataset (see `spans_add_and_report`)."""
    span_pks = list(feedback_spans(project=dataset.project).values_list("pk", flat=True))
    if not span_pks:
        messages.info(request, none_left)
        return None
    return spans_add_and_report(
        request,
        dataset,
        span_pks,
        kind=DatasetJob.Kind.FROM_FEEDBACK,
        mapping={"carry_annotations": True},
        message=FEEDBACK_MESSAGE,
    )


@allow("POST")
def from_feedback_view(model_admin, request, pk):
    dataset, _ = dataset_or_404(model_admin, request, pk)
    try:
        response = feedback_add_and_report(
            request, dataset, none_left="No span has negative end-user feedback and a correction yet."
        )
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
        response = None
    return response or back_to_records(dataset)


def _job_or_404(model_admin, request, job_id) -> DatasetJob:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    projects = projects_for_user(request.user)
    job = selectors.dataset_jobs_for_projects(projects=projects).filter(pk=job_id).first()
    if job is None:
        raise Http404("Job not found.")
    return job


@allow("GET")
def job_view(model_admin, request, job_id):
    job = _job_or_404(model_admin, request, job_id)
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/job.html",
        title=f"{job.get_kind_display()} #{job.pk}",
        job=job,
        status_url=reverse("admin:datasets_dataset_job_status", args=[job.pk]),
        records_url=reverse("admin:datasets_dataset_records", args=[job.dataset_id]) if job.dataset_id else "",
    )


@allow("GET")
def job_status_view(model_admin, request, job_id):
    job = _job_or_404(model_admin, request, job_id)
    return JsonResponse(
        {
            "status": job.status,
            "done": job.done,
            "total": job.total,
            "progress": job.progress,
            "error": job.error,
            "version": job.version.number if job.version else None,
        }
    )
