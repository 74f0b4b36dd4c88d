"""Admin screens of the annotation panel: the panel fragment, its history and its JSON save endpoint.

Wired in admin.py (`ScoreAdmin.get_urls`). They load a span, not the ModelAdmin's own model, so they
load it through the permission policy (`selectors.span_for_user`) rather than `model_admin.get_queryset`."""

from __future__ import annotations

from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from apps.core.exceptions import ApplicationError
from apps.core.parsing import json_parse
from apps.projects.permissions import can

from .models import ScoreConfig
from .panels import annotation_panel_context
from .selectors import score_history_visible, span_annotations_visible, span_for_user
from .services.annotations import annotations_submit
from .visibility import annotations_visible_to

PANEL_TEMPLATE = "reviews/_annotation_panel.html"
SUBMIT_KEYS = {"scores", "comment", "tags", "remove_tags", "expected", "metadata"}


def _span_or_404(request, span_pk: int):
    span = span_for_user(request.user, span_pk)
    if span is None:
        raise Http404("Span not found.")
    return span


def _panel_context(request, span):
    """The panel, narrowed to `?config=<name>` (repeated) when the page showed only some configs."""
    if "config" not in request.GET:
        return annotation_panel_context(request, span)
    names = [n for n in request.GET.getlist("config") if n]
    by_name = {c.name: c for c in ScoreConfig.objects.filter(project_id=span.project_id, name__in=names)}
    return annotation_panel_context(request, span, configs=[by_name[n] for n in names if n in by_name])


def annotation_panel_view(model_admin, request, span_pk: int):
    """The panel as an HTML fragment (the JS swaps it in after each save)."""
    span = _span_or_404(request, span_pk)
    ctx = _panel_context(request, span)
    return render(request, PANEL_TEMPLATE, {"annotation_panel": ctx})


def annotation_history_view(model_admin, request, span_pk: int):
    """The span's tag and score history as an HTML fragment (the review page loads it when opened),
    under the same visibility rule as the panel (blind: only the reviewer's own events)."""
    span = _span_or_404(request, span_pk)
    visibility = annotations_visible_to(request.user, [span.pk])
    tags = span_annotations_visible([span.pk], request.user, visibility=visibility, spans=[span])[span.pk]
    tag_history = [{**e, "when": (e.get("at") or "")[:16].replace("T", " ")} for e in reversed(tags["tag_history"])][
        :50
    ]
    return render(
        request,
        "reviews/_annotation_history.html",
        {"tag_history": tag_history, "score_history": score_history_visible(span, visibility)},
    )


def annotation_submit_view(model_admin, request, span_pk: int):
    """POST JSON {scores, comment, tags, remove_tags, expected, metadata} → annotations_submit."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    span = span_for_user(request.user, span_pk)
    if span is None:
        return JsonResponse({"error": "Span not found.", "fields": {}}, status=404)
    if not can(request.user, "annotation.write", span.project):
        return JsonResponse({"error": "Annotating needs the reviewer role in this project.", "fields": {}}, status=403)
    try:
        data, _ = json_parse(request.body or b"{}")  # the API's body rules: depth, surrogates, NUL
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    if not isinstance(data, dict):
        return JsonResponse({"error": "Expected a JSON object.", "fields": {}}, status=400)
    unknown = sorted(set(data) - SUBMIT_KEYS)
    if unknown:
        return JsonResponse(
            {"error": "Unknown fields.", "fields": {k: ["Unknown field."] for k in unknown}}, status=400
        )
    kwargs = {k: data[k] for k in ("scores", "comment", "tags", "remove_tags", "metadata") if k in data}
    if "expected" in data:
        kwargs["expected"] = data["expected"]
    try:
        result = annotations_submit(span=span, user=request.user, **kwargs)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    span.refresh_from_db()
    html = render_to_string(PANEL_TEMPLATE, {"annotation_panel": _panel_context(request, span)}, request=request)
    return JsonResponse({"result": result, "html": html})
