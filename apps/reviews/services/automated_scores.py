"""Scores written by scorers (source ``automated``), one scorer version at a time, in a few statements."""

from __future__ import annotations

import orjson
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ..models import Score, ScoreEvent, ScoreSource
from ..score_insert import automated_rows_copy
from .scores import _SCORE_FIELDS, CleanScore, _score_event_row


def automated_scores_write(*, scorer_version_id: int, items: list[tuple[int, int, CleanScore]]) -> int:
    """Write a scorer version's validated scores, `(project_id, span_pk, clean)` each, in a few statements.

    Scoring a span again with the same version replaces that version's score on it (updated in place, with
    an update event), so re-running a scorer is idempotent; other versions' scores are left alone.
    Answers the number of scores created or changed.
    """
    if not items:
        return 0
    # Plain rows, not models: a re-score of unchanged values reads and writes no more than this.
    # `labels` read as text and parsed by orjson: Django's JSONField parses with the json module, slower.
    fields = [Cast(f, TextField()) if f == "labels" else f for f in _SCORE_FIELDS]
    at = 3 + _SCORE_FIELDS.index("labels")  # after span_id, pk, config_id
    existing = {}
    for row in Score.objects.filter(
        scorer_version_id=scorer_version_id, span_id__in=[span_pk for _, span_pk, _ in items]
    ).values_list("span_id", "pk", "config_id", *fields):
        existing[row[0]] = (*row[1:at], orjson.loads(row[at]), *row[at + 1 :])
    new: list[dict] = []
    changed: list[Score] = []
    now = timezone.now()
    for project_id, span_pk, clean in items:
        values = (clean.value, clean.label, clean.labels, clean.text, clean.comment)
        found = existing.get(span_pk)
        if found is None:
            new.append(
                dict(zip(_SCORE_FIELDS, values, strict=True), project_id=project_id, span_id=span_pk,
                     config_id=clean.config.pk, scorer_version_id=scorer_version_id)
            )  # fmt: skip
        elif found[1:] != (clean.config.pk, *values):
            changed.append(
                Score(pk=found[0], project_id=project_id, span_id=span_pk, config=clean.config, updated_at=now,
                      source=ScoreSource.AUTOMATED, scorer_version_id=scorer_version_id,
                      **dict(zip(_SCORE_FIELDS, values, strict=True)))
            )  # fmt: skip
    with transaction.atomic():
        if connection.vendor == "postgresql":
            automated_rows_copy(new)
        else:
            created = Score.objects.bulk_create(
                [Score(source=ScoreSource.AUTOMATED, **row) for row in new], batch_size=1000
            )
            ScoreEvent.objects.bulk_create(
                [_score_event_row(s, ScoreEvent.Action.CREATE) for s in created], batch_size=1000
            )
        if changed:
            Score.objects.bulk_update(changed, [*_SCORE_FIELDS, "config", "updated_at"], batch_size=1000)
            ScoreEvent.objects.bulk_create([_score_event_row(s, ScoreEvent.Action.UPDATE) for s in changed])
    return len(new) + len(changed)
