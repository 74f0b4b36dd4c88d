"""Page and panel builders of annotations: the annotation panel of one span (controls, history, the
expected-vs-output diff), the trace-page panel and the admin dashboard's feedback panel. Reads come
from `selectors` and `visibility`."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from apps.core.chat import editable_text
from apps.core.markdown import render_markdown
from apps.projects.permissions import can
from apps.projects.selectors import projects_for_user
from apps.traces.models import Span, Tag

from .models import Score, ScoreKind, ScoreSource
from .selectors import (
    active_score_configs,
    negative_feedback_overview,
    score_history_visible,
    score_summary,
    span_annotations_visible,
    user_name,
)
from .visibility import AnnotationVisibility, annotations_visible_to

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def expected_output_diff(output: Any, expected: Any) -> list[dict[str, str]]:
    """A unified diff (difflib) from the output to the expected value, as lines tagged add/del/hunk/ctx.

    When the expected value is text, or both are chat messages, and the output a chat message, the
    messages' text is compared.
    """
    if expected is None:
        return []
    left, right = output, expected
    if isinstance(expected, str) and not isinstance(output, str):
        content = editable_text(output)
        if content is not None:
            left = content
    elif editable_text(output) is not None and editable_text(expected) is not None:
        left, right = editable_text(output), editable_text(expected)  # two messages: their text
    lines = difflib.unified_diff(
        _json_text(left).splitlines(),
        _json_text(right).splitlines(),
        fromfile="output",
        tofile="expected",
        lineterm="",
        n=3,
    )
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


def annotation_panel_context(
    request,
    span: Span,
    configs=None,
    *,
    visibility: AnnotationVisibility | None = None,
    lazy_history: bool = False,
    page_tags: bool = False,
) -> dict[str, Any]:
    """Everything `reviews/_annotation_panel.html` and `annotation_panel.js` need for one span.

    `configs` narrows the controls (a review queue's configs); archived configs never get a control.
    `visibility`: `annotations_visible_to(request.user, [span.pk])` when the caller has it already.
    Each kind of annotation is read once (the scores serve the controls, the list and the summary).
    `lazy_history`: the tag and score history are left out, fetched when opened (`history_url`).
    `page_tags`: the project's tag names are not read; the page holds them once (`project_tag_names`).
    """
    user = request.user
    can_edit = can(user, "annotation.write", span.project)
    config_list = _panel_configs(span, configs)
    if visibility is None:
        visibility = annotations_visible_to(user, [span.pk])
    rows: dict[str, list] = {}
    annotations = span_annotations_visible(
        [span.pk], user, visibility=visibility, spans=[span], rows=rows, tag_history=not lazy_history
    )[span.pk]
    mine = {s.config_id: s for s in rows["scores"] if _is_own_human_score(s, user)}
    return {
        "span": span,
        "panel_id": f"assay-annotations-{span.pk}",
        "can_edit": can_edit,
        "controls": _score_controls(span, config_list, mine),
        "summary": score_summary(span, user, visibility=visibility, scores=rows["scores"]),
        "annotations": annotations,
        "tags": [_coloured(_when(t, "added_at")) for t in annotations["tags"]],
        "tag_history": [_when(e, "at") for e in reversed(annotations["tag_history"])][:50],
        "comments": [_when(c, "created_at") for c in annotations["comments"]],
        "corrections": _corrections_shown(span, rows["corrections"], visibility),
        "diff": expected_output_diff(span.output, annotations["expected"]),
        "expected": annotations["expected"],
        "metadata_items": [
            (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            for k, v in sorted(annotations["metadata"].items())
        ],
        "score_history": [] if lazy_history else score_history_visible(span, visibility),
        "tag_list_id": "assay-project-tags" if page_tags else f"assay-tag-options-{span.pk}",
        "history_url": reverse("admin:reviews_annotation_history", args=[span.pk]) if lazy_history else "",
        "panel_state": _panel_state(
            span,
            annotations,
            rows,
            visibility,
            config_list,
            mine,
            can_edit=can_edit,
            narrowed=configs is not None,
            page_tags=page_tags,
        ),
        "state_id": f"assay-annotations-state-{span.pk}",
    }


def _is_own_human_score(score: Score, user) -> bool:
    return score.author_id is not None and score.author_id == user.pk and score.source == ScoreSource.HUMAN


def _panel_configs(span: Span, configs) -> list:
    """The configs that get a control: `configs` (a queue's) of the span's project, else all; never archived."""
    if configs is None:
        return list(active_score_configs(span.project))
    return [c for c in configs if c.project_id == span.project_id and not c.is_archived]


def _corrections_shown(span: Span, corrections: list, visibility: AnnotationVisibility) -> list[dict[str, Any]]:
    newest_first = sorted(corrections, key=lambda c: (c.created_at, c.pk), reverse=True)
    return [
        {"author": user_name(c.author), "source": c.source, "created_at": c.created_at, "text": _json_text(c.value)}
        for c in visibility.own(span.pk, newest_first)
    ]


def _when(item: dict, key: str) -> dict:
    return {**item, "when": (item.get(key) or "")[:16].replace("T", " ")}


def _coloured(tag: dict) -> dict:
    colour = tag.get("colour") or ""
    return {**tag, "colour": colour if HEX_COLOUR.fullmatch(colour) else "#64748b"}


def _score_controls(span: Span, config_list: list, mine: dict[int, Score]) -> list[dict[str, Any]]:
    """One control a config, with the reviewer's own score in it."""
    return [
        {
            "config": c,
            "dom_id": f"assay-score-{span.pk}-{c.pk}",
            "description_html": render_markdown(c.description) if c.description else "",
            "options": c.options,
            "mine": mine.get(c.pk),
            "mine_value": _score_state(mine[c.pk]) if c.pk in mine else None,
        }
        for c in config_list
    ]


def _expected_seed(expected: Any, output: Any) -> dict[str, Any]:
    """What the Expected box starts from: the reviewer's own correction (blind: never another's) or the
    output. A chat output is corrected as the assistant's text (Text mode), saved back in its shape."""
    seed = expected if expected is not None else output
    chat_text = editable_text(seed)
    return {
        "mode": "text" if isinstance(seed, str) or seed is None or chat_text is not None else "json",
        "text": chat_text if chat_text is not None else _json_text(seed),
        "json": _json_text(seed),
        "chat": seed if chat_text is not None else None,
    }


def _panel_state(
    span: Span,
    annotations: dict[str, Any],
    rows: dict[str, list],
    visibility: AnnotationVisibility,
    config_list: list,
    mine: dict[int, Score],
    *,
    can_edit: bool,
    narrowed: bool,
    page_tags: bool,
) -> dict[str, Any]:
    """The panel's JSON state for `annotation_panel.js`."""
    # A narrowed panel (queue or trace-view controls) stays narrowed when re-rendered after a save.
    query = "?" + urlencode([("config", c.name) for c in config_list] or [("config", "")]) if narrowed else ""
    # Blind: not even as a suggestion may the names of tags others put on this span show.
    shown = {t["name"] for t in annotations["tags"]}
    hidden_tags = (
        [] if visibility.sees_others(span.pk) else [st.tag.name for st in rows["tags"] if st.tag.name not in shown]
    )
    return {
        "spanPk": span.pk,
        "spanId": span.span_id,
        "canEdit": can_edit,
        "submitUrl": reverse("admin:reviews_annotation_submit", args=[span.pk]) + query,
        "panelUrl": reverse("admin:reviews_annotation_panel", args=[span.pk]) + query,
        "configs": [
            {
                "id": c.pk,
                "name": c.name,
                "kind": c.kind,
                "min": c.min_value,
                "max": c.max_value,
                "options": c.options,
                "multi": c.multi_select,
                "maxLength": c.max_length,
                "domId": f"assay-score-{span.pk}-{c.pk}",
            }
            for c in config_list
        ],
        "mine": {c.name: (_score_state(mine[c.pk]) if c.pk in mine else None) for c in config_list},
        "tags": [t["name"] for t in annotations["tags"]],
        "tagColours": {t["name"]: t["colour"] for t in annotations["tags"] if HEX_COLOUR.fullmatch(t["colour"] or "")},
        "projectTags": None
        if page_tags
        else list(
            Tag.objects.filter(project_id=span.project_id)
            .exclude(name__in=hidden_tags)
            .order_by("name")
            .values_list("name", flat=True)[:500]
        ),
        "expected": _expected_seed(annotations["expected"], span.output),
        "metadata": annotations["metadata"],
    }


def trace_page_panel(*, request, trace, span) -> dict[str, Any] | None:
    """Registered on the trace page: the annotation panel of the selected span."""
    if span is None or not can(request.user, "project.view", span.project):
        return None
    return {
        "title": "Annotations",
        "template": "reviews/_annotation_panel.html",
        "context": annotation_panel_context(request, span),
    }


def feedback_dashboard_panel(request) -> dict[str, Any] | None:
    """Admin index: negative end-user feedback per project, and what still needs a correction."""
    projects = list(projects_for_user(request.user).order_by("slug")[:20])
    rows = negative_feedback_overview(projects)
    if not rows:
        return None
    return {"title": "End-user feedback", "template": "admin/reviews/_feedback_panel.html", "context": {"rows": rows}}
