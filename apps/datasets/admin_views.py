"""Bodies of the dataset admin screens and the "Add to dataset…" changelist action.

Every screen loads the dataset through DatasetAdmin.get_queryset (so another project's dataset is a
404) and every POST checks the curator role in the dataset's project.
"""

from __future__ import annotations

import difflib
import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.views import View

from apps.core.exceptions import ApplicationError
from apps.core.json_preview import json_preview
from apps.core.llm import LLM_HELP, llm_configured
from apps.projects.admin_scope import policy_action
from apps.projects.permissions import action_role, can, projects_where
from apps.projects.selectors import projects_for_user

from . import generation, importers, selectors, services
from .forms import GenerateForm, ImportForm, RecordForm, SpanMappingForm, VersionTagForm
from .gold import spans_gold, spans_with_gold_count
from .models import Dataset, DatasetJob, DatasetRecord, DatasetVersion

WRITE_ACTION = "dataset.write"
RECORDS_PER_PAGE = 50
DIFF_LIMIT = 500


def _error_text(exc: ApplicationError, limit: int = 10) -> str:
    details = [f"{k}: {' '.join(map(str, v))}" for k, v in list(exc.fields.items())[:limit]]
    more = len(exc.fields) - limit
    return " ".join([exc.message, *details] + ([f"(and {more} more)"] if more > 0 else []))


