"""Readers: what an export job reads, as batches of rows with declared column kinds.

The source registry (`SOURCES`: a source name -> its reader) and the dataset reader. Spans are read
by `span_source`, traces (with their spans nested) by `trace_rows`, scores (one row per score) by
`score_rows`, experiment results (one row per result, with score columns) by `experiment_source`; what they share is in `readers`, which rows they select in `filtering`, and the
annotations of each chunk in `annotations`. JSON columns are read as their JSON text
(`expressions.raw`) so the fast formats copy them without parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from apps.core.exceptions import ApplicationError

from .annotations import ANNOTATION_COLUMNS, ANNOTATIONS, GOLD_COLUMNS, NO_GOLD, project_has_gold
from .expressions import IsoTimestamp, raw
from .filtering import _filterset_class, filter_parameter_names, filtered_queryset
from .formats.base import Batch, Column, SourceMeta
from .models import ExportJob, ExportSource
from .readers import NOT_NULL, NULLABLE, JobSource, _ObservedSource, _stream
from .span_source import SPAN_FIELDS, SPAN_META, SpanSource

_raw = raw

DATASET_FIELDS: list[tuple[str, str, Any, bool]] = [
    ("record_id", "str", "record_id", NOT_NULL),
    ("input", "rawjson", raw("input"), NULLABLE),
    ("expected", "rawjson", raw("expected"), NULLABLE),
    ("metadata", "rawjson", raw("metadata"), NOT_NULL),
    ("tags", "rawjson", raw("tags"), NOT_NULL),
    ("splits", "rawjson", raw("splits"), NOT_NULL),
    ("origin", "str", "origin", NOT_NULL),
    ("source_span_id", "str", "source_span__span_id", NULLABLE),
    ("version_from", "int", "version_from", NOT_NULL),
    ("created_at", "timestamp", IsoTimestamp("created_at"), NOT_NULL),
]

DATASET_META = SourceMeta(
    columns=tuple(Column(n, k, nullable) for n, k, _, nullable in DATASET_FIELDS), id_column="record_id"
)


class DatasetSource(JobSource):
    meta = DATASET_META

    def queryset(self):
        from apps.datasets.selectors import dataset_records_at_version

        if self.job.dataset is None or self.job.dataset.project_id != self.job.project_id:
            raise ApplicationError("The dataset of this export no longer exists.", fields={"dataset": ["Unknown."]})
        return dataset_records_at_version(
            dataset=self.job.dataset, version=self.job.dataset_version, split=self.job.dataset_split or None
        )

    def count(self) -> int:
        return self.queryset().count()

    def batches(self) -> Iterator[Batch]:
        fields = [expr for _, _, expr, _ in DATASET_FIELDS]  # record_id first: the stream's key
        for chunk in _stream(self.queryset().values_list(*fields), self.chunk_size, key="record_id"):
            yield Batch(rows=chunk)


SOURCES: dict[str, Callable[..., JobSource]] = {
    ExportSource.SPANS: SpanSource,
    ExportSource.DATASET: DatasetSource,
}


def _traces_source(job: ExportJob, *, chunk_size: int) -> JobSource:
    from .trace_rows import TraceSource

    return TraceSource(job, chunk_size=chunk_size)


def _scores_source(job: ExportJob, *, chunk_size: int) -> JobSource:
    from .score_rows import ScoreRowSource

    return ScoreRowSource(job, chunk_size=chunk_size)


def _experiment_source(job: ExportJob, *, chunk_size: int) -> JobSource:
    from .experiment_source import ExperimentResultSource

    return ExperimentResultSource(job, chunk_size=chunk_size)


SOURCES[ExportSource.TRACES] = _traces_source
SOURCES[ExportSource.SCORES] = _scores_source
SOURCES[ExportSource.EXPERIMENT] = _experiment_source


def source_for(job: ExportJob, *, chunk_size: int) -> JobSource:
    return SOURCES[job.source](job, chunk_size=chunk_size)


# Names source modules import from here (the registry's home).
__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATIONS",
    "GOLD_COLUMNS",
    "NO_GOLD",
    "NOT_NULL",
    "NULLABLE",
    "SPAN_FIELDS",
    "SPAN_META",
    "IsoTimestamp",
    "JobSource",
    "SpanSource",
    "_ObservedSource",
    "_filterset_class",
    "_raw",
    "filter_parameter_names",
    "filtered_queryset",
    "project_has_gold",
]
