"""Bodies of the custom admin screens of trace views (wired in admin.py through get_urls)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.llm import llm_configured
from apps.core.parsing import is_id, json_text_parse
from apps.projects.permissions import can, projects_where
from apps.traces.models import Trace

from . import generation, services
from .gallery import GALLERY
from .models import TraceView
from .renderer import render_html, render_tree
from .selectors import trace_for_projects, trace_view_default
from .share_page import frame_origins

EDIT_ACTION = "trace_view.edit"
RECENT_TRACES = 50


def _errors_list(fields: dict) -> list[tuple[str, list[str]]]:
    """Flatten {"spec": {"components[1].path": [...]}, "name": [...]} to [(where, messages)]."""
    out = []
    for key, value in fields.items():
        if isinstance(value, dict):
            out.extend((where, list(msgs)) for where, msgs in value.items())
        else:
            out.append((key, list(value) if isinstance(value, list | tuple) else [str(value)]))
    return out


def _recent_traces(projects, selected: Trace | None) -> list[Trace]:
    traces = list(
        Trace.objects.filter(project__in=projects)
        .select_related("project")
        .only("id", "trace_id", "name", "start_time", "project__slug")
        .order_by("-start_time", "-id")[:RECENT_TRACES]
    )
    if selected is not None and all(t.pk != selected.pk for t in traces):
        traces.insert(0, selected)
    return traces


def trace_view_editor_view(model_admin, request, pk: int | None = None):
    """The editor of a trace view (a new one when `pk` is None): spec, live preview, gallery, share."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    projects = projects_where(request.user, EDIT_ACTION)
    view = None
    if pk is not None:
        view = model_admin.get_queryset(request).select_related("project").filter(pk=pk).first()
        if view is None:
            raise Http404("Trace view not found.")
        if not model_admin.has_change_permission(request, view):
            raise PermissionDenied
    if view is None and not projects.exists():
        raise PermissionDenied
    values = _editor_values(request, view, projects)
    errors: list[tuple[str, list[str]]] = []
    if request.method == "POST":
        try:
            view = _editor_save(request, view, projects, values)
            return redirect(
                reverse("admin:views_traceview_editor", args=[view.pk])
                + (f"?trace={request.POST['trace']}" if is_id(request.POST.get("trace", "")) else "")
            )
        except ApplicationError as exc:
            errors = _errors_list(exc.fields) or [("", [exc.message])]
    context = _editor_context(model_admin, request, view, projects, values, errors)
    return TemplateResponse(request, "admin/views/editor.html", context, status=400 if errors else 200)


def _editor_values(request, view: TraceView | None, projects) -> dict[str, str]:
    """The form's values: posted, else the view's, else the `?template=` gallery entry's."""
    template = next((t for t in GALLERY if t["key"] == request.GET.get("template")), None)
    values = {
        "name": view.name if view else (template["name"] if template else ""),
        "description": view.description if view else (template["description"] if template else ""),
        "project": view.project.slug if view else (projects.first().slug if projects.exists() else ""),
        "spec": json.dumps(view.spec if view else (template or GALLERY[0])["spec"], indent=2, ensure_ascii=False),
    }
    if request.method == "POST":
        values.update({k: request.POST.get(k, "") for k in ("name", "description", "spec")})
        if view is None:
            values["project"] = request.POST.get("project", "")
    return values


def _editor_save(request, view: TraceView | None, projects, values: dict[str, str]) -> TraceView:
    try:
        spec = json_text_parse(values["spec"], field="spec")
    except ApplicationError as exc:
        if exc.message != "Malformed JSON.":
            raise
        raise ApplicationError(
            "Invalid JSON.", fields={"spec": [f"Invalid JSON: {m}" for m in sum(exc.fields.values(), [])]}
        ) from None
    if view is None:
        project = projects.filter(slug=values["project"]).first()
        if project is None:
            raise ApplicationError("Choose a project.", fields={"project": ["Choose one of your projects."]})
        view = services.trace_view_create(
            project=project, name=values["name"], spec=spec, description=values["description"], user=request.user
        )
        messages.success(request, f"Created the view “{view.name}”.")
    else:
        services.trace_view_update(
            view=view, name=values["name"], spec=spec, description=values["description"], actor=request.user
        )
        messages.success(request, f"Saved the view “{view.name}”.")
    if request.POST.get("make_default"):
        services.trace_view_default_set(project=view.project, view=view, actor=request.user)
    return view


def _editor_context(model_admin, request, view: TraceView | None, projects, values: dict, errors: list) -> dict:
    scope = [view.project] if view else projects
    selected = trace_for_projects(scope, request.GET.get("trace") or request.POST.get("trace"))
    traces = _recent_traces(scope, selected)
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Edit view: {view.name}" if view else "New trace view",
        "view": view,
        "values": values,
        "errors": errors,
        "projects": projects,
        "traces": traces,
        "selected_trace": selected or (traces[0] if traces else None),
        "gallery": GALLERY,
        "gallery_specs": {t["key"]: t["spec"] for t in GALLERY},
        "llm_configured": llm_configured(),
        "llm_help": generation.CONFIGURE_HELP,
        "is_default": bool(view and trace_view_default(project=view.project) == view),
        "embed_origins": frame_origins(view.project) if view else [],
        "share_links": list(view.share_links.select_related("trace").order_by("-id")[:20]) if view else [],
        "api": {
            "preview": reverse("trace-view-preview"),
            "generate": reverse("trace-view-generate"),
            "share": reverse("trace-view-share-links", args=[view.pk]) if view else "",
        },
    }


def trace_view_trace_view(model_admin, request, pk: int, trace_ref: str):
    """One trace through one view, score controls live (for members who may review)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    view = model_admin.get_queryset(request).select_related("project").filter(pk=pk).first()
    trace = trace_for_projects([view.project], trace_ref) if view else None
    if view is None or trace is None:
        raise Http404("Not found.")
    interactive = can(request.user, "annotation.write", view.project)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"{trace.name or trace.trace_id} · {view.name}",
        "view": view,
        "trace": trace,
        "views": TraceView.objects.filter(project=view.project).order_by("name"),
        "body": render_html(
            render_tree(view.spec, trace, viewer=request.user), request=request, interactive=interactive
        ),
    }
    return TemplateResponse(request, "admin/views/trace_page.html", context)
