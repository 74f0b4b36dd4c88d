"""Reads of annotations reused by the API, the admin panel, review queues, datasets and exports."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from apps.core import registry
from apps.core.markdown import render_markdown
from apps.projects.models import Project
from apps.projects.selectors import projects_for_user, user_has_role
from apps.traces.models import Span, SpanTag, Tag

from .models import Comment, Correction, Score, ScoreConfig, ScoreEvent, ScoreKind, ScoreSource, TagEvent

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _user_name(user) -> str | None:
    return user.get_username() if user is not None else None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def active_score_configs(project: Project | int) -> QuerySet[ScoreConfig]:
    project_id = project if isinstance(project, int) else project.pk
    return ScoreConfig.objects.filter(project_id=project_id, is_archived=False).order_by("order", "name")


def span_annotations_api_extension(spans, request) -> dict[int, dict[str, Any]]:
    """Adds `annotations` to every span the trace/span read API answers with (one query per kind).

    A reviewer in a blind queue sees only their own scores on its open items, as in the admin."""
    pks = [s.pk for s in spans]
    bulk = span_annotations_bulk(pks)
    hidden = registry.spans_blinded_for(request.user, pks)
    if hidden:
        own = set(Score.objects.filter(span_id__in=hidden, author=request.user).values_list("pk", flat=True))
        for pk in hidden:
            bulk[pk]["scores"] = [s for s in bulk[pk]["scores"] if s["id"] in own]
    return {pk: {"annotations": data} for pk, data in bulk.items()}


def panel_scores_blind(ctx: dict[str, Any], user) -> dict[str, Any]:
    """Keep only `user`'s own scores in an annotation panel context (blind review), no means."""
    for entry in ctx.get("summary") or []:
        entry["scores"] = [s for s in entry.get("scores", []) if s.author_id == user.pk]
        entry["count"] = len(entry["scores"])
        entry["mean"] = None
        entry["mean_percent"] = None
    ctx["summary"] = [entry for entry in ctx.get("summary") or [] if entry["scores"]]
    ctx["score_history"] = [ev for ev in ctx.get("score_history") or [] if ev.author_id == user.pk]
    return ctx


def span_annotations_bulk(span_pks: list[int]) -> dict[int, dict[str, Any]]:
    """Every annotation of the given spans, one query per kind (not per span).

    Per span: scores (config name/kind, value, label(s), text, comment, author, source, times), tags
    (who/when), tag_history (adds and removes), comments, corrections (oldest first; the last is the
    current `expected`), metadata (reviewer metadata) and expected.
    """
    pks = list(dict.fromkeys(span_pks))
    out: dict[int, dict[str, Any]] = {
        pk: {"scores": [], "tags": [], "tag_history": [], "comments": [], "corrections": [], "metadata": {},
             "expected": None}
        for pk in pks
    }
    if not pks:
        return out
    for pk, metadata, expected in Span.objects.filter(pk__in=pks).values_list(
            "pk", "annotation_metadata", "expected"):
        out[pk]["metadata"] = metadata or {}
        out[pk]["expected"] = expected
    for s in Score.objects.filter(span_id__in=pks).select_related("config", "author").order_by(
            "config__order", "config__name", "created_at", "id"):
        out[s.span_id]["scores"].append({
            "id": s.pk, "config": s.config.name, "config_id": s.config_id, "kind": s.config.kind,
            "value": s.value, "label": s.label, "labels": s.labels, "text": s.text, "comment": s.comment,
            "author": _user_name(s.author), "source": s.source, "created_at": _iso(s.created_at),
            "updated_at": _iso(s.updated_at),
        })
    for st in SpanTag.objects.filter(span_id__in=pks).select_related("tag", "added_by").order_by("added_at", "id"):
        out[st.span_id]["tags"].append({
            "name": st.tag.name, "colour": st.tag.colour, "added_by": _user_name(st.added_by),
            "source": st.source, "added_at": _iso(st.added_at),
        })
    for ev in TagEvent.objects.filter(span_id__in=pks).select_related("user"):
        out[ev.span_id]["tag_history"].append({
            "name": ev.tag_name, "action": ev.action, "user": _user_name(ev.user), "source": ev.source,
            "at": _iso(ev.created_at),
        })
    for c in Comment.objects.filter(span_id__in=pks).select_related("author"):
        out[c.span_id]["comments"].append({
            "id": c.pk, "text": c.text, "author": _user_name(c.author), "source": c.source,
            "created_at": _iso(c.created_at),
        })
    for c in Correction.objects.filter(span_id__in=pks).select_related("author"):
        out[c.span_id]["corrections"].append({
            "id": c.pk, "value": c.value, "author": _user_name(c.author), "source": c.source,
            "created_at": _iso(c.created_at),
        })
    return out


def span_annotations(span: Span) -> dict[str, Any]:
    return span_annotations_bulk([span.pk])[span.pk]


