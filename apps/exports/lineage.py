"""Lineage of dataset records: where each record of a version came from and who reviewed it.

One selector (`dataset_record_lineage`) answers for a list of revisions; a dataset-version export
writes its answer for every record of the version to `<job>.lineage.jsonl` (after the data, before
the manifest), and `GET /api/v1/datasets/{id}/records/{record_id}/lineage/` returns it for one.

Per record: the revision (its row id and version range), the origin, the source span and trace,
the reviews behind it (non-end-user scores on the source span: reviewer, score config, a SHA-256
of the config's definition, value), the corrections (who wrote the expected value), the adjudication
(`adjudications_by_span`: null when none or hidden from a blinded reviewer) and the feedback it came from (end-user scores). Reviews are the
span's current ones; `after_revision` marks those changed after the revision was written.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson
from django.db.models import Q

REVISION_FIELDS = (
    "pk",
    "record_id",
    "version_from",
    "version_to",
    "origin",
    "created_at",
    "source_span_id",
    "source_span__span_id",
    "source_span__trace__trace_id",
)
LINEAGE_CHUNK = 1000


def config_definition_hash(config) -> str:
    """SHA-256 over what a score config's values mean (name, kind, range, options, multi-select, text
    length, description). Two exports whose hashes agree were scored against the same definition."""
    definition = {
        "name": config.name,
        "kind": config.kind,
        "description": config.description,
        "min_value": config.min_value,
        "max_value": config.max_value,
        "options": config.options,
        "multi_select": config.multi_select,
        "max_length": config.max_length,
    }
    return "sha256:" + hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()


def adjudications_by_span(span_pks: Iterable[int]) -> dict[int, list[dict]]:
    """Adjudicated (gold) values of the spans' review items: {span pk: [{queue_id, item_id, config, value,
    chosen_from, decided_by, note, decided_at}, ...]} (config `expected` for the adjudicated Expected).
    Known answers of gold questions are not adjudications and are left out."""
    from apps.queues.gold import EXPECTED, gold_state
    from apps.queues.models import GoldSource, GoldValue

    out: dict[int, list[dict]] = defaultdict(list)
    rows = (
        GoldValue.objects.filter(item__span_id__in=list(span_pks), source=GoldSource.ADJUDICATED)
        .select_related("config", "chosen_from", "decided_by", "item")
        .order_by("item_id", "config_id", "id")
    )
    for gold in rows:
        out[gold.item.span_id].append(
            {
                "queue_id": gold.item.queue_id,
                "item_id": gold.item_id,
                "config": EXPECTED if gold.config_id is None else gold.config.name,
                "value": gold_state(gold),
                "chosen_from": gold.chosen_from.get_username() if gold.chosen_from_id else None,
                "decided_by": gold.decided_by.get_username() if gold.decided_by_id else None,
                "note": gold.note,
                "decided_at": _iso(gold.decided_at),
            }
        )
    return dict(out)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _score_entry(score, revision_created, hashes: dict[int, str]) -> dict[str, Any]:
    config = score.config
    if config.pk not in hashes:
        hashes[config.pk] = config_definition_hash(config)
    return {
        "config": config.name,
        "config_id": config.pk,
        "config_hash": hashes[config.pk],
        "reviewer": score.author.get_username() if score.author_id else None,
        "source": score.source,
        "value": score.value,
        "label": score.label or None,
        "labels": score.labels or None,
        "text": score.text or None,
        "comment": score.comment or None,
        "created_at": _iso(score.created_at),
        "updated_at": _iso(score.updated_at),
        "after_revision": bool(revision_created and score.updated_at > revision_created),
    }


def _span_reviews(span_pks: list[int]) -> tuple[dict[int, list], dict[int, list]]:
    """span pk -> its scores (by config name), and -> its corrections (oldest first)."""
    from apps.reviews.models import Correction, Score

    scores: dict[int, list] = defaultdict(list)
    corrections: dict[int, list] = defaultdict(list)
    if span_pks:
        for score in (
            Score.objects.filter(span_id__in=span_pks)
            .select_related("config", "author")
            .order_by("span_id", "config__name", "id")
        ):
            scores[score.span_id].append(score)
        for correction in (
            Correction.objects.filter(span_id__in=span_pks)
            .select_related("author")
            .order_by("span_id", "created_at", "id")
        ):
            corrections[correction.span_id].append(correction)
    return scores, corrections


def _lineage_entry(revision: dict, *, dataset, version, scores, corrections, adjudication, hashes) -> dict:
    """One record's lineage from its revision, the scores and corrections seen, its adjudication."""
    from apps.reviews.models import ScoreSource

    span_pk = revision["source_span_id"]
    created = revision["created_at"]
    return {
        "record_id": revision["record_id"],
        "dataset_id": dataset.pk,
        "version": version,
        "revision": {
            "id": revision["pk"],
            "version_from": revision["version_from"],
            "version_to": revision["version_to"],
            "created_at": _iso(created),
        },
        "origin": revision["origin"],
        "source": None
        if span_pk is None
        else {"span_id": revision["source_span__span_id"], "trace_id": revision["source_span__trace__trace_id"]},
        "reviews": [_score_entry(s, created, hashes) for s in scores if s.source != ScoreSource.END_USER],
        "corrections": [
            {
                "author": c.author.get_username() if c.author_id else None,
                "source": c.source,
                "created_at": _iso(c.created_at),
            }
            for c in corrections
        ],
        "adjudication": adjudication,
        "feedback": [_score_entry(s, created, hashes) for s in scores if s.source == ScoreSource.END_USER],
    }


