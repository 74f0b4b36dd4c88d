"""Admin screens of comparing experiments and judge alignment.

`compare_admin_urls(model_admin)` gives the routes the Experiment admin's `get_urls` puts before its own.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from rest_framework.exceptions import ValidationError

from apps.core.exceptions import ApplicationError
from apps.core.pagination import page_size_from_request
from apps.projects.admin_scope import admin_can
from apps.projects.selectors import projects_for_user

from . import alignment, compare, compare_records
from .alignment_examples import judge_version_from_labels
from .models import Scorer


class _Params:
    """`request.GET` as the page size helper reads it (DRF's `query_params`)."""

    def __init__(self, request):
        self.query_params = request.GET


def _error_page(model_admin, request, template: str, exc: ApplicationError, **context):
    if exc.status == 404:
        raise Http404(exc.message)
    if exc.status == 403:
        raise PermissionDenied(exc.message)
    context = {**model_admin.admin_site.each_context(request), **context, "error": exc}
    return render(request, template, context, status=exc.status)


def _filter_url(ids: str, config: str, change: str, against: int) -> str:
    return "?" + urlencode({"ids": ids, "config": config, "change": change, "against": against})


def summary_rows(comparison, ids: str) -> list[dict]:
    """The summary as table rows: per config, one cell per experiment (mean, interval; delta and counts
    with filter links for all but the baseline)."""
    names = {e.pk: e.name for e in comparison.experiments}
    rows = []
    for row in comparison.summary.get("configs", []):
        deltas = {d["experiment"]: d for d in row["deltas"]}
        cells = []
        for mean in row["means"]:
            delta = deltas.get(mean["experiment"])
            links = {
                change: _filter_url(ids, row["config"], change, mean["experiment"])
                for change in ("regressed", "improved", "unchanged")
            }
            cells.append({**mean, "name": names[mean["experiment"]], "delta": delta, "links": links})
        rows.append({"config": row["config"], "kind": row["kind"], "cells": cells})
    return rows


def compare_view(model_admin, request):
    """`?ids=a,b[,c]`: the summary (means with intervals, deltas, regressions, improvements) and a keyset
    page of records side by side, filtered by `config` and `change`."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    template = "admin/experiments/compare.html"
    try:
        ids = compare.parse_ids(request.GET.get("ids"))
        experiments = compare.experiments_for_compare(model_admin.get_queryset(request), ids)
        comparison = compare.comparison_get(experiments)
        size = page_size_from_request(
            _Params(request), param="page_size", default=compare_records.PAGE_SIZE, maximum=100
        )
        page = compare_records.comparison_page(comparison, request.GET, cursor=request.GET.get("cursor"), size=size)
    except ApplicationError as exc:
        return _error_page(model_admin, request, template, exc, title="Compare experiments")
    except ValidationError as exc:  # the page size rule
        error = ApplicationError("Invalid page size.", fields=exc.detail)
        return _error_page(model_admin, request, template, error, title="Compare experiments")
    query = request.GET.copy()
    next_url = None
    if page["next_cursor"]:
        query["cursor"] = page["next_cursor"]
        next_url = f"?{query.urlencode()}"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Compare experiments",
        "comparison": comparison,
        "page": page,
        "summary_rows": summary_rows(comparison, ",".join(str(e.pk) for e in comparison.experiments)),
        "configs": compare_records.shown_configs(comparison),
        "ids": ",".join(str(e.pk) for e in comparison.experiments),
        "next_url": next_url,
        "opts": model_admin.model._meta,
    }
    return render(request, template, context)


def _scorer_or_404(request, scorer_id: int) -> Scorer:
    try:
        return alignment.judge_scorer(Scorer.objects.filter(project__in=projects_for_user(request.user)), scorer_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def alignment_view(model_admin, request, scorer_id: int):
    """A judge's versions side by side against a human config (`?human_config=`): agreement with its
    interval, the confusion matrix and the disagreements; the "New version from human labels" button."""
    scorer = _scorer_or_404(request, scorer_id)
    if not admin_can(request, "queue.lead", scorer.project_id):  # every reviewer's labels: leads only
        raise PermissionDenied
    template = "admin/experiments/alignment.html"
    context = {
        "title": f"Alignment of {scorer.name}",
        "scorer": scorer,
        "human_config": request.GET.get("human_config", ""),
        "opts": model_admin.model._meta,
    }
    try:
        data = alignment.scorer_alignment(scorer, human_config=request.GET.get("human_config"))
    except ApplicationError as exc:
        return _error_page(model_admin, request, template, exc, **context)
    context.update(
        {
            **model_admin.admin_site.each_context(request),
            "data": data,
            "may_add_version": admin_can(request, "score_config.manage", scorer.project_id),
        }
    )
    return render(request, template, context)


def judge_version_from_labels_view(model_admin, request, scorer_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    scorer = _scorer_or_404(request, scorer_id)
    human_config = request.POST.get("human_config") or None
    url = reverse("admin:experiments_experiment_alignment", args=[scorer.pk])
    try:
        version = judge_version_from_labels(
            actor=request.user, scorer=scorer, human_config=human_config, max_examples=request.POST.get("max_examples")
        )
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from exc
        fields = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.fields.items())
        model_admin.message_user(request, f"{exc.message} {fields}".strip(), level=messages.ERROR)
    else:
        count = len(version.definition.get("examples", []))
        model_admin.message_user(request, f"Version {version.number} created with {count} examples.")
    return redirect(f"{url}?{urlencode({'human_config': human_config})}" if human_config else url)


def compare_admin_urls(model_admin) -> list:
    site = model_admin.admin_site

    def view(fn):
        return site.admin_view(lambda request, *args, **kwargs: fn(model_admin, request, *args, **kwargs))

    return [
        path("compare/", view(compare_view), name="experiments_experiment_compare"),
        path("alignment/<int:scorer_id>/", view(alignment_view), name="experiments_experiment_alignment"),
        path(
            "alignment/<int:scorer_id>/new-version/",
            view(judge_version_from_labels_view),
            name="experiments_experiment_alignment_new_version",
        ),
    ]