def score_summary(span: Span) -> list[dict[str, Any]]:
    """Per config with scores on the span: the scores, their authors and the mean of numeric values."""
    by_config: dict[int, dict[str, Any]] = {}
    for s in Score.objects.filter(span=span).select_related("config", "author").order_by(
            "config__order", "config__name", "created_at", "id"):
        entry = by_config.setdefault(s.config_id, {"config": s.config, "name": s.config.name,
                                                   "kind": s.config.kind, "scores": [], "authors": []})
        entry["scores"].append(s)
        who = _user_name(s.author) or s.get_source_display()
        if who not in entry["authors"]:
            entry["authors"].append(who)
    for entry in by_config.values():
        values = [s.value for s in entry["scores"] if s.value is not None]
        entry["count"] = len(entry["scores"])
        entry["mean"] = sum(values) / len(values) if values else None
        config = entry["config"]
        if entry["mean"] is not None and config.kind == ScoreKind.CONTINUOUS:
            entry["mean_percent"] = round(100 * (entry["mean"] - config.min_value)
                                          / (config.max_value - config.min_value))
        elif entry["mean"] is not None and config.kind == ScoreKind.BOOLEAN:
            entry["mean_percent"] = round(100 * entry["mean"])  # share of "yes"
        else:
            entry["mean_percent"] = None
    return list(by_config.values())


def negative_feedback_q(project: Project) -> Q | None:
    """End-user scores that are negative.

    boolean: value 0 (thumbs down); continuous: below the midpoint of [min, max]; categorical: the
    value equals the lowest option value (for multi-select, the mean of the picks is that minimum).
    Text scores are never negative.
    """
    q = Q()
    found = False
    for config in ScoreConfig.objects.filter(project=project).exclude(kind=ScoreKind.TEXT):
        if config.kind == ScoreKind.BOOLEAN:
            q |= Q(config=config, value__lt=0.5)
        elif config.kind == ScoreKind.CONTINUOUS:
            q |= Q(config=config, value__lt=(config.min_value + config.max_value) / 2)
        elif config.options:
            q |= Q(config=config, value__lte=min(float(o["value"]) for o in config.options))
        else:
            continue
        found = True
    return q if found else None


def spans_with_negative_feedback(project: Project) -> QuerySet[Span]:
    """Spans of the project with negative end-user feedback (see `negative_feedback_q`) and a correction."""
    q = negative_feedback_q(project)
    if q is None:
        return Span.objects.none()
    negative = Score.objects.filter(q, span=OuterRef("pk"), source=ScoreSource.END_USER)
    corrected = Correction.objects.filter(span=OuterRef("pk"))
    return Span.objects.filter(project=project).filter(Exists(negative), Exists(corrected))


def span_for_user(user, span_pk: int, *, min_role: str = "viewer") -> Span | None:
    """The span if the user has at least `min_role` in its project, else None (answer 404)."""
    return (Span.objects.select_related("trace", "project")
            .filter(pk=span_pk, project__in=projects_for_user(user, min_role=min_role)).first())


