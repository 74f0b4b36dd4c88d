"""Dataset admin actions: "Add to dataset…" on the trace and span changelists (through the registry) and
"Add spans with negative feedback" on the dataset changelist."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import policy_action
from apps.projects.permissions import action_role, can, projects_where

from .admin_views import error_text
from .forms import SpanMappingForm
from .gold import spans_with_gold_count
from .intake_admin_views import feedback_add_and_report, spans_add_and_report
from .models import Dataset, DatasetJob
from .services.datasets import dataset_get_or_create
from .services.jobs import SPAN_ASYNC_THRESHOLD
from .services.spans import span_records_preview

WRITE_ACTION = "dataset.write"


@admin.action(description="Add spans with negative feedback and a correction")
def add_negative_feedback(model_admin, request, queryset):
    """Each selected dataset gains its project's corrected negative feedback."""
    for dataset in queryset.select_related("project"):
        if not can(request.user, WRITE_ACTION, dataset.project):
            messages.error(request, f"You need the {action_role(WRITE_ACTION)} role to change {dataset.name}.")
            continue
        try:
            response = feedback_add_and_report(
                request, dataset, none_left=f"{dataset.project}: no span has negative feedback and a correction yet."
            )
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
            continue
        if response is not None and queryset.count() == 1:
            return response
    return None


def _spans_for(queryset):
    from apps.traces.models import Trace
    from apps.traces.selectors import root_spans_of

    if queryset.model is Trace:
        # A trace's root span carries the trace-level input and output.
        return root_spans_of(queryset)
    return queryset


def _preview_rows(request, spans, form: SpanMappingForm) -> list[dict[str, str]]:
    """The first records the selection would become, as JSON text (nothing written)."""
    try:
        rows = span_records_preview(spans, form.mapping())
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
        return []
    return [
        {
            key: row[key] if key == "record_id" else json.dumps(row[key], ensure_ascii=False)
            for key in ("record_id", "input", "expected", "metadata")
        }
        for row in rows
    ]


def _apply(request, spans, form: SpanMappingForm, project):
    try:
        dataset = form.cleaned_data.get("dataset") or dataset_get_or_create(
            project=project, name=form.cleaned_data["new_dataset_name"], created_by=request.user
        )
        return spans_add_and_report(
            request,
            dataset,
            list(spans.order_by().values_list("pk", flat=True)),
            kind=DatasetJob.Kind.ADD_SPANS,
            mapping=form.mapping(),
            message=form.cleaned_data.get("message") or "",
        )
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
        return False


def _selection_project(request, spans, writable):
    """The one project of the selection the user may write to, or None (with a message saying why)."""
    project_ids = list(spans.order_by().values_list("project_id", flat=True).distinct()[:2])
    if len(project_ids) > 1:
        messages.error(request, "The selection spans several projects; filter to one project first.")
        return None
    if not project_ids:
        messages.warning(request, "The selection has no spans to add.")
        return None
    project = writable.filter(pk=project_ids[0]).first()
    if project is None:
        messages.error(request, f"Adding to a dataset needs the {action_role(WRITE_ACTION)} role in this project.")
    return project


@admin.action(description="Add to dataset…")
@policy_action(WRITE_ACTION)
def add_to_dataset(model_admin, request, queryset):
    """Intermediate page with the mapping form; posting it re-runs the action on the same selection
    (select-across re-applies the changelist's active filters, which live in the URL)."""
    spans = _spans_for(queryset)
    writable = projects_where(request.user, WRITE_ACTION)
    project = _selection_project(request, spans, writable)
    if project is None:
        return None
    datasets = Dataset.objects.filter(project=project).select_related("project").order_by("project", "name")
    posted = "apply" in request.POST or "preview" in request.POST
    form = SpanMappingForm(request.POST if posted else None, datasets=datasets)
    preview = []
    if "preview" in request.POST and form.is_valid():
        preview = _preview_rows(request, spans, form)
    elif "apply" in request.POST and form.is_valid():
        response = _apply(request, spans, form, project)
        if response is not False:
            return response
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    select_across = request.POST.get("select_across") == "1"
    if select_across and not selected:
        selected = [str(pk) for pk in queryset.values_list("pk", flat=True)[:1]]
    return TemplateResponse(
        request,
        "admin/datasets/add_to_dataset.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": "Add to dataset",
            "opts": model_admin.model._meta,
            "form": form,
            "span_count": spans.count(),
            "gold_count": spans_with_gold_count(spans),
            "threshold": SPAN_ASYNC_THRESHOLD,
            "selected": selected,
            "select_across": select_across,
            "action_name": request.POST.get("action", "add_to_dataset"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form_url": request.get_full_path(),
            "is_traces": queryset.model.__name__ == "Trace",
            "preview": preview,
        },
    )
