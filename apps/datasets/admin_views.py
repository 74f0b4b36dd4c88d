"""Bodies of the dataset admin's records and versions screens (wired in DatasetAdmin.get_urls).

Every screen loads the dataset through `model_admin.get_queryset(request)` (another project's dataset
is a 404) and every POST needs the curator role in the dataset's project (`has_change_permission`, the
project policy). Import, generation, feedback and job screens are in intake_admin_views.py.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.json_preview import json_preview
from apps.core.llm import llm_configured

from . import importers, selectors
from .diffing import side_by_side
from .forms import RecordForm, VersionTagForm
from .models import Dataset, DatasetRecord, DatasetVersion
from .services.records import dataset_records_delete, dataset_records_upsert
from .services.versions import dataset_version_restore, dataset_version_tag_delete, dataset_version_tag_set

RECORDS_PER_PAGE = 50
DIFF_LIMIT = 500


def allow(*methods: str):
    """Answer 405 to any other method (GET also allows HEAD), as a class-based view would."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(fn):
        @functools.wraps(fn)
        def view(model_admin, request, *args, **kwargs):
            if request.method not in allowed:
                return HttpResponseNotAllowed(sorted(allowed))
            return fn(model_admin, request, *args, **kwargs)

        return view

    return decorate


def error_text(exc: ApplicationError, limit: int = 10) -> str:
    """An ApplicationError as one message line (the message and its first field errors)."""
    details = [f"{k}: {' '.join(map(str, v))}" for k, v in list(exc.fields.items())[:limit]]
    more = len(exc.fields) - limit
    return " ".join([exc.message, *details] + ([f"(and {more} more)"] if more > 0 else []))


