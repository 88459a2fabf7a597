"""The tables of `rlvr compare`: `results.csv` (one row per run) and `results.md` (mean ± s.e. per label, and
differences to the baseline with 95% confidence intervals); the figures are drawn by `rlvr/figures.py`.

    from rlvr.report import write_report
    write_report("results/default")            # reads results/default/runs/<label>__s<seed>/

Only finished runs (with `summary.json`) are reported. The baseline is the label whose exploration module is
`none` (else the first label). Intervals are Welch t intervals: scipy's t quantile when installed, else a small
table (rounding the degrees of freedom down, so slightly conservative).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import yaml

from rlvr.errors import RLVRError

FINAL = ("greedy_accuracy", "entropy", "distinct_answers", "frac_zero_std")
# two-sided 95% t quantiles by degrees of freedom, for when scipy is absent
T95_Q = "12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.179 2.131 2.086 2.042 2.000 1.980"
T95 = dict(zip((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 30, 60, 120), map(float, T95_Q.split())))


def load_runs(out: Path) -> list[dict]:
    """Finished runs under OUT/runs: label, seed, recipe, module, summary and the metrics.jsonl rows."""
    runs = []
    for d in sorted((out / "runs").glob("*__s*")):
        if not (d / "summary.json").is_file():
            continue
        summary = json.loads((d / "summary.json").read_text())
        config = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else {}
        label, _, seed = d.name.rpartition("__s")
        metrics = (d / "metrics.jsonl").read_text().splitlines() if (d / "metrics.jsonl").is_file() else []
        module = ((config or {}).get("exploration") or {}).get("name") or summary.get("exploration") or "?"
        seed = summary.get("seed", int(seed) if seed.isdigit() else seed)
        records = [json.loads(line) for line in metrics if line.strip()]
        runs.append(
            dict(label=label, seed=seed, module=module, recipe=summary.get("recipe"), summary=summary, metrics=records)
        )
    return runs


def group(runs: list[dict], labels: list[str] | None = None) -> dict[str, list[dict]]:
    """Runs by label: in `labels` order, then any other label, baseline first when no order is given."""
    found = sorted({r["label"] for r in runs})
    if not labels:
        found.sort(key=lambda lab: not any(r["module"] == "none" for r in runs if r["label"] == lab))
    order = [lab for lab in labels or [] if lab in found] + [lab for lab in found if lab not in (labels or [])]
    return {lab: sorted((r for r in runs if r["label"] == lab), key=lambda r: str(r["seed"])) for lab in order}


def ks_of(runs: list[dict]) -> list[int]:
    keys = {k for r in runs for k in (r["summary"].get("final_eval") or {}) if k.startswith("pass@")}
    return sorted(int(k[5:]) for k in keys if k[5:].isdigit())


def rows(runs: list[dict]) -> list[dict]:
    ks = ks_of(runs)
    out = []
    for r in runs:
        s, final, initial = r["summary"], r["summary"].get("final_eval") or {}, r["summary"].get("initial_eval") or {}
        row = dict(label=r["label"], recipe=r["recipe"], module=r["module"], seed=r["seed"])
        row.update({f"pass@{k}": final.get(f"pass@{k}") for k in ks})
        row.update({key: final.get(key) for key in FINAL})
        row.update(steps=s.get("steps"), wall_seconds=s.get("train_seconds"), trained_tokens=s.get("num_tokens"))
        row["sampled_tokens"] = sampled_per_rollout(r)
        row["initial_pass@1"] = initial.get("pass@1")
        out.append(row)
    return out


def sampled_per_rollout(run: dict) -> float | None:
    """Mean tokens sampled per rollout batch (kept or not); None for runs logged before rlvr counted them."""
    value = signature(run, ("sampled_tokens",), "all")
    return None if math.isnan(value) else value


def mean_se(values: list) -> tuple[float, float]:
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan)


def t_quantile(df: float) -> tuple[float, str]:
    try:
        from scipy.stats import t

        return float(t.ppf(0.975, df)), "scipy"
    except ImportError:
        usable = [d for d in T95 if d <= max(df, 1)]
        return (T95[max(usable)] if df < 150 else 1.960), "table"


def welch(a: list, b: list) -> tuple[float, float, float, str]:
    """Difference of means a - b with a Welch 95% interval: (diff, low, high, quantile source)."""
    a, b = [float(x) for x in a if x is not None], [float(x) for x in b if x is not None]
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:  # no spread estimate from a single seed
        return diff, math.nan, math.nan, "n/a"
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    denom = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
    t, source = t_quantile((va + vb) ** 2 / denom if denom > 0 else math.inf)
    return diff, diff - t * se, diff + t * se, source


# Training-time signatures from metrics.jsonl: (column, metric keys in order of preference, window of the run)
SIGNATURES = (
    ("zero-std groups trained on", ("explore/frac_zero_std_after", "frac_reward_zero_std"), "all"),
    ("token entropy, last quarter", ("entropy",), "late"),
    ("distinct completions / group, first tenth", ("diversity/distinct_completions",), "early"),
    ("distinct answers / group, first tenth", ("diversity/distinct_answers",), "early"),
)


def signature(run: dict, keys: tuple[str, ...], window: str) -> float:
    """Mean of the first of `keys` a run logs, over its training rows in `window` (all / early / late)."""
    steps = run["summary"].get("steps") or max((m["step"] for m in run["metrics"]), default=0)
    lo, hi = {"all": (1, steps), "early": (1, max(1, steps // 10)), "late": (steps - steps // 4 + 1, steps)}[window]
    for key in keys:
        vals = [m[key] for m in run["metrics"] if key in m and lo <= m["step"] <= hi]
        if vals:
            return sum(vals) / len(vals)
    return float("nan")


def signatures_markdown(groups: dict[str, list[dict]]) -> list[str]:
    lines = ["", "## Training-time signatures (mean over seeds, from metrics.jsonl)", ""]
    lines += ["| label | " + " | ".join(c for c, _, _ in SIGNATURES) + " |", "|" + "---|" * (1 + len(SIGNATURES))]
    for lab, rs in groups.items():
        cells = [fmt(statistics.fmean([signature(r, keys, w) for r in rs])) for _, keys, w in SIGNATURES]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Windows over the run's steps: first tenth, last quarter. Zero-std groups: the share of groups with zero "
        "reward variance in the batches the optimizer saw (`explore/frac_zero_std_after` when a module refills them)."
    )
    return lines


def fmt(x: float, signed: bool = False, like: float | None = None) -> str:
    """3 decimals for rates and small counts, fewer for big numbers (`like`: take the digits of this value)."""
    if x is None or math.isnan(x):
        return "n/a"
    ref = abs(x if like is None else like)
    digits = 3 if ref < 10 else 1 if ref < 100 else 0
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def markdown(runs: list[dict], labels: list[str] | None, out: Path) -> str:
    groups, table = group(runs, labels), rows(runs)
    metrics = [f"pass@{k}" for k in ks_of(runs)] + [*FINAL, "initial_pass@1", "steps", "wall_seconds", "sampled_tokens"]
    lines = [f"# Comparison: {out}", ""]
    lines.append(
        f"{len(runs)} finished runs. Final held-out evaluation, mean ± standard error over seeds (n/a: 1 seed). "
        "Costs: `wall_seconds` of training, `sampled_tokens` per rollout batch, discarded candidates, refills and "
        "tree tokens included (n/a: runs from before rlvr counted them)."
    )
    lines += ["", "| label | module | seeds | " + " | ".join(metrics) + " |", "|" + "---|" * (3 + len(metrics))]
    for lab, rs in groups.items():
        stats = [mean_se([x[key] for x in table if x["label"] == lab]) for key in metrics]
        cells = [fmt(m) + ("" if math.isnan(se) else f" ± {fmt(se, like=m)}") for m, se in stats]
        lines.append(f"| {lab} | {rs[0]['module']} | {len(rs)} | " + " | ".join(cells) + " |")
    base = next((lab for lab, rs in groups.items() if rs[0]["module"] == "none"), next(iter(groups)))
    lines += ["", f"## Difference to the baseline `{base}` (95% CI)¹", ""]
    lines += ["| label | Δ pass@1 | Δ pass@16 |", "|---|---|---|"]
    for lab in groups:
        if lab == base:
            continue
        cells = []
        for key in ("pass@1", "pass@16"):
            mine, theirs = ([x.get(key) for x in table if x["label"] == g] for g in (lab, base))
            if any(v is None for v in mine + theirs):
                cells.append("n/a")
                continue
            diff, lo, hi, _ = welch(mine, theirs)
            cells.append(fmt(diff, True) + ("" if math.isnan(lo) else f" [{fmt(lo, True)}, {fmt(hi, True)}]"))
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += signatures_markdown(groups)
    tabled = t_quantile(2.0)[1] == "table"  # say how intervals are (or would be) computed, even with none shown
    how = "a t-quantile table (scipy not installed; df rounded down)" if tabled else "scipy's t quantile"
    lines += [
        "",
        f"¹ Welch t interval for the difference of the seed means, with {how}; no interval unless both have ≥ 2 seeds.",
    ]
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, labels: list[str] | None = None) -> list[Path]:
    """Write results.csv, results.md and the figures for the finished runs under OUT/runs; returns the paths."""
    out = Path(out)
    runs = load_runs(out)
    if not runs:
        raise RLVRError(f"no finished runs (runs/*/summary.json) under '{out}'")
    table = rows(runs)
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    (out / "results.md").write_text(markdown(runs, labels, out))
    written = [out / "results.csv", out / "results.md"]
    try:
        from rlvr.figures import write_figures
    except ImportError:  # matplotlib is the optional `plots` extra: the tables are still worth having
        print("figures skipped: matplotlib is not installed (pip install 'rlvr[plots]')")
        return written
    return written + write_figures(group(runs, labels), ks_of(runs), out)
