"""Review analytics: score distributions and inter-annotator agreement.

Agreement uses scikit-learn's `cohen_kappa_score` (two raters; categorical and boolean configs) and the
`krippendorff` package (any number of raters, missing ratings allowed; nominal for categorical and
boolean configs, interval for continuous ones). Only items that two or more reviewers submitted count,
and only the scores those reviewers gave (not annotations others made on the same spans elsewhere).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from itertools import combinations
from typing import Any

from django.db.models import Count, Exists, FloatField, OuterRef, Value
from django.db.models.functions import Cast, Floor, Greatest, Least

from .models import ReviewItem, ReviewQueue, ReviewSubmission

HIST_BINS = 10
# Agreement is computed over the most recently completed multi-reviewed items, so a page stays fast
# on a queue of any size; the table says how many items it used.
AGREEMENT_MAX_ITEMS = 5_000
CHART_WIDTH = 420
BAR_HEIGHT = 20
LABEL_WIDTH = 140


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def cohen_kappa(a: list, b: list) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(cohen_kappa_score(a, b))


def krippendorff_alpha(matrix: list[list[float]], level: str) -> float | None:
    """`matrix[rater][unit]`, NaN where a rater did not rate a unit."""
    import krippendorff
    import numpy as np

    data = np.array(matrix, dtype=float)
    if data.shape[0] < 2 or data.shape[1] < 1:
        return None
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    data = data[:, pairable]
    values = data[~np.isnan(data)]
    if data.shape[1] < 1 or len(set(values.tolist())) < 2:
        # A single value everywhere: agreement is perfect but alpha is undefined (0/0).
        return None
    return _finite(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _ratings(queue: ReviewQueue, config) -> dict[int, dict[int, float]]:
    """rater -> {span -> code} for items with at least two submissions."""
    from apps.reviews.models import Score, ScoreSource

    item_ids = list(
        ReviewItem.objects.filter(queue=queue, submission_count__gte=2)
        .order_by("-id")
        .values_list("id", flat=True)[:AGREEMENT_MAX_ITEMS]
    )
    # Only the scores of the people who submitted the item in this queue count.
    submitted = set(ReviewSubmission.objects.filter(item_id__in=item_ids).values_list("item__span_id", "reviewer_id"))
    spans = sorted({span for span, _ in submitted})
    rows = [
        row
        for row in Score.objects.filter(
            config=config, source=ScoreSource.HUMAN, author__isnull=False, span_id__in=spans
        ).values_list("author_id", "span_id", "value", "label", "labels")
        if (row[1], row[0]) in submitted
    ]
    codes: dict[str, int] = {}
    out: dict[int, dict[int, float]] = defaultdict(dict)
    for author, span, value, label, labels in rows:
        if config.kind == "categorical":
            key = "|".join(sorted(labels)) if labels else label
            if not key:
                continue
            out[author][span] = codes.setdefault(key, len(codes))
        elif value is not None:
            out[author][span] = float(value)
    return out


def _adjudicated(queue: ReviewQueue, config) -> int:
    """Items of the queue whose gold value for `config` a lead adjudicated."""
    from .models import GoldSource, GoldValue

    return GoldValue.objects.filter(item__queue=queue, config=config, source=GoldSource.ADJUDICATED).count()


def agreement_for_config(queue: ReviewQueue, config) -> dict[str, Any] | None:
    if config.kind == "text":
        return None
    ratings = _ratings(queue, config)
    raters = sorted(ratings)
    units = sorted({span for by_span in ratings.values() for span in by_span})
    units = [u for u in units if sum(1 for r in raters if u in ratings[r]) >= 2]
    result: dict[str, Any] = {
        "config": config.name,
        "kind": config.kind,
        "raters": len(raters),
        "items": len(units),
        "kappa": None,
        "kappa_kind": "",
        "alpha": None,
        "alpha_level": "interval" if config.kind == "continuous" else "nominal",
        "adjudicated": _adjudicated(queue, config),
    }
    if len(raters) < 2 or not units:
        return result
    if config.kind in ("categorical", "boolean"):
        pair_kappas = []
        for ra, rb in combinations(raters, 2):
            common = [u for u in units if u in ratings[ra] and u in ratings[rb]]
            kappa = cohen_kappa([ratings[ra][u] for u in common], [ratings[rb][u] for u in common])
            if kappa is not None:
                pair_kappas.append(kappa)
        if pair_kappas:
            result["kappa"] = sum(pair_kappas) / len(pair_kappas)
            result["kappa_kind"] = "Cohen" if len(raters) == 2 else f"mean of {len(pair_kappas)} rater pairs"
    matrix = [[ratings[r].get(u, math.nan) for u in units] for r in raters]
    result["alpha"] = krippendorff_alpha(matrix, result["alpha_level"])
    return result


def queue_agreement(queue: ReviewQueue) -> list[dict[str, Any]]:
    rows = []
    for config in queue.score_configs.all():
        row = agreement_for_config(queue, config)
        if row is not None:
            rows.append(row)
    return rows


def score_distribution(queue: ReviewQueue, config) -> dict[str, Any]:
    """Counts of human scores for one config on the queue's spans, aggregated in the database."""
    from apps.reviews.models import Score, ScoreSource

    # The scores the queue's reviewers gave when they submitted its items.
    scores = (
        Score.objects.filter(config=config, source=ScoreSource.HUMAN)
        .filter(
            Exists(
                ReviewSubmission.objects.filter(
                    item__queue=queue, item__span_id=OuterRef("span_id"), reviewer_id=OuterRef("author_id")
                )
            )
        )
        .order_by()
    )
    bars: list[tuple[str, int]] = []
    if config.kind == "categorical" and not config.multi_select:
        counts = dict(scores.values_list("label").annotate(n=Count("id")))
        bars = [(label, counts.get(label, 0)) for label in config.option_labels]
    elif config.kind == "categorical":
        counts: dict[str, int] = defaultdict(int)
        for labels in scores.values_list("labels", flat=True).iterator():
            for label in labels or []:
                counts[label] += 1
        bars = [(label, counts.get(label, 0)) for label in config.option_labels]
    elif config.kind == "boolean":
        counts = dict(scores.values_list("value").annotate(n=Count("id")))
        bars = [("yes", counts.get(1.0, 0)), ("no", counts.get(0.0, 0))]
    elif config.kind == "continuous":
        lo, hi = config.min_value, config.max_value
        width = (hi - lo) or 1.0
        binned = (
            scores.filter(value__isnull=False)
            .annotate(
                bin=Least(
                    Greatest(Floor((Cast("value", FloatField()) - Value(lo)) / Value(width) * HIST_BINS), Value(0.0)),
                    Value(float(HIST_BINS - 1)),
                )
            )
            .values_list("bin")
            .annotate(n=Count("id"))
        )
        counts = {int(b): n for b, n in binned}
        step = width / HIST_BINS
        bars = [(f"{lo + i * step:g}–{lo + (i + 1) * step:g}", counts.get(i, 0)) for i in range(HIST_BINS)]
    else:
        return {"config": config.name, "kind": config.kind, "total": scores.count(), "chart": None}
    return {"config": config.name, "kind": config.kind, "total": sum(n for _, n in bars), "chart": bar_chart(bars)}