# --------------------------------------------------------------------------- diff and the panel


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _message_content(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if isinstance(value, list) and value and isinstance(value[-1], dict) and isinstance(
            value[-1].get("content"), str):
        return value[-1]["content"]
    return None


def expected_output_diff(output: Any, expected: Any) -> list[dict[str, str]]:
    """A unified diff (difflib) from the output to the expected value, as lines tagged add/del/hunk/ctx.

    When the expected value is text, or both are chat messages, and the output a chat message, the
    messages' text is compared.
    """
    if expected is None:
        return []
    left, right = output, expected
    if isinstance(expected, str) and not isinstance(output, str):
        content = _message_content(output)
        if content is not None:
            left = content
    elif _message_content(output) is not None and _message_content(expected) is not None:
        left, right = _message_content(output), _message_content(expected)  # two messages: their text
    lines = difflib.unified_diff(_as_text(left).splitlines(), _as_text(right).splitlines(),
                                 fromfile="output", tofile="expected", lineterm="", n=3)
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append({"kind": kind, "line": line})
    return out


def _score_state(score: Score) -> Any:
    if score.labels:
        return score.labels
    if score.label:
        return score.label
    if score.text:
        return score.text
    if score.config.kind == ScoreKind.BOOLEAN:
        return score.value is not None and score.value >= 0.5
    return score.value


def annotation_panel_context(request, span: Span, configs=None) -> dict[str, Any]:
    """Everything `reviews/_annotation_panel.html` and `annotation_panel.js` need for one span.

    `configs` narrows the controls (a review queue's configs); archived configs never get a control.
    """
    user = request.user
    project = span.project
    can_edit = user_has_role(user, project, "reviewer")
    if configs is None:
        config_list = list(active_score_configs(project))
    else:
        config_list = [c for c in configs if c.project_id == project.pk and not c.is_archived]
    narrowed = "" if configs is None else "?" + urlencode([("config", c.name) for c in config_list] or [("config", "")])
    mine = {s.config_id: s for s in Score.objects.filter(
        span=span, author=user, source=ScoreSource.HUMAN).select_related("config")}
    controls = []
    for c in config_list:
        own = mine.get(c.pk)
        controls.append({
            "config": c,
            "dom_id": f"assay-score-{span.pk}-{c.pk}",
            "description_html": render_markdown(c.description) if c.description else "",
            "options": c.options,
            "mine": own,
            "mine_value": _score_state(own) if own else None,
        })
    annotations = span_annotations(span)
    corrections = [
        {"author": _user_name(c.author), "source": c.source, "created_at": c.created_at, "text": _as_text(c.value)}
        for c in Correction.objects.filter(span=span).select_related("author").order_by("-created_at", "-id")
    ]
    seed = span.expected if span.expected is not None else span.output
    chat_text = _message_content(seed)
    # A chat output is corrected as the assistant's text (Text mode), saved back in the message's shape.
    seed_mode = "text" if isinstance(seed, str) or seed is None or chat_text is not None else "json"
    state = {
        "spanPk": span.pk,
        "spanId": span.span_id,
        "canEdit": can_edit,
        # A narrowed panel (queue or trace-view controls) stays narrowed when re-rendered after a save.
        "submitUrl": reverse("admin:reviews_annotation_submit", args=[span.pk]) + narrowed,
        "panelUrl": reverse("admin:reviews_annotation_panel", args=[span.pk]) + narrowed,
        "configs": [{
            "id": c.pk, "name": c.name, "kind": c.kind, "min": c.min_value, "max": c.max_value,
            "options": c.options, "multi": c.multi_select, "maxLength": c.max_length,
            "domId": f"assay-score-{span.pk}-{c.pk}",
        } for c in config_list],
        "mine": {c.name: (_score_state(mine[c.pk]) if c.pk in mine else None) for c in config_list},
        "tags": [t["name"] for t in annotations["tags"]],
        "tagColours": {t["name"]: t["colour"] for t in annotations["tags"] if HEX_COLOUR.fullmatch(t["colour"] or "")},
        "projectTags": list(Tag.objects.filter(project=project).order_by("name").values_list("name", flat=True)[:500]),
        "expected": {"mode": seed_mode, "text": chat_text if chat_text is not None else _as_text(seed),
                     "json": _as_text(seed), "chat": seed if chat_text is not None else None},
        "metadata": annotations["metadata"],
    }
    def when(item: dict, key: str) -> dict:
        return {**item, "when": (item.get(key) or "")[:16].replace("T", " ")}

    def coloured(tag: dict) -> dict:
        colour = tag.get("colour") or ""
        return {**tag, "colour": colour if HEX_COLOUR.fullmatch(colour) else "#64748b"}

    history = list(ScoreEvent.objects.filter(span=span).select_related("config", "author")
                   .order_by("-created_at", "-id")[:50])
    ctx = {
        "span": span,
        "panel_id": f"assay-annotations-{span.pk}",
        "can_edit": can_edit,
        "controls": controls,
        "summary": score_summary(span),
        "annotations": annotations,
        "tags": [coloured(when(t, "added_at")) for t in annotations["tags"]],
        "tag_history": [when(e, "at") for e in reversed(annotations["tag_history"])][:50],
        "comments": [when(c, "created_at") for c in annotations["comments"]],
        "corrections": corrections,
        "diff": expected_output_diff(span.output, span.expected),
        "metadata_items": [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                           for k, v in sorted(annotations["metadata"].items())],
        "score_history": history,
        "panel_state": state,
        "state_id": f"assay-annotations-state-{span.pk}",
    }
    if span.pk in registry.spans_blinded_for(user, [span.pk]):
        panel_scores_blind(ctx, user)
    return ctx


def trace_page_panel(*, request, trace, span) -> dict[str, Any] | None:
    """Registered on the trace page: the annotation panel of the selected span."""
    if span is None or not user_has_role(request.user, span.project, "viewer"):
        return None
    return {"title": "Annotations", "template": "reviews/_annotation_panel.html",
            "context": annotation_panel_context(request, span)}


def negative_feedback_overview(projects) -> list[dict[str, Any]]:
    """Per project: spans with negative end-user feedback, and how many still lack a correction."""
    rows = []
    for project in projects:
        q = negative_feedback_q(project)
        if q is None:
            continue
        # From the (indexed) scores, not a scan of the project's spans.
        negative = Score.objects.filter(q, project=project, source=ScoreSource.END_USER)
        total = negative.values("span_id").distinct().count()
        if not total:
            continue
        uncorrected = (negative.exclude(Exists(Correction.objects.filter(span_id=OuterRef("span_id"))))
                       .values("span_id").distinct().count())
        rows.append({"project": project, "negative": total, "uncorrected": uncorrected,
                     "corrected": total - uncorrected})
    return rows


def feedback_dashboard_panel(request) -> dict[str, Any] | None:
    """Admin index: negative end-user feedback per project, and what still needs a correction."""
    projects = list(projects_for_user(request.user).order_by("slug")[:20])
    rows = negative_feedback_overview(projects)
    if not rows:
        return None
    return {"title": "End-user feedback", "template": "admin/reviews/_feedback_panel.html",
            "context": {"rows": rows}}
