"""Columns computed per exported span or trace for the tabular formats (CSV, Parquet): one mean per
score config, optionally each reviewer's value, the latest comment.

Other apps add columns by registering a provider (`column_providers.append(...)`): a callable
`(project, source, options) -> ColumnProvider | None`. It returns None when it has nothing to say
for this export (e.g. no gold values in the project), so files carry no empty placeholder columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .formats.base import Column


@dataclass
class ColumnProvider:
    columns: tuple[Column, ...]
    # (span pks of each row, the annotations read for the chunk) -> per row, a tuple of values.
    values: Callable[[list[list[int]], dict[int, dict]], list[tuple]]


column_providers: list[Callable[[Any, str, dict], ColumnProvider | None]] = []

REVIEWER_COLUMN = "score"  # CSV flattens {"config": {"reviewer": value}} to score.<config>.<reviewer>


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_columns(project, source: str, options: dict) -> ColumnProvider | None:
    from apps.reviews.models import ScoreConfig

    names = list(ScoreConfig.objects.filter(project=project).order_by("order", "name").values_list("name", flat=True))
    per_reviewer = bool(options.get("reviewer_scores"))
    columns = [Column(f"score.{name}", "float") for name in names] + [Column("latest_comment", "str")]
    if per_reviewer:
        columns.append(Column(REVIEWER_COLUMN, "json", spread=True))

    def values(span_groups: list[list[int]], annotations: dict[int, dict]) -> list[tuple]:
        out = []
        for pks in span_groups:
            found = [annotations[pk] for pk in pks if pk in annotations]
            if not found:
                out.append((None,) * len(columns))
                continue
            numeric: dict[str, list[float]] = {}
            by_reviewer: dict[str, dict[str, list[float]]] = {}
            comments = []
            for item in found:
                for score in item.get("scores") or ():
                    if score["value"] is None:
                        continue
                    numeric.setdefault(score["config"], []).append(score["value"])
                    who = score["author"] or score["source"]
                    by_reviewer.setdefault(score["config"], {}).setdefault(who, []).append(score["value"])
                comments += item.get("comments") or ()
            latest = max(comments, key=lambda c: (c["created_at"] or "", c["id"]))["text"] if comments else None
            row = tuple(_mean(numeric.get(name, [])) for name in names) + (latest,)
            if per_reviewer:
                row += (
                    {config: {who: _mean(v) for who, v in people.items()} for config, people in by_reviewer.items()}
                    or None,
                )
            out.append(row)
        return out

    return ColumnProvider(columns=tuple(columns), values=values)


def providers_for(project, source: str, options: dict) -> list[ColumnProvider]:
    found = [score_columns(project, source, options)]
    found += [make(project, source, options) for make in column_providers]
    return [p for p in found if p is not None and p.columns]


def provided_values(
    providers: Iterable[ColumnProvider], span_groups: list[list[int]], annotations: dict[int, dict]
) -> list[tuple]:
    """Per row, the values of every provider's columns, in order."""
    rows = [()] * len(span_groups)
    for provider in providers:
        rows = [row + extra for row, extra in zip(rows, provider.values(span_groups, annotations), strict=True)]
    return rows
