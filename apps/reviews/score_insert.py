"""Inserting a reviewer's new human scores in one statement, without a savepoint.

`INSERT … ON CONFLICT (span_id, config_id, author_id) WHERE <the unique index's condition> DO NOTHING
RETURNING id, config_id` (PostgreSQL and SQLite 3.35+): a row that a concurrent save by the same
reviewer inserted first is skipped instead of raising, so the surrounding transaction stays usable
and needs no savepoint of its own (Django's `bulk_create(ignore_conflicts=…)` cannot name a partial
unique index and returns no ids).
"""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from .models import Score, ScoreEvent, ScoreSource

_COLUMNS = [f for f in Score._meta.concrete_fields if not f.primary_key]


def human_scores_insert_new(scores: list[Score]) -> bool:
    """Insert `scores` (new human scores of one author). All inserted: set their ids, return True.
    Any of them already there (a concurrent first save): delete the ones this call inserted (so the
    caller can write them one by one, as if nothing happened) and return False."""
    qn = connection.ops.quote_name
    params: list = []
    rows = []
    for score in scores:
        values = []
        for f in _COLUMNS:
            params.append(f.get_db_prep_save(f.pre_save(score, add=True), connection))
            values.append("%s")
        rows.append("(" + ", ".join(values) + ")")
    sql = (
        f"INSERT INTO {qn(Score._meta.db_table)} ({', '.join(qn(f.column) for f in _COLUMNS)}) "
        f"VALUES {', '.join(rows)} "
        f"ON CONFLICT ({qn('span_id')}, {qn('config_id')}, {qn('author_id')}) "
        # The unique index's condition exactly as Django wrote it (SQLite matches it term by term).
        f"WHERE ({qn('author_id')} IS NOT NULL AND {qn('source')} = 'human') DO NOTHING "
        f"RETURNING {qn('id')}, {qn('config_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {config_id: pk for pk, config_id in cursor.fetchall()}
    if len(inserted) < len(scores):
        if inserted:
            Score.objects.filter(pk__in=inserted.values()).delete()
        return False
    for score in scores:
        score.pk = inserted[score.config_id]
        score._state.adding = False
        score._state.db = connection.alias
    return True


def automated_rows_copy(rows: list[dict]) -> list[int]:
    """PostgreSQL: insert new automated scores and their create events by `COPY`, from plain values (no
    model instances: at thousands of scores a second, building models and preparing each field is most of the
    cost). `rows` hold project_id, span_id, config_id, value, label, labels, text, comment, scorer_version_id.
    Ids come from the tables' sequences. Returns the new scores' ids in order."""
    if not rows:
        return []
    qn = connection.ops.quote_name
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Score._meta.db_table, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        raw = cursor.cursor
        score_columns = "id, project_id, span_id, config_id, value, label, labels, text, comment, author_id, source, "
        score_columns += "scorer_version_id, created_at, updated_at"
        with raw.copy(f"COPY {qn(Score._meta.db_table)} ({score_columns}) FROM STDIN") as copy:
            for pk, r in zip(ids, rows, strict=True):
                copy.write_row(
                    (pk, r["project_id"], r["span_id"], r["config_id"], r["value"], r["label"], json.dumps(r["labels"]),
                     r["text"], r["comment"], None, ScoreSource.AUTOMATED, r["scorer_version_id"], now, now)
                )  # fmt: skip
        event_columns = "project_id, span_id, config_id, score_id, action, value, label, labels, text, comment, "
        event_columns += "author_id, source, created_at"
        with raw.copy(f"COPY {qn(ScoreEvent._meta.db_table)} ({event_columns}) FROM STDIN") as copy:
            for pk, r in zip(ids, rows, strict=True):
                copy.write_row(
                    (r["project_id"], r["span_id"], r["config_id"], pk, ScoreEvent.Action.CREATE, r["value"],
                     r["label"], json.dumps(r["labels"]), r["text"], r["comment"], None, ScoreSource.AUTOMATED, now)
                )  # fmt: skip
    return ids
