"""Bootstrap confidence intervals for experiment comparisons and judge alignment (numpy).

Percentile intervals from `resamples` resamples drawn with a seeded generator, so the same data gives
the same interval on every read. Means are resampled in chunks (a 100k × 1,000 index matrix would not
fit in memory); any other statistic (kappa, alpha) is resampled one draw at a time over paired rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

RESAMPLES = 1_000
SEED = 20_260_214
CONFIDENCE = 0.95
# Rows × resamples drawn at once: bounds the index matrix to ~4M entries (32 MB).
CHUNK_CELLS = 4_000_000
# Scores with at most this many distinct values (boolean, categorical, coarse sliders) resample by counts.
MAX_LEVELS = 200


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(SEED if seed is None else seed)


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float] | None:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int | None = None,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile interval of the mean of `values` (a paired delta: pass the per-record differences, so
    records are resampled together). None for fewer than two values."""
    data = np.asarray(values, dtype=float)
    n = data.size
    if n < 2:
        return None
    rng = _rng(seed)
    levels, counts = np.unique(data, return_counts=True)
    if levels.size <= MAX_LEVELS:
        # A resample's mean depends only on how often it draws each distinct value: drawing those counts
        # from the multinomial is the same bootstrap in O(levels) a resample instead of O(n).
        means = rng.multinomial(n, counts / n, size=resamples) @ levels / n
        return _percentiles(means, confidence)
    per_chunk = max(1, CHUNK_CELLS // n)
    means = np.empty(resamples)
    done = 0
    while done < resamples:
        take = min(per_chunk, resamples - done)
        idx = rng.integers(0, n, size=(take, n))
        means[done : done + take] = data[idx].mean(axis=1)
        done += take
    return _percentiles(means, confidence)


def bootstrap_statistic_ci(
    statistic: Callable[..., float | None],
    *columns: Sequence,
    resamples: int = RESAMPLES,
    seed: int | None = None,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile interval of `statistic(*columns)` resampling rows (the columns stay paired). Draws where
    the statistic is undefined (None or NaN, e.g. kappa of a single label) are left out."""
    arrays = [np.asarray(c) for c in columns]
    n = len(arrays[0]) if arrays else 0
    if n < 2:
        return None
    rng = _rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, n, size=n)
        value = statistic(*(a[idx] for a in arrays))
        draws[i] = math.nan if value is None else value
    return _percentiles(draws, confidence)


def mean_or_none(values: Sequence[float] | np.ndarray) -> float | None:
    data = np.asarray(values, dtype=float)
    return float(data.mean()) if data.size else None


def cohen_kappa_codes(a: np.ndarray, b: np.ndarray, k: int) -> float | None:
    """Cohen's kappa of two raters' codes in 0..k-1 (fast enough to bootstrap). None when undefined
    (both raters used one and the same code: chance agreement is 1)."""
    n = len(a)
    if n == 0:
        return None
    table = np.bincount(np.asarray(a) * k + np.asarray(b), minlength=k * k).reshape(k, k) / n
    observed = np.trace(table)
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    if abs(1 - expected) < 1e-12:
        return None
    return float((observed - expected) / (1 - expected))


def krippendorff_alpha_interval_pairs(a: np.ndarray, b: np.ndarray) -> float | None:
    """Krippendorff's alpha, interval metric, for two raters who both rated every unit:
    1 − (N − 1)·Σ(a−b)² / (N·Σ(v−v̄)²) over the N = 2n values (the coincidence-matrix form reduced to
    two values per unit). None when every value is the same (alpha is 0/0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    values = np.concatenate([a, b])
    total = values.size
    spread = float(((values - values.mean()) ** 2).sum())
    if a.size < 1 or spread < 1e-12:
        return None
    return float(1 - (total - 1) * float(((a - b) ** 2).sum()) / (total * spread))
