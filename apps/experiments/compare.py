"""Comparing experiments on one dataset version: the cached summary (per score config, each experiment's
mean with a bootstrap 95 % interval, the paired delta against the baseline with its interval, and the
records that regressed, improved or stayed) and what a read checks before trusting it.

A result's value for a config is the newest numeric score of that config on the result's span (an
automated re-run replaces the previous one; a human score counts like any other). Higher is better:
a record regressed when its value is below the baseline's. The summary is computed once per *stamp*
(the newest change of the experiments' results and of the project's numeric configs' scores, each one
index probe) and kept in `ExperimentComparison` with one `ComparisonRecord` per paired record, so a
read at 100k results costs what it costs at 1k. The record pages are in `compare_records.py`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from apps.core.exceptions import ApplicationError, not_found
from apps.reviews.models import Score, ScoreConfig, ScoreKind

from . import stats
from .models import ComparisonRecord, Experiment, ExperimentComparison, ExperimentResult, RecordChange

MAX_EXPERIMENTS = 5
NUMERIC_KINDS = (ScoreKind.CONTINUOUS, ScoreKind.BOOLEAN, ScoreKind.CATEGORICAL)
TOP_CHANGES = 10  # regressions and improvements listed in the summary per config, largest first
EPSILON = 1e-9
INSERT_BATCH = 5_000


@dataclass
class Comparison:
    experiments: list[Experiment]  # baseline first
    configs: list[ScoreConfig]  # the project's numeric configs
    cache: ExperimentComparison

    @property
    def baseline(self) -> Experiment:
        return self.experiments[0]

    @property
    def summary(self) -> dict:
        return self.cache.summary


def parse_ids(raw: str | None) -> list[int]:
    """`?ids=a,b[,c]`: two to MAX_EXPERIMENTS distinct experiment ids, baseline first."""
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ApplicationError("Invalid ids.", fields={"ids": ["Comma-separated experiment ids."]})
    ids = [int(p) for p in parts]
    if len(ids) < 2 or len(ids) > MAX_EXPERIMENTS:
        raise ApplicationError(
            "Invalid ids.", fields={"ids": [f"Name from 2 to {MAX_EXPERIMENTS} experiments, baseline first."]}
        )
    if len(set(ids)) != len(ids):
        raise ApplicationError("Invalid ids.", fields={"ids": ["An experiment is named twice."]})
    return ids


def experiments_for_compare(queryset: QuerySet[Experiment], ids: list[int]) -> list[Experiment]:
    """The experiments in `ids` order from `queryset` (already scoped to the caller's projects), each
    with `last_change` (its newest result change). Another project's id answers 404 like a missing one."""
    last = ExperimentResult.objects.filter(experiment=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    found = {
        e.pk: e
        for e in queryset.filter(pk__in=ids)
        .select_related("project", "dataset", "dataset_version")
        .annotate(last_change=Subquery(last))
    }
    if len(found) != len(ids):
        raise not_found("Experiment not found.")
    experiments = [found[i] for i in ids]
    if len({e.dataset_version_id for e in experiments}) != 1:
        raise ApplicationError(
            "These experiments ran on different dataset versions.",
            fields={"ids": ["Compare experiments of the same dataset version."]},
        )
    return experiments


def _numeric_configs(project_id: int) -> list[ScoreConfig]:
    last = Score.objects.filter(config=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    return list(
        ScoreConfig.objects.filter(project_id=project_id, kind__in=NUMERIC_KINDS, multi_select=False)
        .annotate(last_change=Subquery(last))
        .order_by("order", "name")
    )


def _stamp(experiments: list[Experiment], configs: list[ScoreConfig]) -> str:
    parts = [[e.pk, str(e.last_change)] for e in experiments] + [[c.pk, str(c.last_change)] for c in configs]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def comparison_get(experiments: list[Experiment]) -> Comparison:
    """The comparison of `experiments` (baseline first) with a summary as fresh as its stamp; computed on
    the first read after a change (the reader waits), kept until the next."""
    configs = _numeric_configs(experiments[0].project_id)
    stamp = _stamp(experiments, configs)
    key = ",".join(str(e.pk) for e in experiments)
    cache = ExperimentComparison.objects.filter(key=key).first()
    if cache is None or cache.stamp != stamp:
        cache = _comparison_refresh(key=key, experiments=experiments, configs=configs, stamp=stamp)
    return Comparison(experiments=experiments, configs=configs, cache=cache)


@transaction.atomic
def _comparison_refresh(
    *, key: str, experiments: list[Experiment], configs: list[ScoreConfig], stamp: str
) -> ExperimentComparison:
    started = time.perf_counter()
    cache, _ = ExperimentComparison.objects.get_or_create(
        key=key,
        defaults={"project_id": experiments[0].project_id, "stamp": "", "computed_at": timezone.now()},
    )
    cache = ExperimentComparison.objects.select_for_update().get(pk=cache.pk)
    if cache.stamp == stamp:  # another reader computed it while this one waited for the lock
        return cache
    values = result_values(experiments, configs)
    summary, records = _summarise(experiments, configs, values)
    _store_records(cache, records)
    cache.experiments.set(experiments)
    cache.stamp, cache.summary, cache.computed_at = stamp, summary, timezone.now()
    cache.duration_ms = (time.perf_counter() - started) * 1000
    cache.save()
    return cache


def result_values(experiments: list[Experiment], configs: list[ScoreConfig]) -> dict:
    """{experiment id: {config id: {record id: value}}}, the newest numeric score per result and config
    (one query joining scores to results, oldest first so the newest wins)."""
    ids = [e.pk for e in experiments]
    out: dict[int, dict[int, dict[str, float]]] = {e: defaultdict(dict) for e in ids}
    rows = (
        Score.objects.filter(
            span__experiment_results__experiment_id__in=ids,
            config_id__in=[c.pk for c in configs],
            value__isnull=False,
        )
        .order_by("id")
        .values_list(
            "span__experiment_results__experiment_id", "span__experiment_results__record_id", "config_id", "value"
        )
    )
    for experiment_id, record_id, config_id, value in rows.iterator(chunk_size=20_000):
        out[experiment_id][config_id][record_id] = value
    return out


def _ci(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 6), round(interval[1], 6)]


def _means(experiments: list[Experiment], config_values: dict[int, dict[str, float]]) -> list[dict]:
    rows = []
    for e in experiments:
        data = np.fromiter(config_values.get(e.pk, {}).values(), dtype=float)
        rows.append(
            {
                "experiment": e.pk,
                "n": int(data.size),
                "mean": stats.mean_or_none(data),
                "ci": _ci(stats.bootstrap_mean_ci(data)),
            }
        )
    return rows


def _delta(experiment, config, base: dict[str, float], other: dict[str, float]) -> tuple[dict, list[tuple]]:
    """The paired delta row of the summary and one (experiment, config, record, change, baseline, value)
    row per record both experiments scored."""
    paired = sorted(set(base) & set(other))
    base_values = np.fromiter((base[r] for r in paired), dtype=float, count=len(paired))
    values = np.fromiter((other[r] for r in paired), dtype=float, count=len(paired))
    deltas = values - base_values
    changes = np.where(deltas < -EPSILON, RecordChange.REGRESSED, np.where(deltas > EPSILON, RecordChange.IMPROVED, 0))
    rows = list(
        zip(
            [experiment.pk] * len(paired),
            [config.pk] * len(paired),
            paired,
            changes.tolist(),
            base_values.tolist(),
            values.tolist(),
            strict=True,
        )
    )

    def listed(order) -> list[dict]:
        return [
            {"record_id": paired[i], "baseline": base_values[i], "value": values[i], "delta": deltas[i]}
            for i in order[:TOP_CHANGES]
        ]

    # stable sorts: ties keep record order
    worst = [i for i in np.argsort(deltas, kind="stable").tolist() if deltas[i] < -EPSILON]
    best = [i for i in np.argsort(-deltas, kind="stable").tolist() if deltas[i] > EPSILON]
    return {
        "experiment": experiment.pk,
        "paired": len(paired),
        "delta": stats.mean_or_none(deltas),
        "ci": _ci(stats.bootstrap_mean_ci(deltas)),
        "regressed": int((changes == RecordChange.REGRESSED).sum()),
        "improved": int((changes == RecordChange.IMPROVED).sum()),
        "unchanged": int((changes == 0).sum()),
        "top_regressions": _floats(listed(worst)),
        "top_improvements": _floats(listed(best)),
    }, rows


def _floats(rows: list[dict]) -> list[dict]:
    return [{k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()} for row in rows]


def _store_records(cache: ExperimentComparison, rows: list[tuple]) -> None:
    """Replace the comparison's per-record rows: COPY on PostgreSQL (100k rows in a second), else bulk."""
    table = ComparisonRecord._meta.db_table
    with connection.cursor() as cursor:  # no per-row delete: nothing hangs off these rows
        cursor.execute(f"DELETE FROM {table} WHERE comparison_id = %s", [cache.pk])
    columns = ["experiment_id", "config_id", "record_id", "change", "baseline_value", "value"]
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} (comparison_id, {', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((cache.pk, *row))
        with connection.cursor() as cursor:
            # Fresh statistics, or the planner takes the new 100k rows for none and scans them by comparison.
            cursor.execute(f"ANALYZE {table}")
        return
    ComparisonRecord.objects.bulk_create(
        [ComparisonRecord(comparison=cache, **dict(zip(columns, row, strict=True))) for row in rows],
        batch_size=INSERT_BATCH,
    )


def _summarise(experiments, configs, values) -> tuple[dict, list[tuple]]:
    baseline = experiments[0]
    summary_configs, records = [], []
    for config in configs:
        per_experiment = {e.pk: values[e.pk].get(config.pk, {}) for e in experiments}
        if not any(per_experiment.values()):
            continue
        deltas = []
        for other in experiments[1:]:
            row, rows = _delta(other, config, per_experiment[baseline.pk], per_experiment[other.pk])
            deltas.append(row)
            records.extend(rows)
        summary_configs.append(
            {
                "config": config.name,
                "config_id": config.pk,
                "kind": config.kind,
                "means": _means(experiments, per_experiment),
                "deltas": deltas,
            }
        )
    counts = dict(
        ExperimentResult.objects.filter(experiment__in=experiments)
        .values_list("experiment")
        .order_by()
        .annotate(n=Count("id"))
    )
    return {
        "experiments": [{"id": e.pk, "name": e.name, "results": counts.get(e.pk, 0)} for e in experiments],
        "configs": summary_configs,
        "resamples": stats.RESAMPLES,
        "confidence": stats.CONFIDENCE,
    }, records


def config_by_name(comparison: Comparison, name: str | None) -> ScoreConfig | None:
    if name in (None, ""):
        return None
    for config in comparison.configs:
        if config.name == name:
            return config
    raise ApplicationError("Unknown score config.", fields={"config": [f"No numeric score config named {name!r}."]})
