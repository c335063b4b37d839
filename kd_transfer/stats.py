"""Statistics of the report: a mean over seeds with its interval, and a delta with its test.

Two procedures, both at the 95 % level by default:

* **One cell** (the values of one metric over the seeds of one row): mean, sample standard
  deviation ``s`` (divisor ``n - 1``) and the Student t confidence interval of the mean,
  ``mean +- t(0.975, n - 1) * s / sqrt(n)``. One value has no interval.
* **A delta against the baseline** (row ``a`` minus baseline ``b``): Welch's unequal-variance t
  interval, ``(mean_a - mean_b) +- t(0.975, df) * se`` with ``se = sqrt(s_a^2/n_a + s_b^2/n_b)``
  and the Welch–Satterthwaite degrees of freedom
  ``df = se^4 / ((s_a^2/n_a)^2/(n_a - 1) + (s_b^2/n_b)^2/(n_b - 1))``. The delta is called
  significant when the interval excludes 0, which is the same as Welch's two-sided test
  rejecting "no difference" at p < 0.05. Both sides need at least two values; when both have
  zero spread the interval is not defined (a t statistic would divide by zero).

The Student t quantile is computed here (regularised incomplete beta function, inverted by
bisection) so that the report needs nothing beyond the standard library; the tests check it
against printed t tables and ``scipy.stats``.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Optional, Sequence

#: Confidence level of every interval in the report.
LEVEL = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) +
                 b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Distribution function of Student's t with ``df`` (> 0, real) degrees of freedom."""
    if df <= 0:
        raise ValueError(f'degrees of freedom must be > 0, got {df}')
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t: the ``t`` with ``t_cdf(t, df) == p``, ``0 < p < 1``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f'probability must be in (0, 1), got {p}')
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Summary:
    """Mean of a metric over seeds with its Student t interval (None below two values)."""
    mean: float
    std: Optional[float]
    n: int
    ci_low: Optional[float]
    ci_high: Optional[float]


def summarize(values: Sequence[float], level: float = LEVEL) -> Summary:
    """Mean, sample std and the Student t confidence interval of the mean.

    Args:
        values (Sequence[float]): One value per seed (at least one).
        level (float): Confidence level. Defaults to 0.95.

    Returns:
        Summary: ``std`` / ``ci_low`` / ``ci_high`` are None for a single value.
    """
    n = len(values)
    if n == 0:
        raise ValueError('no values to summarise')
    mean = statistics.fmean(values)
    if n == 1:
        return Summary(mean, None, 1, None, None)
    std = statistics.stdev(values)
    half = t_ppf(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half)


@dataclass(frozen=True)
class Delta:
    """Difference of two means with Welch's interval.

    Attributes:
        delta (float): ``mean_a - mean_b``.
        ci_low, ci_high (float, optional): The interval; None when not defined.
        df (float, optional): Welch–Satterthwaite degrees of freedom.
        p (float, optional): Two-sided p-value of Welch's t test.
        significant (bool, optional): The interval excludes 0; None without an interval.
        reason (str): Why there is no interval ('' when there is one).
    """
    delta: float
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    df: Optional[float] = None
    p: Optional[float] = None
    significant: Optional[bool] = None
    reason: str = ''


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Delta:
    """Welch's t interval (and test) for ``mean(a) - mean(b)``.

    Args:
        a (Sequence[float]): Values of the compared row (one per seed).
        b (Sequence[float]): Values of the baseline row.
        level (float): Confidence level. Defaults to 0.95.

    Returns:
        Delta: the difference, and its interval when both sides have two or more values and
        not both have zero spread.
    """
    delta = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        which = ' and '.join(name for name, v in (('row', a), ('baseline', b)) if len(v) < 2)
        return Delta(delta, reason=f'{which} n=1')
    va = statistics.variance(a) / len(a)
    vb = statistics.variance(b) / len(b)
    se2 = va + vb
    if se2 == 0.0:
        return Delta(delta, reason='zero spread on both sides')
    df = se2 * se2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    se = math.sqrt(se2)
    half = t_ppf(0.5 + level / 2.0, df) * se
    low, high = delta - half, delta + half
    t = delta / se
    p = betainc(df / 2.0, 0.5, df / (df + t * t))  # two-sided: 2 * P(T > |t|)
    return Delta(delta, low, high, df, p, low > 0.0 or high < 0.0)
