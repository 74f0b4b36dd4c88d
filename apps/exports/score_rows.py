"""The `scores` source: one row per score (trace, span, config, value/label/text, reviewer, source,
times) of the spans the job's span filters select. Incremental runs take the scores created or
updated in the window (`Score.updated_at`); a deleted score has no row left to export, the spans
export of the same window carries the span without it.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth import get_user_model

from .expressions import IsoTimestamp, raw
from .filtering import filtered_queryset
from .formats.base import Batch, Column, SourceMeta
from .models import ExportSource
from .readers import NOT_NULL, NULLABLE, _ObservedSource
from .windows import _range


def _fields():
    username = f"author__{get_user_model().USERNAME_FIELD}"
    return [
        ("score_id", "int", "pk", NOT_NULL),
        ("trace_id", "str", "span__trace__trace_id", NOT_NULL),
        ("span_id", "str", "span__span_id", NOT_NULL),
        ("config", "str", "config__name", NOT_NULL),
        ("kind", "str", "config__kind", NOT_NULL),
        ("value", "float", "value", NULLABLE),
        ("label", "str", "label", NOT_NULL),
        ("labels", "rawjson", raw("labels"), NOT_NULL),
        ("text", "str", "text", NOT_NULL),
        ("comment", "str", "comment", NOT_NULL),
        ("reviewer", "str", username, NULLABLE),
        ("source", "str", "source", NOT_NULL),
        ("created_at", "timestamp", IsoTimestamp("created_at"), NOT_NULL),
        ("updated_at", "timestamp", IsoTimestamp("updated_at"), NOT_NULL),
    ]


SCORE_META = SourceMeta(columns=tuple(Column(n, k, nullable) for n, k, _, nullable in _fields()), id_column="score_id")


class ScoreRowSource(_ObservedSource):
    source = ExportSource.SCORES
    meta = SCORE_META

    def queryset(self):
        from apps.reviews.models import Score

        spans = filtered_queryset(source=self.source, project=self.job.project, filters=self.job.filters)
        qs = Score.objects.filter(project=self.job.project, span__in=spans)
        return qs.filter(_range("updated_at", self.job.window_start, self.job.window_end))

    def batches(self) -> Iterator[Batch]:
        fields = [expr for _, _, expr, _ in _fields()]
        for rows in self.pk_chunks(self.queryset(), fields):
            yield Batch(rows=[row[1:] for row in rows])
