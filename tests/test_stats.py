"""rlvr/stats.py on cases worked out by hand: paired vs Welch intervals, Holm's step-down, degenerate pairs.

Quantiles with 2 degrees of freedom have a closed form: the t(2) CDF is 1/2 + t / (2 sqrt(2 + t^2)), so the 97.5%
quantile solves t / sqrt(2 + t^2) = 0.95, i.e. t^2 = 2 * 0.9025 / 0.0975, and the two-sided p of a statistic T is
1 - T / sqrt(2 + T^2).
"""

import math
import warnings

import pytest
from scipy.stats import t as t_dist

from rlvr.stats import holm, holm_levels, paired, welch

T2 = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))  # 4.3027: the exact 97.5% quantile of t(2)
BASE = {0: 0.70, 1: 0.80, 2: 0.90}
MINE = {0: 0.73, 1: 0.84, 2: 0.95}  # per-seed differences 0.03, 0.04, 0.05


def test_t2_closed_form_is_scipys_quantile():
    assert T2 == pytest.approx(t_dist.ppf(0.975, 2), rel=1e-12)


def test_paired_three_seeds_by_hand():
    # d = 0.03, 0.04, 0.05: mean 0.04, s.d. 0.01, s.e. 0.01 / sqrt(3); T = 0.04 / (0.01 / sqrt 3) = 4 sqrt 3
    d = paired(MINE, BASE)
    se = 0.01 / math.sqrt(3)
    assert d.n == 3 and d.diff == pytest.approx(0.04)
    assert (d.low, d.high) == pytest.approx((0.04 - T2 * se, 0.04 + T2 * se), abs=1e-12)  # [+0.0152, +0.0648]
    assert d.p == pytest.approx(1 - math.sqrt(48 / 50), rel=1e-9)  # 0.0202
    assert d.low > 0


def test_welch_on_the_same_runs_is_wide_and_includes_zero():
    # Unpaired, the seeds' shared spread (0.70 .. 0.90) swamps the 0.04: var(mine) = 0.0121, var(base) = 0.01
    va, vb = 0.0121 / 3, 0.01 / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch-Satterthwaite: 3.96, not the rounded-down 3
    half = t_dist.ppf(0.975, df) * math.sqrt(va + vb)
    w = welch(list(MINE.values()), list(BASE.values()))
    assert df == pytest.approx(3.964, abs=1e-3)
    assert w.diff == pytest.approx(0.04) and (w.low, w.high) == pytest.approx((0.04 - half, 0.04 + half), abs=1e-12)
    assert w.low < 0 < w.high and w.high - w.low > 5 * (paired(MINE, BASE).high - paired(MINE, BASE).low)


def test_paired_uses_only_the_seeds_both_ran_and_needs_two():
    assert paired({**MINE, 7: 0.1}, {**BASE, 8: 0.9}).n == 3  # seeds 7 and 8 have no partner
    one = paired({0: 0.5}, {0: 0.4, 1: 0.3})
    assert one.n == 1 and one.diff == pytest.approx(0.1) and math.isnan(one.low) and math.isnan(one.p)
    assert paired({}, BASE).n == 0 and math.isnan(paired({}, BASE).diff)


def test_paired_identical_runs_and_constant_shift():
    same = paired(BASE, dict(BASE))  # bit-identical runs: no difference, nothing to test
    assert (same.diff, same.low, same.high, same.p) == (0.0, 0.0, 0.0, 1.0)
    # exact decimal values so every difference is the same float
    shifted = paired({0: 0.75, 1: 0.5}, {0: 0.5, 1: 0.25})
    assert (shifted.diff, shifted.low, shifted.high, shifted.p) == (0.25, 0.25, 0.25, 0.0)


def test_holm_by_hand():
    # sorted: 0.01 (rank 1, x3 = 0.03), 0.03 (rank 2, x2 = 0.06), 0.04 (rank 3, x1 = 0.04 -> max with 0.06)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_levels([0.01, 0.04, 0.03]) == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 1, 1 - 0.05 / 2])
    # step-down: an adjusted p is never below the one ranked before it (0.021 x 1 is lifted to 0.02 x 2 = 0.04);
    # with 0.03 first (x 2 = 0.06, fails) 0.031 fails too, though 0.031 x 1 < 0.05
    assert holm([0.02, 0.021]) == pytest.approx([0.04, 0.04])
    assert holm([0.03, 0.031]) == pytest.approx([0.06, 0.06])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_skips_untestable_comparisons():
    adjusted = holm([0.01, math.nan, 0.04])  # m = 2, not 3
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    levels = holm_levels([0.01, math.nan, 0.04])
    assert levels[0] == pytest.approx(0.975) and math.isnan(levels[1]) and levels[2] == pytest.approx(0.95)