def dataset_or_404(model_admin, request, pk) -> tuple[Dataset, bool]:
    """The dataset and whether the user may write to it; a POST without that right is refused."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    dataset = model_admin.get_queryset(request).select_related("project").filter(pk=pk).first()
    if dataset is None:
        raise Http404("Dataset not found.")
    can_write = model_admin.has_change_permission(request, dataset)
    if request.method == "POST" and not can_write:
        raise PermissionDenied
    return dataset, can_write


def render_screen(model_admin, request, template: str, dataset: Dataset | None = None, can_write=False, **extra):
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": Dataset._meta,
        "app_label": Dataset._meta.app_label,
    }
    if dataset is not None:
        context.update(dataset=dataset, original=dataset, can_write=can_write, llm_configured=llm_configured())
    return TemplateResponse(request, template, {**context, **extra})


def back_to_records(dataset: Dataset, **params):
    url = reverse("admin:datasets_dataset_records", args=[dataset.pk])
    query = urlencode({k: v for k, v in params.items() if v})
    return HttpResponseRedirect(f"{url}?{query}" if query else url)


def version_message(request, version: DatasetVersion | None, what: str) -> None:
    if version is None:
        messages.info(request, f"{what}: nothing changed, so no new version was made.")
    else:
        messages.success(
            request,
            f"{what}: saved as version {version.number} (+{version.added} added, "
            f"{version.updated} updated, {version.removed} removed).",
        )


def _record_row(record: DatasetRecord, *, editable: bool) -> dict[str, Any]:
    row = {
        "record": record,
        "input_preview": json_preview(record.input, 160),
        "expected_preview": json_preview(record.expected, 160),
    }
    if editable:
        row["form"] = RecordForm(
            initial={
                "record_id": record.record_id,
                "input": record.input,
                "expected": record.expected,
                "metadata": record.metadata,
                "tags": ", ".join(record.tags or []),
                "splits": ", ".join(record.splits or []),
            },
            prefix=f"r{record.pk}",
        )
    return row


@allow("GET")
def records_view(model_admin, request, pk):
    """The records of the current version (or ?version=N), searchable, filtered by tag and split."""
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    params = request.GET
    version = None
    if params.get("version"):
        try:
            version = selectors.dataset_version_resolve(dataset=dataset, version=params["version"]).number
        except ApplicationError as exc:
            raise Http404(exc.message)
    latest = version is None or version == dataset.latest_version
    qs = selectors.dataset_records_at_version(
        dataset=dataset, version=version, split=params.get("split") or None, tag=params.get("tag") or None
    )
    q = (params.get("q") or "").strip()
    if q:
        qs = qs.filter(Q(record_id__icontains=q) | Q(input__icontains=q) | Q(expected__icontains=q))
    page = Paginator(qs.select_related("source_span"), RECORDS_PER_PAGE).get_page(params.get("page"))
    editable = latest and can_write
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/records.html",
        dataset,
        can_write,
        title=f"{dataset.name}: records",
        page=page,
        rows=[_record_row(r, editable=editable) for r in page.object_list],
        version=version or dataset.latest_version,
        latest=latest,
        editable=editable,
        q=q,
        tag=params.get("tag") or "",
        split=params.get("split") or "",
        tag_names=selectors.dataset_record_tag_names(dataset=dataset, version=version),
        split_names=selectors.dataset_record_split_names(dataset=dataset, version=version),
        new_form=RecordForm(prefix="new") if editable else None,
        export_formats=list(importers.EXPORT_FORMATS),
    )


@allow("GET")
def records_export_view(model_admin, request, pk):
    dataset, _ = dataset_or_404(model_admin, request, pk)
    fmt = request.GET.get("format", "csv")
    if fmt not in importers.EXPORT_FORMATS:
        raise Http404("Unknown format.")
    try:
        number = selectors.dataset_version_resolve(dataset=dataset, version=request.GET.get("version"))
    except ApplicationError as exc:
        raise Http404(exc.message)
    qs = selectors.dataset_records_at_version(dataset=dataset, version=number.number)
    content, content_type = importers.records_export(queryset=qs, fmt=fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="dataset-{dataset.pk}-v{number.number}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@allow("POST")
def record_save_view(model_admin, request, pk):
    """Saves one record (a new one or an inline edit): each save is one version."""
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    prefix = request.POST.get("prefix") or None
    form = RecordForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            version = dataset_records_upsert(
                dataset=dataset,
                records=[form.record()],
                author=request.user,
                message=form.cleaned_data.get("message") or f"Edit {form.cleaned_data.get('record_id') or 'record'}",
            )
        except ApplicationError as exc:
            for key, msgs in exc.fields.items():
                field = key.split(".", 1)[-1] if "." in key else None
                form.add_error(field if field in form.fields else None, " ".join(map(str, msgs)))
        else:
            version_message(request, version, "Record saved")
            return back_to_records(dataset, q=request.POST.get("return_q", ""))
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/record_form.html",
        dataset,
        can_write,
        title=f"{dataset.name}: edit record",
        form=form,
        prefix=prefix or "",
    )


def _revision_rows(revisions: list[DatasetRecord]) -> list[dict[str, Any]]:
    rows = []
    for newer, older in zip(revisions, revisions[1:] + [None], strict=False):
        changes = []
        if older is not None:
            for name in selectors.RECORD_CONTENT_FIELDS:
                if getattr(older, name) != getattr(newer, name):
                    changes.append({"name": name, "rows": side_by_side(getattr(older, name), getattr(newer, name))})
        rows.append(
            {
                "revision": newer,
                "older": older,
                "changes": changes,
                "content": side_by_side(None, selectors.record_content(newer)) if older is None else [],
            }
        )
    return rows


@allow("GET")
def record_history_view(model_admin, request, pk):
    """Every revision of one record, newest first, with the versions each was live in."""
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    record_id = request.GET.get("record_id") or ""
    history = selectors.dataset_record_history(dataset=dataset, record_id=record_id)
    revisions = list(history.select_related("source_span")[:200])
    if not revisions:
        raise Http404("Record not found.")
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/record_history.html",
        dataset,
        can_write,
        title=f"{dataset.name}: history of {record_id}",
        record_id=record_id,
        rows=_revision_rows(revisions),
    )


@allow("POST")
def record_delete_view(model_admin, request, pk):
    dataset, _ = dataset_or_404(model_admin, request, pk)
    record_id = request.POST.get("record_id") or ""
    try:
        version = dataset_records_delete(
            dataset=dataset, record_ids=[record_id], author=request.user, message=f"Delete {record_id}"
        )
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
    else:
        version_message(request, version, f"Record {record_id} deleted")
    return back_to_records(dataset)


@allow("GET")
def versions_view(model_admin, request, pk):
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    versions = Paginator(selectors.dataset_versions(dataset=dataset), 50).get_page(request.GET.get("page"))
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/versions.html",
        dataset,
        can_write,
        title=f"{dataset.name}: version history",
        page=versions,
        tags=selectors.dataset_version_tags(dataset=dataset),
        tag_form=VersionTagForm(initial={"version": dataset.latest_version}),
    )


@allow("POST")
def version_restore_view(model_admin, request, pk):
    dataset, _ = dataset_or_404(model_admin, request, pk)
    try:
        version = dataset_version_restore(dataset=dataset, version=request.POST.get("version"), author=request.user)
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
    else:
        version_message(request, version, f"Version {request.POST.get('version')} restored")
    return redirect("admin:datasets_dataset_versions", dataset.pk)


@allow("POST")
def version_tag_view(model_admin, request, pk):
    dataset, _ = dataset_or_404(model_admin, request, pk)
    if request.POST.get("delete"):
        try:
            dataset_version_tag_delete(dataset=dataset, name=request.POST.get("name", ""), actor=request.user)
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Tag {request.POST.get('name')} removed.")
        return redirect("admin:datasets_dataset_versions", dataset.pk)
    form = VersionTagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a tag name and a version number.")
    else:
        try:
            tag = dataset_version_tag_set(dataset=dataset, author=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Tag {tag.name} now points at version {tag.version.number}.")
    return redirect("admin:datasets_dataset_versions", dataset.pk)


def _without_id(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "record_id"}


@allow("GET")
def diff_view(model_admin, request, pk):
    dataset, can_write = dataset_or_404(model_admin, request, pk)
    latest = dataset.latest_version
    try:
        b = int(request.GET.get("b") or latest)
        a = int(request.GET.get("a") or max(b - 1, 0))
        diff = selectors.dataset_versions_diff(dataset=dataset, a=a, b=b, limit=DIFF_LIMIT)
    except (TypeError, ValueError):
        raise Http404("Unknown version.")
    except ApplicationError as exc:
        raise Http404(exc.message)
    changed = [
        {
            "record_id": c.record_id,
            "fields": [{"name": name, "rows": side_by_side(v["a"], v["b"])} for name, v in c.fields.items()],
        }
        for c in diff.changed
    ]
    return render_screen(
        model_admin,
        request,
        "admin/datasets/dataset/diff.html",
        dataset,
        can_write,
        title=f"{dataset.name}: v{a} → v{b}",
        diff=diff,
        a=a,
        b=b,
        changed=changed,
        added=[{"record_id": r["record_id"], "rows": side_by_side(None, _without_id(r))} for r in diff.added],
        removed=[{"record_id": r["record_id"], "rows": side_by_side(_without_id(r), None)} for r in diff.removed],
        limit=DIFF_LIMIT,
        numbers=list(range(latest, -1, -1)),
    )
