"""The annotations and gold values of a chunk of exported spans, read once per chunk.

A span's annotation lists have the shape `apps.reviews.selectors.span_annotations_bulk` gives them
(scores, tags, comments, corrections), which stays their one definition. On PostgreSQL an export
reads them with one query per chunk that has the database build those lists as JSON text
(`json_agg`), because the ORM path costs about seven queries and a model instance per row, which was
most of an export's time at a million spans (docs/performance.md). A test holds the two equal.
"""

from __future__ import annotations

from functools import cache

import orjson
from django.contrib.auth import get_user_model
from django.db import connections

# Export column -> key in span_annotations_bulk's answer. `tags` (a span column) are the names;
# `tag_details` say who added each and when.
ANNOTATIONS = {"scores": "scores", "tag_details": "tags", "comments": "comments", "corrections": "corrections"}
ANNOTATION_COLUMNS = tuple(ANNOTATIONS)
EMPTY_LIST = "[]"


def _iso(column: str) -> str:
    """Python's `datetime.isoformat()` of a UTC timestamp (no fraction when it is zero), in SQL."""
    whole = f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')"""
    fraction = f"""CASE WHEN date_part('microseconds', {column})::bigint %% 1000000 = 0 THEN ''
        ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END"""
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {whole} || {fraction} || '+00:00' END"


def _object(pairs: dict[str, str]) -> str:
    return "json_build_object(" + ", ".join(f"'{key}', {expr}" for key, expr in pairs.items()) + ")"


def _list_objects(author: str) -> tuple[str, str, str, str]:
    """The `json_build_object` of one score, tag, comment and correction (span_annotations_bulk's
    shape), over the annotation `a`, its config or tag `c` and its author's `author` column."""
    scores = _object(
        {
            "id": "a.id",
            "config": "c.name",
            "config_id": "a.config_id",
            "kind": "c.kind",
            "value": "a.value",
            "label": "a.label",
            "labels": "a.labels",
            "text": "a.text",
            "comment": "a.comment",
            "author": author,
            "source": "a.source",
            "created_at": _iso("a.created_at"),
            "updated_at": _iso("a.updated_at"),
        }
    )
    tags = _object(
        {
            "name": "c.name",
            "colour": "c.colour",
            "added_by": author,
            "source": "a.source",
            "added_at": _iso("a.added_at"),
        }
    )
    comments = _object(
        {"id": "a.id", "text": "a.text", "author": author, "source": "a.source", "created_at": _iso("a.created_at")}
    )
    corrections = _object(
        {"id": "a.id", "value": "a.value", "author": author, "source": "a.source", "created_at": _iso("a.created_at")}
    )
    return scores, tags, comments, corrections


@cache
def annotations_sql() -> str:
    """One statement: per annotated span in a pk range, one row per kind with the JSON list as text."""
    from apps.reviews.models import Comment, Correction, Score, ScoreConfig
    from apps.traces.models import SpanTag, Tag

    user = get_user_model()
    users, name = user._meta.db_table, user._meta.get_field(user.USERNAME_FIELD).column
    scores, tags, comments, corrections = _list_objects(f'u."{name}"')
    parts = [
        (0, Score, scores, f"JOIN {ScoreConfig._meta.db_table} c ON c.id = a.config_id", "author_id",
         'c."order", c.name, a.created_at, a.id'),
        (1, SpanTag, tags, f"JOIN {Tag._meta.db_table} c ON c.id = a.tag_id", "added_by_id", "a.added_at, a.id"),
        (2, Comment, comments, "", "author_id", "a.created_at, a.id"),
        (3, Correction, corrections, "", "author_id", "a.created_at, a.id"),
    ]  # fmt: skip
    return " UNION ALL ".join(
        f"SELECT {kind}, a.span_id, json_agg({obj} ORDER BY {order})::text FROM {model._meta.db_table} a {join} "
        f"LEFT JOIN {users} u ON u.id = a.{author} WHERE a.span_id {{where}} GROUP BY a.span_id"
        for kind, model, obj, join, author, order in parts
    )


def annotation_texts(span_pks: list[int], *, using: str = "default") -> dict[int, list[str]]:
    """PostgreSQL: span pk -> the JSON texts of its four lists (ANNOTATION_COLUMNS order), for the
    spans of `span_pks` that carry any annotation. One round trip, asked by pk range."""
    if not span_pks:
        return {}
    wanted = set(span_pks)
    low, high = min(span_pks), max(span_pks)
    # A chunk in pk order is mostly a dense range; a sparse one (a filter, a window, a selection) is
    # asked by its pks, so no chunk aggregates the annotations of spans it does not export.
    dense = high - low < 4 * len(wanted)
    where, params = (
        ("BETWEEN %(low)s AND %(high)s", {"low": low, "high": high})
        if dense
        else ("= ANY(%(pks)s)", {"pks": sorted(wanted)})
    )
    out: dict[int, list[str]] = {}
    with connections[using].cursor() as cursor:
        cursor.execute(annotations_sql().format(where=where), params)
        for kind, span_pk, text in cursor.fetchall():
            if span_pk in wanted:
                out.setdefault(span_pk, [EMPTY_LIST] * 4)[kind] = text
    return out


def _annotated_among(span_pks: list[int]) -> list[int]:
    """The spans of a chunk that carry any score, tag, comment or correction (SQLite's path). Asked
    by pk range, one indexed probe per kind in one UNION query."""
    from apps.reviews.models import Comment, Correction, Score
    from apps.traces.models import SpanTag

    low, high = min(span_pks), max(span_pks)
    probes = [
        model.objects.filter(span_id__gte=low, span_id__lte=high).order_by().values_list("span_id", flat=True)
        for model in (Score, SpanTag, Comment, Correction)
    ]
    found = set(probes[0].union(*probes[1:]))  # one round trip
    return sorted(found.intersection(span_pks))


def chunk_annotations(span_pks: list[int], *, using: str = "default") -> dict[int, dict]:
    """span pk -> its annotation lists by span_annotations_bulk's keys, for annotated spans only."""
    if not span_pks:
        return {}
    if connections[using].vendor == "postgresql":
        keys = tuple(ANNOTATIONS.values())
        return {
            pk: dict(zip(keys, map(orjson.loads, texts), strict=True))
            for pk, texts in annotation_texts(span_pks, using=using).items()
        }
    from apps.reviews.selectors import span_annotations_bulk

    annotated = _annotated_among(span_pks)
    found = span_annotations_bulk(annotated, tag_history=False) if annotated else {}
    keys = ANNOTATIONS.values()
    return {pk: {key: lists[key] for key in keys} for pk, lists in found.items()}


# Gold values of adjudicated review items (apps.queues.gold.span_gold), per chunk, in every layout:
# `gold` maps each config name to its gold value (CSV: gold.<config> columns), `gold_expected` is the
# gold Expected (CSV: gold_expected.<key> columns for an object).
GOLD_COLUMNS = ("gold", "gold_expected")
NO_GOLD = (None, None)


def chunk_gold(span_pks: list[int], *, project_has_gold: bool = True) -> dict[int, tuple]:
    """span pk -> (gold scores by config, gold Expected or None), for spans with gold only.
    `project_has_gold` False (asked once per job, `project_has_gold`): no query per chunk."""
    if not project_has_gold or not span_pks:
        return {}
    from apps.queues.gold import span_gold

    return {pk: (g["scores"] or None, g.get("expected")) for pk, g in span_gold(span_pks).items()}


def project_has_gold(project) -> bool:
    from apps.queues.models import GoldValue

    return GoldValue.objects.filter(project=project).exists()
