"""Reads of annotations reused by the API, the admin panel, review queues, datasets and exports, as each
user may see them (the rule itself: `visibility`). Pages and panels built from them: `panels`."""

from __future__ import annotations

import copy
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.projects.models import Project
from apps.projects.permissions import projects_where
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
from .visibility import AnnotationVisibility, annotations_visible_to, blinded_span_ids


def user_name(user) -> str | None:
    return user.get_username() if user is not None else None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def active_score_configs(project: Project | int) -> QuerySet[ScoreConfig]:
    project_id = project if isinstance(project, int) else project.pk
    return ScoreConfig.objects.filter(project_id=project_id, is_archived=False).order_by("order", "name")


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
    out = _annotations_empty(pks, spans)
    if not pks:
        return out
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
        out[s.span_id]["scores"].append(_score_entry(s))
    for st in rows["tags"]:
        out[st.span_id]["tags"].append(
            {
                "name": st.tag.name,
                "colour": st.tag.colour,
                "added_by": user_name(st.added_by),
                "source": st.source,
                "added_at": _iso(st.added_at),
            }
        )
    for ev in TagEvent.objects.filter(span_id__in=pks).select_related("user") if tag_history else ():
        out[ev.span_id]["tag_history"].append(
            {
                "name": ev.tag_name,
                "action": ev.action,
                "user": user_name(ev.user),
                "source": ev.source,
                "at": _iso(ev.created_at),
            }
        )
    for c in Comment.objects.filter(span_id__in=pks).select_related("author"):
        out[c.span_id]["comments"].append({"id": c.pk, "text": c.text, **_event_entry(c)})
    for c in rows["corrections"]:
        out[c.span_id]["corrections"].append({"id": c.pk, "value": c.value, **_event_entry(c)})
    return out


def _annotations_empty(pks: list[int], spans: list[Span] | None) -> dict[int, dict[str, Any]]:
    """Per span: no annotations yet, and its own `annotation_metadata` and `expected` columns."""
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
    return out


def _score_entry(s: Score) -> dict[str, Any]:
    return {
        "id": s.pk,
        "config": s.config.name,
        "config_id": s.config_id,
        "kind": s.config.kind,
        "value": s.value,
        "label": s.label,
        "labels": s.labels,
        "text": s.text,
        "comment": s.comment,
        "author": user_name(s.author),
        "source": s.source,
        "created_at": _iso(s.created_at),
        "updated_at": _iso(s.updated_at),
    }


def _event_entry(row) -> dict[str, Any]:
    """Who wrote a comment or correction, through which channel, when."""
    return {"author": user_name(row.author), "source": row.source, "created_at": _iso(row.created_at)}


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
        who = user_name(s.author) or s.get_source_display()
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
