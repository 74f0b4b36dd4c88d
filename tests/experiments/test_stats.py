"""The bootstrap and agreement statistics against independent implementations and hand-computed values."""

import krippendorff
import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score

from apps.experiments import stats


@pytest.mark.parametrize(
    "deltas",
    [
        np.random.default_rng(1).normal(0.1, 0.3, size=400),  # many distinct values: resampled rows
        np.random.default_rng(1).choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=400, p=[0.1, 0.2, 0.3, 0.25, 0.15]),
    ],
    ids=["continuous", "few-levels"],
)
def test_mean_interval_matches_scipy_percentile_bootstrap(deltas):
    ours = stats.bootstrap_mean_ci(deltas, resamples=4000)
    ref = scipy_stats.bootstrap((deltas,), np.mean, method="percentile", n_resamples=20000, random_state=0)
    assert ours[0] == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours[1] == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_mean_interval_is_the_same_in_chunks_and_reproducible(monkeypatch):
    data = np.arange(300, dtype=float)
    whole = stats.bootstrap_mean_ci(data, seed=7)
    monkeypatch.setattr(stats, "CHUNK_CELLS", 400)  # one resample per chunk
    assert stats.bootstrap_mean_ci(data, seed=7) == whole
    assert whole[0] < 149.5 < whole[1]
    assert stats.bootstrap_mean_ci([1.0]) is None


def test_kappa_by_hand_and_against_sklearn():
    # 10 items: both yes on 4, both no on 3, a yes/b no on 2, a no/b yes on 1.
    a = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 0])
    b = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    # p_o = 0.7; p_e = 0.6*0.5 + 0.4*0.5 = 0.5; kappa = 0.2 / 0.5 = 0.4
    assert stats.cohen_kappa_codes(a, b, 2) == pytest.approx(0.4)
    assert stats.cohen_kappa_codes(a, b, 2) == pytest.approx(cohen_kappa_score(a, b))
    assert stats.cohen_kappa_codes(np.zeros(3, int), np.zeros(3, int), 2) is None


def test_alpha_interval_by_hand_and_against_the_krippendorff_package():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, 2.0, 4.0, 4.0])
    # N = 8 values, mean 2.625, sum of squared deviations 11.875; sum (a-b)^2 = 1
    # alpha = 1 - 7 * 1 / (8 * 11.875) = 1 - 7/95 = 0.926316
    assert stats.krippendorff_alpha_interval_pairs(a, b) == pytest.approx(1 - 7 / 95)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 30)
    y = np.clip(x + rng.normal(0, 0.2, 30), 0, 1)
    ref = krippendorff.alpha(reliability_data=np.vstack([x, y]), level_of_measurement="interval")
    assert stats.krippendorff_alpha_interval_pairs(x, y) == pytest.approx(ref)
    assert stats.krippendorff_alpha_interval_pairs(np.ones(3), np.ones(3)) is None


def test_statistic_interval_matches_scipy_paired_bootstrap():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, 150)
    b = np.where(rng.uniform(size=150) < 0.7, a, rng.integers(0, 3, 150))

    def kappa(x, y):
        return stats.cohen_kappa_codes(x, y, 3)

    ours = stats.bootstrap_statistic_ci(kappa, a, b, resamples=3000)
    ref = scipy_stats.bootstrap(
        (a, b), kappa, paired=True, vectorized=False, method="percentile", n_resamples=6000, random_state=0
    ).confidence_interval
    assert ours[0] == pytest.approx(ref.low, abs=0.02)
    assert ours[1] == pytest.approx(ref.high, abs=0.02)
