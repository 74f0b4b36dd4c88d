"""Reads of annotations reused by the API, the admin panel, review queues, datasets and exports."""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value
from django.urls import reverse

from apps.core.chat import editable_text
from apps.core.markdown import render_markdown
from apps.projects.models import Project
from apps.projects.permissions import can, projects_where
from apps.projects.selectors import projects_for_user
from apps.queues.models import OPEN_STATUSES, ReviewItem, ReviewSubmission
from apps.traces.models import Span, SpanTag, Tag

from .models import (
    AnnotationSource,
    Comment,
    Correction,
    MetadataEvent,
    Score,
    ScoreConfig,
    ScoreEvent,
    ScoreKind,
    ScoreSource,
    TagEvent,
)

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _user_name(user) -> str | None:
    return user.get_username() if user is not None else None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def active_score_configs(project: Project | int) -> QuerySet[ScoreConfig]:
    project_id = project if isinstance(project, int) else project.pk
    return ScoreConfig.objects.filter(project_id=project_id, is_archived=False).order_by("order", "name")


# --------------------------------------------------------------------------- blind review: who sees what


def blinded_span_ids(user) -> QuerySet:
    """THE blind-review rule, as a subquery of span pks: spans that are an open item of a blind queue
    (or a gold question of any queue) which `user` has not submitted, in a project where `user` is not a lead (curator or admin).

    On those spans `user` sees only what they wrote themselves. Superusers, leads, anonymous callers
    and API keys (which read as the project does) are never blinded."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return ReviewItem.objects.none().values("span_id")
    return (
        # A gold question is blinded in any queue: its known answer and earlier answers stay hidden.
        ReviewItem.objects.filter(Q(queue__blind=True) | Q(is_gold_question=True), status__in=OPEN_STATUSES)
        .exclude(queue__project__in=projects_where(user, "queue.lead"))
        .exclude(Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=user)))
        .values("span_id")
    )


@dataclass(frozen=True)
class AnnotationVisibility:
    """What one user may see of the annotations of some spans (see `annotations_visible_to`)."""

    user_id: int | None
    username: str | None
    blinded: frozenset[int]

    def sees_others(self, span_pk: int) -> bool:
        return span_pk not in self.blinded

    def own(self, span_pk: int, rows, author_attr: str = "author_id"):
        """Model rows (Score, Comment, Correction, ScoreEvent, SpanTag...) the user may see."""
        if self.sees_others(span_pk):
            return list(rows)
        return [r for r in rows if getattr(r, author_attr) == self.user_id and self.user_id is not None]

    def annotations(self, span_pk: int, data: dict[str, Any], *, my_metadata_keys=()) -> dict[str, Any]:
        """A `span_annotations_bulk` entry narrowed to what the user may see: on a blinded span only
        their own scores, tags, comments, corrections and metadata keys, and as expected their own
        newest correction (an ingested expected only when nobody corrected the span)."""
        if self.sees_others(span_pk):
            return data
        me = self.username

        def mine(items, key):
            return [i for i in items if i.get(key) == me]

        corrections = mine(data["corrections"], "author")
        if corrections:
            expected = corrections[-1]["value"]
        else:
            expected = data["expected"] if not data["corrections"] else None
        return {
            **data,
            "scores": mine(data["scores"], "author"),
            # Ingested tags are trace content, not a reviewer's judgement.
            "tags": [
                t
                for t in data["tags"]
                if t.get("added_by") == me or (t.get("added_by") is None and t.get("source") == AnnotationSource.INGEST)
            ],
            "tag_history": mine(data["tag_history"], "user"),
            "comments": mine(data["comments"], "author"),
            "corrections": corrections,
            "metadata": {k: v for k, v in (data["metadata"] or {}).items() if k in my_metadata_keys},
            "expected": expected,
        }


def annotations_visible_in(user, rows, flag: str = "_blinded") -> AnnotationVisibility:
    """`annotations_visible_to` for span rows read with `blinded_flag(user)` annotated as `flag`: the
    same rule, decided inside the query that reads the spans instead of one of its own."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AnnotationVisibility(
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else None,
        blinded=frozenset(r.pk for r in rows if getattr(r, flag)) if authenticated else frozenset(),
    )


