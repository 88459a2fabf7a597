"""The statistical tables of `results.md`: paired differences to the baseline with Holm's correction, and the
evaluation's sampling noise against the spread between seeds. They read `results.csv`-style rows (label, seed,
metric columns), so a committed results.csv re-derives them:

    from rlvr.report_stats import diff_markdown
    print("\\n".join(diff_markdown(rows, ["grpo", "oversampling"], "grpo", ["pass@1"])))

One table (one metric) is one family for Holm: its comparisons to the baseline, one per label.
"""

from __future__ import annotations

import math
import statistics

from rlvr.stats import Diff, detectable, holm, holm_levels, paired, welch

ALPHA = 0.05


def _num(value) -> float | None:
    if value is None or value == "":
        return None
    value = float(value)
    return None if math.isnan(value) else value


def by_seed(table: list[dict], label: str, key: str) -> dict:
    """{seed: value} of one label's runs (missing values left out)."""
    out = {}
    for row in table:
        if row["label"] == label and _num(row.get(key)) is not None:
            out[str(row["seed"])] = _num(row[key])
    return out


def family(table: list[dict], labels: list[str], base: str, key: str) -> list[dict]:
    """Every label's paired and Welch difference to `base` on `key`, with Holm's adjusted p and interval level."""
    ref = by_seed(table, base, key)
    out = []
    for lab in labels:
        mine = by_seed(table, lab, key)
        out.append(dict(label=lab, paired=paired(mine, ref), welch=welch(list(mine.values()), list(ref.values()))))
    raw = [f["paired"].p for f in out]
    for f, p_adj, level in zip(out, holm(raw), holm_levels(raw, ALPHA)):
        f["holm_p"], f["level"] = p_adj, level
        mine = by_seed(table, f["label"], key)
        f["holm"] = paired(mine, ref, level) if not math.isnan(level) else f["paired"]
    return out


def fmt_p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.2g}" if p >= 1e-4 else "<0.0001"


def fmt_ci(d: Diff) -> str:
    return "n/a" if math.isnan(d.low) else f"[{d.low:+.3f}, {d.high:+.3f}]"


def family_rows(fam: list[dict]) -> list[str]:
    lines = []
    for f in fam:
        d, h = f["paired"], f["holm"]
        survives = "n/a" if math.isnan(f["holm_p"]) else "**yes**" if f["holm_p"] < ALPHA else "no"
        level = "" if math.isnan(f["level"]) else f" ({100 * f['level']:.2f}%)"
        cells = [f["label"], str(d.n), "n/a" if math.isnan(d.diff) else f"{d.diff:+.3f}", fmt_ci(d), fmt_p(d.p)]
        cells += [fmt_p(f["holm_p"]), fmt_ci(h) + level, survives, fmt_ci(f["welch"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def diff_sd(table: list[dict], labels: list[str], base: str, key: str) -> float:
    """Median over `labels` of the s.d. of their per-seed differences to `base` (labels with >= 2 pairs)."""
    ref, sds = by_seed(table, base, key), []
    for lab in labels:
        mine = by_seed(table, lab, key)
        d = [mine[s] - ref[s] for s in mine if s in ref]
        if len(d) > 1:
            sds.append(statistics.stdev(d))
    return statistics.median(sds) if sds else math.nan


def power_line(table: list[dict], labels: list[str], base: str, key: str) -> str:
    sd = diff_sd(table, labels, base, key)
    if math.isnan(sd):
        return ""
    cells = ", ".join(f"{detectable(sd, n):.3f} with {n} seeds" for n in (3, 5, 10))
    return (
        f"Smallest |Δ| found with 80% power by the paired t test at α = {ALPHA} before Holm, for this table's median "
        f"s.d. of per-seed differences ({sd:.4f}): {cells}."
    )


def diff_markdown(table: list[dict], labels: list[str], base: str, keys: list[str]) -> list[str]:
    """One table per metric in `keys`: paired Δ to `base` (raw and Holm-adjusted), Welch as a secondary column."""
    others = [lab for lab in labels if lab != base]
    lines = ["", f"## Paired differences to the baseline `{base}`¹", ""]
    for key in keys:
        fam = family(table, others, base, key)
        survivors = ", ".join(f["label"] for f in fam if f["holm_p"] < ALPHA) or "none"
        lines += [f"**Δ {key}** (survive Holm: {survivors})", ""]
        lines += ["| label | pairs | Δ | 95% CI | p | Holm p | Holm CI (level) | survives Holm | Welch 95% CI |"]
        lines += ["|" + "---|" * 9, *family_rows(fam), ""]
        power = power_line(table, others, base, key)
        lines += [power, ""] if power else []
    m = len(others)
    lines.append(
        f"¹ Paired by seed: Δ is the mean over the seeds both labels ran of (label − {base}), with an exact t "
        "interval (scipy, n − 1 degrees of freedom) and its two-sided p. Holm's step-down correction runs over the "
        f"m = {m} comparison(s) of one table; a comparison survives when its Holm-adjusted p < {ALPHA}. The Holm "
        f"interval of the comparison ranked r-th by p is at level 1 − {ALPHA}/(m − r + 1), the level its step tests "
        "at. Welch: the unpaired interval, for reference. n/a: fewer than 2 pairs."
    )
    return lines


def noise_rows(table: list[dict], labels: list[str]) -> list[str]:
    lines = []
    for lab in labels:
        runs = [r for r in table if r["label"] == lab]
        sds = [v for v in (_num(r.get("pass@1_sampling_sd")) for r in runs) if v is not None]
        p1 = list(by_seed(table, lab, "pass@1").values())
        sampling = math.sqrt(statistics.fmean(s * s for s in sds)) if sds else math.nan
        between = statistics.stdev(p1) if len(p1) > 1 else math.nan
        share = sampling**2 / between**2 if between and not math.isnan(between + sampling) else math.nan
        cells = [f"{x:.4f}" if not math.isnan(x) else "n/a" for x in (sampling, between)]
        lines.append(f"| {lab} | {len(p1)} | {' | '.join(cells)} | {'n/a' if math.isnan(share) else f'{share:.2f}'} |")
    return lines


def noise_markdown(table: list[dict], labels: list[str]) -> list[str]:
    """Each label's per-run sampling s.d. of final pass@1 beside the s.d. of pass@1 between its seeds."""
    lines = ["", "## Evaluation noise against seed noise (final pass@1)²", ""]
    lines += ["| label | seeds | sampling s.d. of one run | s.d. between seeds | sampling / between variance |"]
    lines += ["|---|---|---|---|---|", *noise_rows(table, labels), ""]
    lines.append(
        "² Sampling s.d.: √((pass@2 − pass@1) / (problems × samples)) per run, the s.d. of a run's pass@1 from its "
        "evaluation draws alone on the fixed problems (root mean square over seeds). The between-seed s.d. contains "
        "it: a variance ratio near 1 means the evaluation, not training, makes most of the spread between seeds."
    )
    return lines
