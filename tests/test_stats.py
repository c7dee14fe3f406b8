from __future__ import annotations

import random

import numpy as np
import pytest

from edgebench.stats import iqr_outliers, median_ci, percentile, summarize


def test_percentiles_match_numpy_linear_method() -> None:
    rng = np.random.default_rng(3)
    values = sorted(rng.lognormal(0, 1, size=257).tolist())
    for q in (0, 1, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_summary_of_known_sequence() -> None:
    s = summarize([float(v) for v in range(1, 101)])
    assert s.min == 1 and s.max == 100
    assert s.mean == pytest.approx(50.5)
    assert s.p50 == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1)
    assert s.p99 == pytest.approx(99.01)
    assert s.std == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s.ci95_low <= s.p50 <= s.ci95_high
    # Ranks 40 and 61 bound the median of 100 values at 95% (binomial, n=100, p=1/2).
    assert (s.ci95_low, s.ci95_high) == (40.0, 61.0)


@pytest.mark.parametrize(
    ("name", "draw", "true_median"),
    [
        ("exponential", lambda r, n: r.expovariate(1.0), np.log(2)),
        ("lognormal", lambda r, n: r.lognormvariate(0.0, 0.8), 1.0),
        ("uniform", lambda r, n: r.uniform(2.0, 4.0), 3.0),
    ],
)
def test_median_ci_covers_true_median_95_percent(name, draw, true_median) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    trials, n, covered = 2000, 60, 0
    for _ in range(trials):
        values = sorted(draw(rng, n) for _ in range(n))
        lo, hi = median_ci(values)
        covered += lo <= true_median <= hi
    coverage = covered / trials
    # Order-statistic intervals are conservative: at least nominal, not wildly wide.
    assert 0.935 <= coverage <= 0.99, f"{name}: coverage {coverage:.3f}"


def test_small_samples_use_the_range() -> None:
    assert median_ci([1.0, 2.0, 3.0]) == (1.0, 3.0)
    s = summarize([5.0])
    assert s.std == 0.0 and s.p99 == 5.0


def test_outliers_by_tukey_fences() -> None:
    assert iqr_outliers([1.0] * 20 + [100.0]) == 1
    assert iqr_outliers([1.0, 2.0, 3.0, 4.0, 5.0]) == 0


def test_empty_input_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarize([])