class DatasetAdminView(View):
    model_admin = None
    template_name = ""

    def dispatch(self, request, *args, **kwargs):
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        if "pk" in kwargs:
            self.dataset = (
                self.model_admin.get_queryset(request).select_related("project").filter(pk=kwargs["pk"]).first()
            )
            if self.dataset is None:
                raise Http404("Dataset not found.")
            self.can_write = self.model_admin.has_change_permission(request, self.dataset)
            if request.method == "POST" and not self.can_write:
                raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra) -> dict[str, Any]:
        ctx = {
            **self.model_admin.admin_site.each_context(self.request),
            "opts": Dataset._meta,
            "app_label": Dataset._meta.app_label,
        }
        if getattr(self, "dataset", None) is not None:
            ctx.update(
                {
                    "dataset": self.dataset,
                    "original": self.dataset,
                    "can_write": self.can_write,
                    "llm_configured": llm_configured(),
                }
            )
        ctx.update(extra)
        return ctx

    def render(self, template: str, **extra):
        return TemplateResponse(self.request, template, self.context(**extra))

    def back_to_records(self, **params):
        url = reverse("admin:datasets_dataset_records", args=[self.dataset.pk])
        query = urlencode({k: v for k, v in params.items() if v})
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    def version_message(self, version: DatasetVersion | None, what: str) -> None:
        if version is None:
            messages.info(self.request, f"{what}: nothing changed, so no new version was made.")
        else:
            messages.success(
                self.request,
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


class RecordsView(DatasetAdminView):
    """The records of the current version (or ?version=N), searchable, filtered by tag and split."""

    def get(self, request, pk):
        dataset = self.dataset
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
        editable = latest and self.can_write
        return self.render(
            "admin/datasets/dataset/records.html",
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


class RecordsExportView(DatasetAdminView):
    def get(self, request, pk):
        fmt = request.GET.get("format", "csv")
        if fmt not in importers.EXPORT_FORMATS:
            raise Http404("Unknown format.")
        try:
            number = selectors.dataset_version_resolve(dataset=self.dataset, version=request.GET.get("version"))
        except ApplicationError as exc:
            raise Http404(exc.message)
        qs = selectors.dataset_records_at_version(dataset=self.dataset, version=number.number)
        content, content_type = importers.records_export(queryset=qs, fmt=fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="dataset-{self.dataset.pk}-v{number.number}.{fmt}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class RecordSaveView(DatasetAdminView):
    """Saves one record (a new one or an inline edit): each save is one version."""

    def post(self, request, pk):
        prefix = request.POST.get("prefix") or None
        form = RecordForm(request.POST, prefix=prefix)
        if form.is_valid():
            try:
                version = services.dataset_records_upsert(
                    dataset=self.dataset,
                    records=[form.record()],
                    author=request.user,
                    message=form.cleaned_data.get("message")
                    or f"Edit {form.cleaned_data.get('record_id') or 'record'}",
                )
            except ApplicationError as exc:
                for key, msgs in exc.fields.items():
                    field = key.split(".", 1)[-1] if "." in key else None
                    form.add_error(field if field in form.fields else None, " ".join(map(str, msgs)))
            else:
                self.version_message(version, "Record saved")
                return self.back_to_records(q=request.POST.get("return_q", ""))
        return self.render(
            "admin/datasets/dataset/record_form.html",
            title=f"{self.dataset.name}: edit record",
            form=form,
            prefix=prefix or "",
        )


class RecordHistoryView(DatasetAdminView):
    """Every revision of one record, newest first, with the versions each was live in."""

    def get(self, request, pk):
        record_id = request.GET.get("record_id") or ""
        revisions = list(
            selectors.dataset_record_history(dataset=self.dataset, record_id=record_id).select_related("source_span")[
                :200
            ]
        )
        if not revisions:
            raise Http404("Record not found.")
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
        return self.render(
            "admin/datasets/dataset/record_history.html",
            title=f"{self.dataset.name}: history of {record_id}",
            record_id=record_id,
            rows=rows,
        )


class RecordDeleteView(DatasetAdminView):
    def post(self, request, pk):
        record_id = request.POST.get("record_id") or ""
        try:
            version = services.dataset_records_delete(
                dataset=self.dataset, record_ids=[record_id], author=request.user, message=f"Delete {record_id}"
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
        else:
            self.version_message(version, f"Record {record_id} deleted")
        return self.back_to_records()


class VersionsView(DatasetAdminView):
    def get(self, request, pk):
        versions = Paginator(selectors.dataset_versions(dataset=self.dataset), 50).get_page(request.GET.get("page"))
        return self.render(
            "admin/datasets/dataset/versions.html",
            title=f"{self.dataset.name}: version history",
            page=versions,
            tags=selectors.dataset_version_tags(dataset=self.dataset),
            tag_form=VersionTagForm(initial={"version": self.dataset.latest_version}),
        )


class RestoreView(DatasetAdminView):
    def post(self, request, pk):
        try:
            version = services.dataset_version_restore(
                dataset=self.dataset, version=request.POST.get("version"), author=request.user
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
        else:
            self.version_message(version, f"Version {request.POST.get('version')} restored")
        return redirect("admin:datasets_dataset_versions", self.dataset.pk)


class TagView(DatasetAdminView):
    def post(self, request, pk):
        if request.POST.get("delete"):
            try:
                services.dataset_version_tag_delete(
                    dataset=self.dataset, name=request.POST.get("name", ""), actor=request.user
                )
            except ApplicationError as exc:
                messages.error(request, _error_text(exc))
            else:
                messages.success(request, f"Tag {request.POST.get('name')} removed.")
            return redirect("admin:datasets_dataset_versions", self.dataset.pk)
        form = VersionTagForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give a tag name and a version number.")
        else:
            try:
                tag = services.dataset_version_tag_set(dataset=self.dataset, author=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                messages.error(request, _error_text(exc))
            else:
                messages.success(request, f"Tag {tag.name} now points at version {tag.version.number}.")
        return redirect("admin:datasets_dataset_versions", self.dataset.pk)


def _pretty(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).splitlines()


def side_by_side(a: Any, b: Any) -> list[dict[str, str]]:
    """Line pairs (left, right, kind) of two values' pretty JSON; the template escapes every line."""
    left, right = _pretty(a), _pretty(b)
    rows = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [{"left": left[i], "right": right[j1 + k], "kind": "same"} for k, i in enumerate(range(i1, i2))]
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            rows.append(
                {
                    "left": left[i1 + k] if i1 + k < i2 else "",
                    "right": right[j1 + k] if j1 + k < j2 else "",
                    "kind": {"replace": "changed", "delete": "removed", "insert": "added"}[op],
                }
            )
    return rows


class DiffView(DatasetAdminView):
    def get(self, request, pk):
        dataset = self.dataset
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
        added = [
            {"record_id": r["record_id"], "rows": side_by_side(None, {k: v for k, v in r.items() if k != "record_id"})}
            for r in diff.added
        ]
        removed = [
            {"record_id": r["record_id"], "rows": side_by_side({k: v for k, v in r.items() if k != "record_id"}, None)}
            for r in diff.removed
        ]
        return self.render(
            "admin/datasets/dataset/diff.html",
            title=f"{dataset.name}: v{a} → v{b}",
            diff=diff,
            a=a,
            b=b,
            changed=changed,
            added=added,
            removed=removed,
            limit=DIFF_LIMIT,
            numbers=list(range(latest, -1, -1)),
        )


class ImportView(DatasetAdminView):
    def get(self, request, pk):
        return self.render(
            "admin/datasets/dataset/import.html", title=f"{self.dataset.name}: import records", form=ImportForm()
        )

    def post(self, request, pk):
        form = ImportForm(request.POST, request.FILES)
        errors: dict[str, list[str]] = {}
        error_message = ""
        valid_rows = None
        if form.is_valid():
            upload = form.cleaned_data["file"]
            split = lambda text: [v.strip() for v in (text or "").split(",") if v.strip()]  # noqa: E731
            try:
                columns = form.column_mapping()
                count, version = importers.dataset_import_file(
                    dataset=self.dataset,
                    content=upload.read(),
                    filename=upload.name,
                    fmt=form.cleaned_data["format"],
                    columns=columns,
                    tags=split(form.cleaned_data.get("tags")),
                    splits=split(form.cleaned_data.get("splits")),
                    author=request.user,
                    message=form.cleaned_data.get("message") or "",
                    dry_run=form.cleaned_data.get("dry_run"),
                )
            except ApplicationError as exc:
                error_message, errors = exc.message, exc.fields
            except Exception as exc:  # a column mapping line without '='
                error_message = str(getattr(exc, "message", exc))
            else:
                if form.cleaned_data.get("dry_run"):
                    valid_rows = count
                else:
                    self.version_message(version, f"Imported {count} row(s) from {upload.name}")
                    return self.back_to_records()
        return self.render(
            "admin/datasets/dataset/import.html",
            title=f"{self.dataset.name}: import records",
            form=form,
            error_message=error_message,
            row_errors=sorted(errors.items()),
            valid_rows=valid_rows,
        )


class GenerateView(DatasetAdminView):
    def get(self, request, pk):
        return self.render(
            "admin/datasets/dataset/generate.html",
            title=f"{self.dataset.name}: generate examples",
            form=GenerateForm(),
            how_to=LLM_HELP,
        )

    def post(self, request, pk):
        form = GenerateForm(request.POST)
        if form.is_valid() and llm_configured():
            try:
                version = generation.dataset_generate_records(
                    dataset=self.dataset, author=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                messages.error(request, _error_text(exc))
            else:
                self.version_message(version, "Generated records (tagged needs-review)")
                return self.back_to_records(tag=generation.GENERATED_TAG)
        return self.render(
            "admin/datasets/dataset/generate.html",
            title=f"{self.dataset.name}: generate examples",
            form=form,
            how_to=LLM_HELP,
        )


def _start_or_run(request, dataset: Dataset, span_pks: list[int], *, kind: str, mapping: dict, message: str):
    """Run now (≤ threshold) and return None, or queue a job and return a redirect to its page."""
    if len(span_pks) > services.SPAN_ASYNC_THRESHOLD:
        job = services.dataset_job_start(
            dataset=dataset, kind=kind, span_pks=span_pks, mapping=mapping, author=request.user, message=message
        )
        messages.info(request, f"Adding {len(span_pks)} spans to {dataset.name} in the background.")
        return redirect("admin:datasets_dataset_job", job.pk)
    from apps.traces.models import Span

    if kind == DatasetJob.Kind.FROM_FEEDBACK:
        result = services.dataset_add_from_feedback(
            dataset=dataset,
            mapping=mapping,
            author=request.user,
            spans_queryset=Span.objects.filter(pk__in=span_pks),
            message=message,
        )
    else:
        result = services.dataset_add_spans(
            dataset=dataset, span_pks=span_pks, mapping=mapping, author=request.user, message=message
        )
    records_url = reverse("admin:datasets_dataset_records", args=[dataset.pk])
    skipped = f" {len(result.skipped)} span(s) had no input at that path and were skipped." if result.skipped else ""
    if result.version is None:
        messages.info(
            request,
            format_html(
                '{} already holds these spans unchanged: no new version.{} <a href="{}">Open the records</a>.',
                dataset.name,
                skipped,
                records_url,
            ),
        )
    else:
        v = result.version
        messages.success(
            request,
            format_html(
                'Added to {} as version {} ({} added, {} updated).{} <a href="{}">Open the records</a>.',
                dataset.name,
                v.number,
                v.added,
                v.updated,
                skipped,
                records_url,
            ),
        )
    return None


class FromFeedbackView(DatasetAdminView):
    def post(self, request, pk):
        try:
            spans = services.feedback_spans(project=self.dataset.project)
            span_pks = list(spans.values_list("pk", flat=True))
            if not span_pks:
                messages.info(request, "No span has negative end-user feedback and a correction yet.")
                return self.back_to_records()
            response = _start_or_run(
                request,
                self.dataset,
                span_pks,
                kind=DatasetJob.Kind.FROM_FEEDBACK,
                mapping={"carry_annotations": True},
                message="Add corrected negative feedback",
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
            response = None
        return response or self.back_to_records()


def add_negative_feedback(model_admin, request, queryset):
    """Dataset changelist action: each selected dataset gains its project's corrected negative feedback."""
    for dataset in queryset.select_related("project"):
        if not can(request.user, WRITE_ACTION, dataset.project):
            messages.error(request, f"You need the {action_role(WRITE_ACTION)} role to change {dataset.name}.")
            continue
        try:
            span_pks = list(services.feedback_spans(project=dataset.project).values_list("pk", flat=True))
            if not span_pks:
                messages.info(request, f"{dataset.project}: no span has negative feedback and a correction yet.")
                continue
            response = _start_or_run(
                request,
                dataset,
                span_pks,
                kind=DatasetJob.Kind.FROM_FEEDBACK,
                mapping={"carry_annotations": True},
                message="Add corrected negative feedback",
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
            continue
        if response is not None and queryset.count() == 1:
            return response
    return None


class JobView(DatasetAdminView):
    def get(self, request, job_id):
        job = self._job(request, job_id)
        return self.render(
            "admin/datasets/dataset/job.html",
            title=f"{job.get_kind_display()} #{job.pk}",
            job=job,
            status_url=reverse("admin:datasets_dataset_job_status", args=[job.pk]),
            records_url=reverse("admin:datasets_dataset_records", args=[job.dataset_id]) if job.dataset_id else "",
        )

    @staticmethod
    def _job(request, job_id) -> DatasetJob:
        projects = projects_for_user(request.user)
        job = selectors.dataset_jobs_for_projects(projects=projects).filter(pk=job_id).first()
        if job is None:
            raise Http404("Job not found.")
        return job


class JobStatusView(DatasetAdminView):
    def get(self, request, job_id):
        job = JobView._job(request, job_id)
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


# ---------------------------------------------------------------- "Add to dataset…" on traces and spans


def _spans_for(queryset):
    from apps.traces.models import Trace
    from apps.traces.selectors import root_spans_of

    if queryset.model is Trace:
        # A trace's root span carries the trace-level input and output.
        return root_spans_of(queryset)
    return queryset


@admin.action(description="Add to dataset…")
@policy_action(WRITE_ACTION)
def add_to_dataset(model_admin, request, queryset):
    """Intermediate page with the mapping form; posting it re-runs the action on the same selection
    (select-across re-applies the changelist's active filters, which live in the URL)."""
    spans = _spans_for(queryset)
    project_ids = list(spans.order_by().values_list("project_id", flat=True).distinct()[:2])
    writable = projects_where(request.user, WRITE_ACTION)
    datasets = Dataset.objects.filter(project__in=writable).select_related("project").order_by("project", "name")
    if project_ids:
        datasets = datasets.filter(project_id=project_ids[0])
    if len(project_ids) > 1:
        messages.error(request, "The selection spans several projects; filter to one project first.")
        return None
    if not project_ids:
        messages.warning(request, "The selection has no spans to add.")
        return None
    if not writable.filter(pk=project_ids[0]).exists():
        messages.error(request, f"Adding to a dataset needs the {action_role(WRITE_ACTION)} role in this project.")
        return None
    posted = "apply" in request.POST or "preview" in request.POST
    form = SpanMappingForm(request.POST if posted else None, datasets=datasets)
    preview = []
    if "preview" in request.POST and form.is_valid():
        try:
            mapping = services.span_mapping_clean(form.mapping())
            errors: dict = {}
            input_expr = services._jsonpath(mapping.input_path, "input_path", errors)
            expected_expr = services._jsonpath(mapping.expected_path, "expected_path", errors)
            shown = list(spans.select_related("trace").order_by("pk")[:3])
            golds = spans_gold([s.pk for s in shown])
            for span in shown:
                row = services.span_to_record(
                    span, mapping, input_expr=input_expr, expected_expr=expected_expr, gold=golds.get(span.pk)
                )
                preview.append(
                    {
                        "record_id": row["record_id"],
                        "input": json.dumps(row["input"], ensure_ascii=False),
                        "expected": json.dumps(row["expected"], ensure_ascii=False),
                        "metadata": json.dumps(row["metadata"], ensure_ascii=False),
                    }
                )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
    elif "apply" in request.POST and form.is_valid():
        try:
            dataset = form.cleaned_data.get("dataset") or services.dataset_get_or_create(
                project=writable.get(pk=project_ids[0]),
                name=form.cleaned_data["new_dataset_name"],
                created_by=request.user,
            )
            span_pks = list(spans.order_by().values_list("pk", flat=True))
            return _start_or_run(
                request,
                dataset,
                span_pks,
                kind=DatasetJob.Kind.ADD_SPANS,
                mapping=form.mapping(),
                message=form.cleaned_data.get("message") or "",
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
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
            "threshold": services.SPAN_ASYNC_THRESHOLD,
            "selected": selected,
            "select_across": select_across,
            "action_name": request.POST.get("action", "add_to_dataset"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form_url": request.get_full_path(),
            "is_traces": queryset.model.__name__ == "Trace",
            "preview": preview,
        },
    )