def test_holm_interval_is_wider_at_its_step_level():
    # the paired case at level 1 - 0.05/3 (rank 1 of 3): quantile of t(2) at 1 - 0.05/6
    q = 1 - 0.05 / 6
    t_q = math.sqrt(2 * (2 * q - 1) ** 2 / (1 - (2 * q - 1) ** 2))  # inverse of 1/2 + t / (2 sqrt(2 + t^2))
    d = paired(MINE, BASE, level=1 - 0.05 / 3)
    assert d.high - 0.04 == pytest.approx(t_q * 0.01 / math.sqrt(3), rel=1e-9)


def test_report_table_holm_over_one_metric_from_csv_rows():
    from rlvr.report_stats import diff_markdown

    # csv-style rows (strings): `mine` is the hand case (p = 0.0202), `other` has d = 0.01, 0.02, 0.03 (T = 2 sqrt 3,
    # p = 1 - sqrt(12/14) = 0.0742). Holm, m = 2: mine 2 x 0.0202 = 0.0404 survives; other max(0.0404, 0.0742) does not
    other = {0: 0.71, 1: 0.82, 2: 0.93}
    rows = [dict(label=lab, seed=str(s), **{"pass@1": str(v)}) for lab, d in (("grpo", BASE), ("mine", MINE),
            ("other", other)) for s, v in d.items()]  # fmt: skip
    lines = diff_markdown(rows, ["grpo", "mine", "other"], "grpo", ["pass@1"])
    mine = next(li for li in lines if li.startswith("| mine |")).split(" | ")
    other_line = next(li for li in lines if li.startswith("| other |")).split(" | ")
    p_mine, p_other = 1 - math.sqrt(48 / 50), 1 - math.sqrt(12 / 14)
    assert mine[4] == f"{p_mine:.2g}" and mine[5] == f"{2 * p_mine:.2g}" and mine[7] == "**yes**"
    assert other_line[4] == f"{p_other:.2g}" == other_line[5] and other_line[7] == "no"
    assert mine[6].endswith("(97.50%)") and other_line[6].endswith("(95.00%)")
    assert "m = 2 comparison(s)" in lines[-1]
    assert "**Δ pass@1** (survive Holm: mine)" in lines


def test_paired_power_and_detectable_difference():
    import numpy as np

    from rlvr.stats import detectable, paired_power

    assert paired_power(0.0, 0.01, 5) == pytest.approx(0.05, abs=1e-12)  # no effect: the test's own level
    # many pairs: the normal approximation (z_0.975 + z_0.8) sd / sqrt(n) = 2.8016 sd / sqrt(n)
    assert detectable(0.01, 1000) == pytest.approx(2.80158 * 0.01 / math.sqrt(1000), rel=2e-3)
    # 3 pairs, by simulation: at the returned difference, |T| > t(2) quantile in 80% of draws
    delta = detectable(1.0, 3)
    d = np.random.default_rng(0).normal(delta, 1.0, size=(200_000, 3))
    t_stat = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(3))
    assert np.mean(np.abs(t_stat) > T2) == pytest.approx(0.8, abs=0.005)
    assert detectable(0.01, 5) < detectable(0.01, 3) and math.isnan(detectable(0.01, 1))


def test_float_rounding_is_no_spread_and_raises_no_warning():
    """0.30000000000000004 - 0.2 and 0.2 - 0.1 differ by 3e-17: the same shift, not noise (scipy warned and gave p ~ 0).
    A group with pass@64 = 1.000 on every seed, or [0.1] * 3 (its float mean is inexact), makes Welch a one-sample t:
    a - b = 0.1 - 0.25 = -0.15, s_b^2 = (0.05^2 + 0.05^2 + 0) / 2 = 0.0025, se = sqrt(0.0025 / 3) = 0.0288675,
    df = 2, t_0.975,2 = 4.302653: half width 0.124207."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shift = paired({0: 0.2, 1: 0.30000000000000004, 2: 0.4}, {0: 0.1, 1: 0.2, 2: 0.3})
        assert (shift.low, shift.high, shift.p) == (shift.diff, shift.diff, 0.0) and shift.diff == pytest.approx(0.1)
        w = welch([0.1, 0.1, 0.1], [0.2, 0.3, 0.25])
        mirrored = welch([0.2, 0.3, 0.25], [0.1, 0.1, 0.1])
    assert (w.diff, w.low, w.high) == pytest.approx((-0.15, -0.15 - 0.124207, -0.15 + 0.124207), abs=1e-6)
    assert (mirrored.low, mirrored.high) == pytest.approx((-w.high, -w.low)) and mirrored.p == pytest.approx(w.p)
    assert w.p == pytest.approx(2 * 0.0175493, abs=1e-6)  # t = 0.15 / 0.0288675 = 5.19615 on 2 df