def blinded_flag(user):
    """Whether a span (the outer query's row) is blinded for `user` (`blinded_span_ids`), as a column."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return Value(False, output_field=BooleanField())
    return Exists(blinded_span_ids(user).filter(span_id=OuterRef("pk")))


def annotations_visible_to(user, span_pks) -> AnnotationVisibility:
    """The one visibility decision every reader of annotations asks (API, admin pages, the annotation
    panel, the review page, board cards, trace views and share pages): which of `span_pks` `user`
    sees only their own annotations on (blind review queues, see `blinded_span_ids`)."""
    pks = [pk for pk in dict.fromkeys(span_pks) if pk is not None]
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    blinded: frozenset[int] = frozenset()
    if authenticated and pks:
        blinded = frozenset(blinded_span_ids(user).filter(span_id__in=pks).values_list("span_id", flat=True).distinct())
    return AnnotationVisibility(
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else None,
        blinded=blinded,
    )


def visible_annotations_q(user, *, span_field: str = "span", author_field: str = "author") -> Q:
    """The same rule as a filter for querysets of annotation rows (scores, comments, corrections):
    `Score.objects.filter(visible_annotations_q(user))`."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return Q()
    return ~Q(**{f"{span_field}__in": blinded_span_ids(user)}) | Q(**{author_field: user})


def span_annotations_visible(
    span_pks: list[int],
    user,
    *,
    visibility: AnnotationVisibility | None = None,
    spans: list[Span] | None = None,
    rows: dict | None = None,
    tag_history: bool = True,
) -> dict[int, dict[str, Any]]:
    """`span_annotations_bulk` as `user` may see it."""
    bulk = span_annotations_bulk(span_pks, spans=spans, rows=rows, tag_history=tag_history)
    if visibility is None:
        visibility = annotations_visible_to(user, list(bulk))
    if visibility.blinded:
        mine = _metadata_keys_by(visibility.user_id, list(visibility.blinded))
        for pk in visibility.blinded:
            bulk[pk] = visibility.annotations(pk, bulk[pk], my_metadata_keys=mine.get(pk, set()))
    return bulk


