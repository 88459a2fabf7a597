"""Statistics for `rlvr compare`: paired seed-by-seed differences, Welch as a secondary view, Holm's correction.

Seed s fixes the data order and the evaluation draws of every recipe, so run s of recipe A and run s of the baseline
are a pair: the difference of their metrics cancels what the seed shares (an easy shuffle, lucky evaluation draws).

    d = paired({0: .80, 1: .83, 2: .79}, {0: .78, 1: .80, 2: .78})   # exact t interval from scipy, df = n - 1
    d.diff, d.low, d.high, d.p
    holm([0.01, 0.04, 0.03])        # Holm-adjusted p-values, same order: [0.03, 0.06, 0.06]
    holm_levels([0.01, 0.04, 0.03]) # confidence level of each adjusted interval: 1 - 0.05 / (m - rank + 1)

Every interval is two-sided; p-values test "no difference".
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats


@dataclass
class Diff:
    diff: float
    low: float
    high: float
    p: float
    n: int
    """Pairs (paired) or the smaller group (Welch)."""


NONE = Diff(math.nan, math.nan, math.nan, math.nan, 0)

FLAT = 1e-12
"""Spreads at or below this (relative to 1) are float rounding of equal values: 0.3 - 0.2 and 0.2 - 0.1 differ by
3e-17. Metrics here are fractions of order 1; scipy would warn of catastrophic cancellation and report p ~ 0."""


def _flat(xs: list[float]) -> bool:
    return max(xs) - min(xs) <= FLAT * max(1.0, *(abs(x) for x in xs))


def paired(a: dict, b: dict, level: float = 0.95) -> Diff:
    """Mean of a[s] - b[s] over the seeds both have, with a paired t interval (n - 1 degrees of freedom)."""
    seeds = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
    d = [float(a[s]) - float(b[s]) for s in seeds]
    if not d:
        return NONE
    mean = math.fsum(d) / len(d)
    if len(d) < 2:  # one pair: no spread, no interval
        return Diff(mean, math.nan, math.nan, math.nan, 1)
    if _flat(d):  # every seed moved by the same amount (e.g. bit-identical runs): no noise to test
        return Diff(mean, mean, mean, 1.0 if abs(mean) <= FLAT else 0.0, len(d))
    res = stats.ttest_rel([float(a[s]) for s in seeds], [float(b[s]) for s in seeds])
    ci = res.confidence_interval(confidence_level=level)
    return Diff(mean, float(ci.low), float(ci.high), float(res.pvalue), len(d))


def welch(a: list, b: list, level: float = 0.95) -> Diff:
    """Difference of means a - b with a Welch t interval (unpaired; Welch-Satterthwaite degrees of freedom)."""
    a, b = [float(x) for x in a if x is not None], [float(x) for x in b if x is not None]
    if not a or not b:
        return NONE
    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if len(a) < 2 or len(b) < 2 or (_flat(a) and _flat(b)):
        return Diff(diff, math.nan, math.nan, math.nan, min(len(a), len(b)))
    if _flat(a) or _flat(b):  # e.g. pass@64 = 1.000 on every seed: Welch is then a one-sample t on the other group
        return _one_sample(diff, b if _flat(a) else a, level, min(len(a), len(b)))
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return Diff(diff, float(ci.low), float(ci.high), float(res.pvalue), min(len(a), len(b)))


def _one_sample(diff: float, xs: list[float], level: float, n: int) -> Diff:
    """Welch's interval when the other group has no spread: se = s/sqrt(n), df = n - 1 (its Welch-Satterthwaite
    limit). By hand because scipy's ttest_ind warns on a constant group whose float mean is inexact."""
    se = statistics.stdev(xs) / math.sqrt(len(xs))
    t = stats.t.ppf(0.5 + level / 2, len(xs) - 1)
    p = 2 * stats.t.sf(abs(diff) / se, len(xs) - 1)
    return Diff(diff, float(diff - t * se), float(diff + t * se), float(p), n)


def _ranks(pvalues: list[float]) -> list[int | None]:
    """1-based rank of each p-value among the testable ones (NaN: not tested, rank None); ties keep input order."""
    order = sorted((i for i, p in enumerate(pvalues) if not math.isnan(p)), key=lambda i: pvalues[i])
    ranks: list[int | None] = [None] * len(pvalues)
    for r, i in enumerate(order, 1):
        ranks[i] = r
    return ranks


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: max over j <= rank of min(1, (m - j + 1) p_(j)); NaN stays NaN."""
    ranks = _ranks(pvalues)
    m = sum(r is not None for r in ranks)
    by_rank = sorted((r, p) for r, p in zip(ranks, pvalues) if r is not None)
    adjusted, running = {}, 0.0
    for r, p in by_rank:
        running = max(running, min(1.0, (m - r + 1) * p))
        adjusted[r] = running
    return [math.nan if r is None else adjusted[r] for r in ranks]


def holm_levels(pvalues: list[float], alpha: float = 0.05) -> list[float]:
    """Confidence level of each Holm-adjusted interval: 1 - alpha / (m - rank + 1), the level its step tests at.

    Such an interval excludes 0 when its step rejects; the hypothesis survives only if every smaller p-value's
    step rejected too, which the adjusted p-value (`holm`) says: survive iff adjusted p < alpha.
    """
    ranks = _ranks(pvalues)
    m = sum(r is not None for r in ranks)
    return [math.nan if r is None else 1 - alpha / (m - r + 1) for r in ranks]


def pass1_sampling_sd(pass1: float | None, pass2: float | None, problems: int | None, samples: int | None) -> float:
    """S.d. of one evaluation's pass@1 from sampling alone, on its fixed problems: sqrt((pass@2 - pass@1) / (P n)).

    Per problem with success probability p, pass@1's variance is p (1 - p) / n; the unbiased pass@2 estimator
    minus the unbiased pass@1 estimator is exactly the unbiased estimate of p (1 - p), c (n - c) / (n (n - 1)),
    so (pass@2 - pass@1) / (P n) is the unbiased variance of the mean over P problems (plug-in c/n (1 - c/n) is
    low by (n - 1) / n). NaN when a piece is missing.
    """
    if None in (pass1, pass2, problems, samples) or not problems or not samples:
        return math.nan
    return math.sqrt(max(float(pass2) - float(pass1), 0.0) / (int(problems) * int(samples)))


def paired_power(delta: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t test at level `alpha` for a true mean difference `delta` (per-pair s.d. `sd`):
    P(|T| > t_crit) with T noncentral t, n - 1 degrees of freedom, noncentrality delta sqrt(n) / sd."""
    df, nc = n - 1, delta * math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha / 2, df)
    tails = [float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))]
    return sum(0.0 if math.isnan(x) else x for x in tails)  # scipy's far tail can be NaN where it is ~0


def detectable(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true paired difference the t test detects with `power`, for n pairs of per-pair s.d. `sd`."""
    if n < 2 or not sd > 0 or math.isnan(sd):
        return math.nan
    from scipy.optimize import brentq

    hi = sd
    while paired_power(hi, sd, n, alpha) < power:
        hi *= 2
    return float(brentq(lambda d: paired_power(d, sd, n, alpha) - power, 0.0, hi, xtol=1e-12 * sd))