def dataset_record_lineage(
    *, dataset, version: int | None, revisions: list[dict], visibility=None, skipped: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Lineage entries for `revisions` (dicts of REVISION_FIELDS), in their order.

    `visibility` (reviews.visibility.AnnotationVisibility) narrows scores and corrections for a user
    under blind review; exports read as the project does. `skipped`: record ids the export left out."""
    span_pks = sorted({r["source_span_id"] for r in revisions if r["source_span_id"] is not None})
    scores, corrections = _span_reviews(span_pks)
    adjudications = adjudications_by_span(span_pks)
    hashes: dict[int, str] = {}
    entries = []
    for revision in revisions:
        span_pk = revision["source_span_id"]
        span_scores = scores.get(span_pk, [])
        span_corrections = corrections.get(span_pk, [])
        if visibility is not None and span_pk is not None:
            span_scores = visibility.own(span_pk, span_scores)
            span_corrections = visibility.own(span_pk, span_corrections)
        sees_adjudication = span_pk is not None and (visibility is None or visibility.sees_others(span_pk))
        entry = _lineage_entry(
            revision,
            dataset=dataset,
            version=version,
            scores=span_scores,
            corrections=span_corrections,
            adjudication=adjudications.get(span_pk) if sees_adjudication else None,
            hashes=hashes,
        )
        if skipped:
            entry["written"] = revision["record_id"] not in skipped
        entries.append(entry)
    return entries


def dataset_revisions(queryset) -> Iterator[list[dict]]:
    """Revisions of a records queryset (dataset_records_at_version) in record_id order, a chunk at a time."""
    last = None
    while True:
        qs = queryset.order_by("record_id")
        if last is not None:
            qs = qs.filter(Q(record_id__gt=last))
        chunk = list(qs.values(*REVISION_FIELDS)[:LINEAGE_CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1]["record_id"]


def write_dataset_lineage(*, job, fh: BinaryIO, skipped: frozenset[str] = frozenset()) -> int:
    """The lineage of every record a dataset-version export read, one JSON object a line. Returns the count."""
    from apps.datasets.selectors import dataset_records_at_version

    queryset = dataset_records_at_version(
        dataset=job.dataset, version=job.dataset_version, split=job.dataset_split or None
    )
    count = 0
    for chunk in dataset_revisions(queryset):
        entries = dataset_record_lineage(
            dataset=job.dataset, version=job.dataset_version, revisions=chunk, skipped=skipped
        )
        fh.write(b"".join(orjson.dumps(e, option=orjson.OPT_NON_STR_KEYS) + b"\n" for e in entries))
        count += len(entries)
    return count
