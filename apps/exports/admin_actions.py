"""The "Export…" action of the trace and span changelists (registered in ExportsConfig.ready()).

The first call renders a small form (format, gzip); confirming it creates one export job. The job
exports exactly the rows the action received: the ticked rows, or with "select all across pages"
the whole changelist queryset with its active filters and search, snapshotted as primary keys at
the moment of confirming (at most EXPORTS_MAX_SELECTED; larger exports go through the API's
filters). Rows from several projects cannot go into one export. Other apps' changelists reuse it
with an `ActionSource` (experiments: "Export results…", apps/experiments/admin_actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import policy_action
from apps.projects.models import Project
from apps.projects.permissions import action_role, can

from .models import ExportFormat, ExportSource
from .services import export_job_create

EXPORT_ACTION = "export.run"


class ExportActionForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.JSONL)
    gzip = forms.BooleanField(required=False, help_text="Compress the file (not for Parquet).")

    def __init__(self, *args, formats=None, **kwargs):
        super().__init__(*args, **kwargs)
        if formats is not None:
            self.fields["format"].choices = [c for c in ExportFormat.choices if c[0] in formats]


@dataclass(frozen=True)
class ActionSource:
    """What an "Export…" action exports from its changelist's queryset."""

    source: str
    noun: str  # "spans", "results of the selected experiments"
    project_field: str = "project_id"
    # queryset -> the job's selection: {"selected_pks": [...]} and/or {"filters": {...}}; None: too many rows
    selection: Callable[[Any, int], dict | None] | None = None
    formats: tuple[str, ...] | None = None
    included: str = "Scores, tags, comments, corrections and reviewer metadata are included."
    # The selected rows' noun (singular) when they are not the rows exported: "experiment".
    parent: str = ""


def _selected_pks(queryset, limit: int) -> dict | None:
    pks = list(queryset.order_by().values_list("pk", flat=True)[: limit + 1])
    return None if len(pks) > limit else {"selected_pks": pks}


def _export_action(modeladmin, request, queryset, *, source: str | ActionSource):
    what = source if isinstance(source, ActionSource) else ActionSource(source=source, noun=source)
    project_ids = list(queryset.order_by().values_list(what.project_field, flat=True).distinct()[:2])
    if len(project_ids) != 1:
        modeladmin.message_user(request, "Select rows from exactly one project to export.", messages.ERROR)
        return None
    project = Project.objects.get(pk=project_ids[0])
    if not can(request.user, EXPORT_ACTION, project):
        modeladmin.message_user(
            request, f"Exporting needs the {action_role(EXPORT_ACTION)} role in {project}.", messages.ERROR
        )
        return None
    limit = int(getattr(settings, "EXPORTS_MAX_SELECTED", 500_000))
    form = ExportActionForm(request.POST if request.POST.get("export_confirm") else None, formats=what.formats)
    if form.is_bound and form.is_valid():
        selection = (what.selection or _selected_pks)(queryset, limit)
        if selection is None:
            modeladmin.message_user(
                request,
                f"At most {limit} rows can be exported from the admin; use the API with filters.",
                messages.ERROR,
            )
            return None
        try:
            job = export_job_create(
                project=project,
                source=what.source,
                format=form.cleaned_data["format"],
                gzip=form.cleaned_data["gzip"],
                requested_by=request.user,
                **selection,
            )
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        rows = f"{len(selection['selected_pks'])} " if selection.get("selected_pks") is not None else "the "
        modeladmin.message_user(request, f"Export #{job.pk} of {rows}{what.noun} queued.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:exports_exportjob_change", args=[job.pk]))
    return _confirm_page(modeladmin, request, queryset, what, form, project)


def _confirm_page(modeladmin, request, queryset, what: ActionSource, form, project):
    select_across = request.POST.get("select_across") == "1"
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Export {what.noun}",
        "opts": modeladmin.model._meta,
        "form": form,
        "source": what.noun,
        "parent": what.parent,
        "included": what.included,
        "project": project,
        "count": queryset.count() if not select_across else None,
        "select_across": select_across,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "form_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/exports/export_action.html", context)


@policy_action(EXPORT_ACTION)
@admin.action(description="Export…")
def export_spans(modeladmin, request, queryset):
    return _export_action(modeladmin, request, queryset, source=ExportSource.SPANS)


@policy_action(EXPORT_ACTION)
@admin.action(description="Export…")
def export_traces(modeladmin, request, queryset):
    return _export_action(modeladmin, request, queryset, source=ExportSource.TRACES)
