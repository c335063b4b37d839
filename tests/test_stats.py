"""kd_transfer.stats against hand computations (literal numbers) and scipy.stats.

The t quantiles are those of a printed Student t table (two-sided 95 %: the 0.975 quantile).
"""
import math

import pytest

from kd_transfer import stats

# t(0.975, df) from a printed table (e.g. any statistics textbook's appendix)
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 30: 2.042,
           120: 1.980}


@pytest.mark.parametrize('df,t', sorted(T_TABLE.items()))
def test_t_quantile_matches_the_printed_table(df, t):
    assert stats.t_ppf(0.975, df) == pytest.approx(t, abs=5e-4)
    assert stats.t_ppf(0.025, df) == pytest.approx(-t, abs=5e-4)
    assert stats.t_cdf(t, df) == pytest.approx(0.975, abs=1e-4)


def test_t_quantile_large_df_is_the_normal_quantile():
    assert stats.t_ppf(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)


def test_t_against_scipy_for_fractional_df():
    scipy_stats = pytest.importorskip('scipy.stats')
    for df in (1.3, 2.5, 4.0754716981, 7.9, 55.5):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert stats.t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8)
        for t in (-3.0, 0.4, 2.0, 9.0):
            assert stats.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-11)


def test_cell_summary_by_hand():
    # values 70.5, 71.1, 70.2: mean 211.8 / 3 = 70.6; deviations -0.1, 0.5, -0.4;
    # squares 0.01 + 0.25 + 0.16 = 0.42; variance 0.42 / 2 = 0.21; s = 0.458258;
    # s / sqrt(3) = 0.264575; t(0.975, 2) = 4.303 -> half-width 1.13838
    s = stats.summarize([70.5, 71.1, 70.2])
    assert (s.n, s.mean, s.std) == (3, pytest.approx(70.6), pytest.approx(0.458258, abs=1e-6))
    assert s.ci_low == pytest.approx(70.6 - 1.13838, abs=2e-4)
    assert s.ci_high == pytest.approx(70.6 + 1.13838, abs=2e-4)


def test_single_value_has_no_interval():
    s = stats.summarize([42.0])
    assert (s.mean, s.std, s.n, s.ci_low, s.ci_high) == (42.0, None, 1, None, None)
    d = stats.welch([42.0], [40.0, 41.0])
    assert (d.delta, d.ci_low, d.ci_high, d.significant) == (pytest.approx(1.5), None, None,
                                                              None)
    assert d.reason == 'row n=1'


def test_welch_by_hand_not_significant():
    # a = 71, 72, 73 (mean 72, s^2 = 1); b = 69, 70, 71 (mean 70, s^2 = 1); delta 2
    # se^2 = 1/3 + 1/3 = 2/3, se = 0.816497
    # df = (2/3)^2 / ((1/3)^2 / 2 + (1/3)^2 / 2) = (4/9) / (1/9) = 4; t(0.975, 4) = 2.776
    # half-width 2.776445 * 0.816497 = 2.26696 -> [-0.26696, 4.26696]: contains 0
    # t = 2 / 0.816497 = 2.449490, two-sided p(df=4) = 0.0704
    d = stats.welch([71.0, 72.0, 73.0], [69.0, 70.0, 71.0])
    assert d.delta == pytest.approx(2.0)
    assert d.df == pytest.approx(4.0)
    assert (d.ci_low, d.ci_high) == (pytest.approx(-0.26696, abs=2e-4),
                                     pytest.approx(4.26696, abs=2e-4))
    assert d.p == pytest.approx(0.0704, abs=5e-4)
    assert d.significant is False


def test_welch_by_hand_significant_and_negative():
    # b - a of the example above shifted by 5: a = 64, 65, 66 vs b = 69, 70, 71: delta -5,
    # same se and df, interval -5 +- 2.26696 = [-7.26696, -2.73304]: excludes 0
    d = stats.welch([64.0, 65.0, 66.0], [69.0, 70.0, 71.0])
    assert (d.ci_low, d.ci_high) == (pytest.approx(-7.26696, abs=2e-4),
                                     pytest.approx(-2.73304, abs=2e-4))
    assert d.significant is True


def test_welch_unequal_variances_by_hand():
    # a = 72, 73, 74, 75: mean 73.5, s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3
    # b = 70, 70.5, 71: mean 70.5, s^2 = 0.5 / 2 = 0.25; delta 3
    # s_a^2/n_a = 5/12 = 0.416667, s_b^2/n_b = 0.083333, se^2 = 0.5
    # df = 0.25 / (0.416667^2 / 3 + 0.083333^2 / 2) = 0.25 / 0.0613426 = 4.075472
    d = stats.welch([72.0, 73.0, 74.0, 75.0], [70.0, 70.5, 71.0])
    assert d.df == pytest.approx(4.075472, abs=1e-5)
    # t(0.975, 4.075) lies between the table's t(4) = 2.776 and t(5) = 2.571
    half = (d.ci_high - d.ci_low) / 2
    assert 2.571 * math.sqrt(0.5) < half < 2.776 * math.sqrt(0.5)
    assert d.significant is True
    scipy_stats = pytest.importorskip('scipy.stats')
    ref = scipy_stats.ttest_ind([72.0, 73.0, 74.0, 75.0], [70.0, 70.5, 71.0], equal_var=False)
    assert d.p == pytest.approx(ref.pvalue, rel=1e-7)
    assert half == pytest.approx(scipy_stats.t.ppf(0.975, 4.075472) * math.sqrt(0.5), rel=1e-5)


def test_zero_spread_on_both_sides_has_no_interval():
    d = stats.welch([50.0, 50.0], [40.0, 40.0])
    assert d.delta == pytest.approx(10.0) and d.ci_low is None and d.significant is None
    assert 'zero spread' in d.reason


def test_random_samples_against_scipy():
    import random
    scipy_stats = pytest.importorskip('scipy.stats')
    rng = random.Random(0)
    for _ in range(50):
        a = [rng.gauss(0, rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 8))]
        b = [rng.gauss(1, rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 8))]
        d = stats.welch(a, b)
        ref = scipy_stats.ttest_ind(a, b, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert (d.ci_low, d.ci_high, d.p) == (pytest.approx(ci.low, abs=1e-8),
                                              pytest.approx(ci.high, abs=1e-8),
                                              pytest.approx(ref.pvalue, abs=1e-8))
        s = stats.summarize(a)
        low, high = scipy_stats.t.interval(0.95, len(a) - 1, loc=s.mean,
                                           scale=scipy_stats.sem(a))
        assert (s.ci_low, s.ci_high) == (pytest.approx(low, abs=1e-8),
                                         pytest.approx(high, abs=1e-8))