def _metadata_keys_by(user_id: int | None, span_pks: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    if user_id is None or not span_pks:
        return out
    for span_id, values in MetadataEvent.objects.filter(span_id__in=span_pks, author_id=user_id).values_list(
        "span_id", "values"
    ):
        out.setdefault(span_id, set()).update((values or {}).keys())
    return out


def spans_as_seen_by(user, spans: list[Span], *, visibility: AnnotationVisibility | None = None) -> list[Span]:
    """The spans with their annotation columns (`expected`, `annotation_metadata`, `tags`) narrowed to
    what `user` may see, for pages and renderers that read the columns (trace and span pages, trace
    views, share pages). Blinded spans are shallow copies: the caller's instances are not changed.
    `visibility`: `annotations_visible_to(user, those spans)` when the caller has it already."""
    if visibility is None:
        visibility = annotations_visible_to(user, [s.pk for s in spans])
    if not visibility.blinded:
        return list(spans)
    bulk = span_annotations_visible(list(visibility.blinded), user, visibility=visibility)
    out = []
    for span in spans:
        if span.pk in visibility.blinded:
            data = bulk[span.pk]
            span = copy.copy(span)
            span.expected = data["expected"]
            span.annotation_metadata = data["metadata"]
            span.tags = sorted({t["name"] for t in data["tags"]})
        out.append(span)
    return out


def span_as_seen_by(user, span: Span, *, visibility: AnnotationVisibility | None = None) -> Span:
    return spans_as_seen_by(user, [span], visibility=visibility)[0]


def traces_tags_as_seen_by(user, traces) -> dict[int, list[str]]:
    """Per trace pk: `Trace.tags` (the union of its spans' tags) without the tags `user` may not see
    yet. Only traces with a blinded span are recomputed (one query for them all)."""
    out = {t.pk: list(t.tags or []) for t in traces}
    if not out or user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return out
    touched = set(blinded_span_ids(user).filter(span__trace_id__in=list(out)).values_list("span__trace_id", flat=True))
    if not touched:
        return out
    spans = list(Span.objects.filter(trace_id__in=touched).only("id", "trace_id", "tags"))
    names: dict[int, set[str]] = {pk: set() for pk in touched}
    for span in spans_as_seen_by(user, spans):
        names[span.trace_id].update(span.tags or [])
    out.update({pk: sorted(v) for pk, v in names.items()})
    return out


def trace_tags_as_seen_by(user, trace) -> list[str]:
    return traces_tags_as_seen_by(user, [trace])[trace.pk]


def trace_tags_api_extension(traces, request) -> dict[int, dict[str, Any]]:
    """The trace read API's `tags` as the caller may see them (blind review queues)."""
    seen = traces_tags_as_seen_by(request.user, list(traces))
    return {t.pk: {"tags": seen[t.pk]} for t in traces if seen[t.pk] != list(t.tags or [])}


def span_annotations_api_extension(spans, request) -> dict[int, dict[str, Any]]:
    """Adds `annotations` to every span the trace/span read API answers with (one query per kind),
    as the caller may see them (blind review queues)."""
    visibility = annotations_visible_to(request.user, [s.pk for s in spans])
    bulk = span_annotations_visible([s.pk for s in spans], request.user, visibility=visibility)
    out: dict[int, dict[str, Any]] = {pk: {"annotations": data} for pk, data in bulk.items()}
    for pk in visibility.blinded:
        # The span's own columns carry the same annotations: narrow them alike.
        data = bulk[pk]
        out[pk].update(
            expected=data["expected"],
            annotation_metadata=data["metadata"],
            tags=sorted({t["name"] for t in data["tags"]}),
        )
    return out


def span_annotations_bulk(
    span_pks: list[int], *, spans: list[Span] | None = None, rows: dict | None = None, tag_history: bool = True
) -> dict[int, dict[str, Any]]:
    """Every annotation of the given spans, one query per kind (not per span).

    Per span: scores (config name/kind, value, label(s), text, comment, author, source, times), tags
    (who/when), tag_history (adds and removes), comments, corrections (oldest first; the last is the
    current `expected`), metadata (reviewer metadata) and expected.

    `spans`: those spans already loaded (their `annotation_metadata` and `expected` are read from them);
    `rows`: a dict that receives the model rows read ("scores", "tags", "corrections"), for callers that
    need them too (the annotation panel).
    """
    pks = list(dict.fromkeys(span_pks))
    out: dict[int, dict[str, Any]] = {
        pk: {
            "scores": [],
            "tags": [],
            "tag_history": [],
            "comments": [],
            "corrections": [],
            "metadata": {},
            "expected": None,
        }
        for pk in pks
    }
    if not pks:
        return out
    given = {sp.pk: sp for sp in spans or ()}
    if set(pks) <= set(given):
        loaded = [(pk, given[pk].annotation_metadata, given[pk].expected) for pk in pks]
    else:
        loaded = Span.objects.filter(pk__in=pks).values_list("pk", "annotation_metadata", "expected")
    for pk, metadata, expected in loaded:
        out[pk]["metadata"] = metadata or {}
        out[pk]["expected"] = expected
    rows = {} if rows is None else rows
    rows["scores"] = list(
        Score.objects.filter(span_id__in=pks)
        .select_related("config", "author")
        .order_by("config__order", "config__name", "created_at", "id")
    )
    rows["tags"] = list(
        SpanTag.objects.filter(span_id__in=pks).select_related("tag", "added_by").order_by("added_at", "id")
    )
    rows["corrections"] = list(Correction.objects.filter(span_id__in=pks).select_related("author"))
    for s in rows["scores"]:
        out[s.span_id]["scores"].append(
            {
                "id": s.pk,
                "config": s.config.name,
                "config_id": s.config_id,
                "kind": s.config.kind,
                "value": s.value,
                "label": s.label,
                "labels": s.labels,
                "text": s.text,
                "comment": s.comment,
                "author": _user_name(s.author),
                "source": s.source,
                "created_at": _iso(s.created_at),
                "updated_at": _iso(s.updated_at),
            }
        )
    for st in rows["tags"]:
        out[st.span_id]["tags"].append(
            {
                "name": st.tag.name,
                "colour": st.tag.colour,
                "added_by": _user_name(st.added_by),
                "source": st.source,
                "added_at": _iso(st.added_at),
            }
        )
    for ev in TagEvent.objects.filter(span_id__in=pks).select_related("user") if tag_history else ():
        out[ev.span_id]["tag_history"].append(
            {
                "name": ev.tag_name,
                "action": ev.action,
                "user": _user_name(ev.user),
                "source": ev.source,
                "at": _iso(ev.created_at),
            }
        )
    for c in Comment.objects.filter(span_id__in=pks).select_related("author"):
        out[c.span_id]["comments"].append(
            {
                "id": c.pk,
                "text": c.text,
                "author": _user_name(c.author),
                "source": c.source,
                "created_at": _iso(c.created_at),
            }
        )
    for c in rows["corrections"]:
        out[c.span_id]["corrections"].append(
            {
                "id": c.pk,
                "value": c.value,
                "author": _user_name(c.author),
                "source": c.source,
                "created_at": _iso(c.created_at),
            }
        )
    return out


def span_annotations(span: Span) -> dict[str, Any]:
    return span_annotations_bulk([span.pk])[span.pk]


def score_summary(
    span: Span, user=None, *, visibility: AnnotationVisibility | None = None, scores: list[Score] | None = None
) -> list[dict[str, Any]]:
    """Per config with scores on the span: the scores, their authors and the mean of numeric values,
    over the scores `user` may see (`annotations_visible_to`; None: every score). `scores`: the span's
    scores already read (with config and author, in this order)."""
    by_config: dict[int, dict[str, Any]] = {}
    rows = (
        scores
        if scores is not None
        else Score.objects.filter(span=span)
        .select_related("config", "author")
        .order_by("config__order", "config__name", "created_at", "id")
    )
    if visibility is None and user is not None:
        visibility = annotations_visible_to(user, [span.pk])
    if visibility is not None:
        rows = visibility.own(span.pk, rows)
    for s in rows:
        entry = by_config.setdefault(
            s.config_id, {"config": s.config, "name": s.config.name, "kind": s.config.kind, "scores": [], "authors": []}
        )
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
            entry["mean_percent"] = round(
                100 * (entry["mean"] - config.min_value) / (config.max_value - config.min_value)
            )
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


def span_for_user(user, span_pk: int, *, action: str = "project.view") -> Span | None:
    """The span if the user may do `action` in its project, else None (answer 404)."""
    return (
        Span.objects.select_related("trace", "project")
        .filter(pk=span_pk, project__in=projects_where(user, action))
        .first()
    )


# --------------------------------------------------------------------------- diff and the panel


def _as_text(value: Any) -> str:
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
        _as_text(left).splitlines(),
        _as_text(right).splitlines(),
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
    project = span.project
    can_edit = can(user, "annotation.write", project)
    if configs is None:
        config_list = list(active_score_configs(project))
    else:
        config_list = [c for c in configs if c.project_id == project.pk and not c.is_archived]
    narrowed = "" if configs is None else "?" + urlencode([("config", c.name) for c in config_list] or [("config", "")])
    if visibility is None:
        visibility = annotations_visible_to(user, [span.pk])
    rows: dict[str, list] = {}
    annotations = span_annotations_visible(
        [span.pk], user, visibility=visibility, spans=[span], rows=rows, tag_history=not lazy_history
    )[span.pk]
    mine = {
        s.config_id: s
        for s in rows["scores"]
        if s.author_id == user.pk and s.author_id is not None and s.source == ScoreSource.HUMAN
    }
    controls = []
    for c in config_list:
        own = mine.get(c.pk)
        controls.append(
            {
                "config": c,
                "dom_id": f"assay-score-{span.pk}-{c.pk}",
                "description_html": render_markdown(c.description) if c.description else "",
                "options": c.options,
                "mine": own,
                "mine_value": _score_state(own) if own else None,
            }
        )
    newest_first = sorted(rows["corrections"], key=lambda c: (c.created_at, c.pk), reverse=True)
    corrections = [
        {"author": _user_name(c.author), "source": c.source, "created_at": c.created_at, "text": _as_text(c.value)}
        for c in visibility.own(span.pk, newest_first)
    ]
    expected = annotations["expected"]
    # Blind: not even as a suggestion may the names of tags others put on this span show.
    shown = {t["name"] for t in annotations["tags"]}
    hidden_tags = (
        [] if visibility.sees_others(span.pk) else [st.tag.name for st in rows["tags"] if st.tag.name not in shown]
    )
    # Blind: the Expected box starts from the reviewer's own correction or the output, never another's.
    seed = expected if expected is not None else span.output
    chat_text = editable_text(seed)
    # A chat output is corrected as the assistant's text (Text mode), saved back in the message's shape.
    seed_mode = "text" if isinstance(seed, str) or seed is None or chat_text is not None else "json"
    state = {
        "spanPk": span.pk,
        "spanId": span.span_id,
        "canEdit": can_edit,
        # A narrowed panel (queue or trace-view controls) stays narrowed when re-rendered after a save.
        "submitUrl": reverse("admin:reviews_annotation_submit", args=[span.pk]) + narrowed,
        "panelUrl": reverse("admin:reviews_annotation_panel", args=[span.pk]) + narrowed,
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
        else [
            name
            for name in Tag.objects.filter(project=project)
            .exclude(name__in=hidden_tags)
            .order_by("name")
            .values_list("name", flat=True)[:500]
        ],
        "expected": {
            "mode": seed_mode,
            "text": chat_text if chat_text is not None else _as_text(seed),
            "json": _as_text(seed),
            "chat": seed if chat_text is not None else None,
        },
        "metadata": annotations["metadata"],
    }

    def when(item: dict, key: str) -> dict:
        return {**item, "when": (item.get(key) or "")[:16].replace("T", " ")}

    def coloured(tag: dict) -> dict:
        colour = tag.get("colour") or ""
        return {**tag, "colour": colour if HEX_COLOUR.fullmatch(colour) else "#64748b"}

    history = [] if lazy_history else score_history_visible(span, visibility)
    ctx = {
        "span": span,
        "panel_id": f"assay-annotations-{span.pk}",
        "can_edit": can_edit,
        "controls": controls,
        "summary": score_summary(span, user, visibility=visibility, scores=rows["scores"]),
        "annotations": annotations,
        "tags": [coloured(when(t, "added_at")) for t in annotations["tags"]],
        "tag_history": [when(e, "at") for e in reversed(annotations["tag_history"])][:50],
        "comments": [when(c, "created_at") for c in annotations["comments"]],
        "corrections": corrections,
        "diff": expected_output_diff(span.output, expected),
        "expected": expected,
        "metadata_items": [
            (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            for k, v in sorted(annotations["metadata"].items())
        ],
        "score_history": history,
        "tag_list_id": "assay-project-tags" if page_tags else f"assay-tag-options-{span.pk}",
        "history_url": reverse("admin:reviews_annotation_history", args=[span.pk]) if lazy_history else "",
        "panel_state": state,
        "state_id": f"assay-annotations-state-{span.pk}",
    }
    return ctx


def project_tag_names(user, project) -> list[str]:
    """The project's tag names as suggestions for a page of many spans (the review page holds them once):
    blind, no name another reviewer put on a span blinded for `user` (as the panel's own list does)."""
    others = (
        SpanTag.objects.filter(tag_id=OuterRef("pk"), span_id__in=blinded_span_ids(user))
        .exclude(added_by=user)
        .exclude(added_by__isnull=True, source=AnnotationSource.INGEST)
    )
    return list(
        Tag.objects.filter(project=project)
        .exclude(Exists(others))
        .order_by("name")
        .values_list("name", flat=True)[:500]
    )


def score_history_visible(span: Span, visibility: AnnotationVisibility) -> list:
    """The span's last 50 score events, newest first, as the visibility allows."""
    return visibility.own(
        span.pk,
        ScoreEvent.objects.filter(span=span).select_related("config", "author").order_by("-created_at", "-id")[:50],
    )


def trace_page_panel(*, request, trace, span) -> dict[str, Any] | None:
    """Registered on the trace page: the annotation panel of the selected span."""
    if span is None or not can(request.user, "project.view", span.project):
        return None
    return {
        "title": "Annotations",
        "template": "reviews/_annotation_panel.html",
        "context": annotation_panel_context(request, span),
    }


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
        uncorrected = (
            negative.exclude(Exists(Correction.objects.filter(span_id=OuterRef("span_id"))))
            .values("span_id")
            .distinct()
            .count()
        )
        rows.append(
            {"project": project, "negative": total, "uncorrected": uncorrected, "corrected": total - uncorrected}
        )
    return rows


def feedback_dashboard_panel(request) -> dict[str, Any] | None:
    """Admin index: negative end-user feedback per project, and what still needs a correction."""
    projects = list(projects_for_user(request.user).order_by("slug")[:20])
    rows = negative_feedback_overview(projects)
    if not rows:
        return None
    return {"title": "End-user feedback", "template": "admin/reviews/_feedback_panel.html", "context": {"rows": rows}}