def bar_chart(bars: list[tuple[str, int]]) -> dict[str, Any]:
    """Geometry for a horizontal bar chart; the template draws it as SVG with escaped labels."""
    peak = max((n for _, n in bars), default=0) or 1
    plot = CHART_WIDTH - LABEL_WIDTH - 50
    rows = []
    for i, (label, n) in enumerate(bars):
        rows.append(
            {
                "label": label if len(label) <= 24 else label[:23] + "…",
                "full_label": label,
                "count": n,
                "y": i * (BAR_HEIGHT + 6),
                "text_y": i * (BAR_HEIGHT + 6) + BAR_HEIGHT * 0.7,
                "width": round(plot * n / peak, 1),
                "count_x": LABEL_WIDTH + round(plot * n / peak, 1) + 6,
            }
        )
    return {
        "rows": rows,
        "width": CHART_WIDTH,
        "height": max(len(rows) * (BAR_HEIGHT + 6), BAR_HEIGHT),
        "label_width": LABEL_WIDTH,
        "bar_x": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


def queue_analytics(queue: ReviewQueue) -> dict[str, Any]:
    from .disagreement import disagreement_counts
    from .selectors import queue_progress, queue_reviewers

    configs = list(queue.score_configs.all())
    return {
        "progress": queue_progress(queue=queue),
        "reviewers": queue_reviewers(queue=queue),
        "distributions": [score_distribution(queue, c) for c in configs],
        "agreement": [row for row in (agreement_for_config(queue, c) for c in configs) if row is not None],
        "disagreements": disagreement_counts(queue),
    }
