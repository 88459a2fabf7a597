"""The figures of `rlvr compare` (matplotlib, the `plots` extra), called by `rlvr.report.write_report`.

Curves vs training step put every label on the same axes: the mean over seeds as a line and the min–max over
seeds as a band. `passk_curve.png` is the final pass@k vs k (log2 axis), mean line and min–max band over seeds.

    pass1_vs_step.png            eval/pass@1
    entropy_vs_step.png          training `entropy`, moving average over 5 logged steps (it is noisy per batch)
    zero_std_vs_step.png         `frac_reward_zero_std`; dashed: `explore/frac_zero_std_after` (what was trained on)
    distinct_answers_vs_step.png eval/distinct_answers
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display, safe on headless machines and in threads

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def color(i: int):
    """The i-th label's colour: matplotlib's 10-colour cycle, then tab20's other shades (a testbed has ~27 labels)."""
    if i < 10:
        return f"C{i}"
    return plt.get_cmap("tab20")((2 * (i - 10) + 1) % 20)  # the lighter shade of each of tab20's pairs


CURVES = (
    ("pass1_vs_step.png", "eval/pass@1", "pass@1 (held-out)", 1, None),
    ("entropy_vs_step.png", "entropy", "token entropy (training, smoothed)", 5, None),
    ("zero_std_vs_step.png", "frac_reward_zero_std", "groups with zero reward std", 1, "explore/frac_zero_std_after"),
    ("distinct_answers_vs_step.png", "eval/distinct_answers", "distinct answers per problem (held-out)", 1, None),
)


def series(run: dict, key: str, smooth: int = 1) -> dict[int, float]:
    """step -> value for the rows that log `key` (a later row of the same step wins, e.g. after a resume)."""
    points = {r["step"]: float(r[key]) for r in run["metrics"] if isinstance(r.get(key), int | float)}
    steps = sorted(points)
    values = np.array([points[s] for s in steps])
    if smooth > 1 and len(values):  # trailing mean, shorter at the start, so the curve keeps its first points
        csum = np.cumsum(np.insert(values, 0, 0.0))
        lo = np.maximum(np.arange(1, len(values) + 1) - smooth, 0)
        values = (csum[1:] - csum[lo]) / (np.arange(1, len(values) + 1) - lo)
    return dict(zip(steps, values.tolist()))


def band(ax, per_seed: list[dict[int, float]], color: str, label: str, dashed: bool = False) -> bool:
    """Mean line and min–max band over the seeds that logged each step; False when nothing was logged."""
    steps = sorted({s for d in per_seed for s in d})
    if not steps:
        return False
    values = [[d[s] for d in per_seed if s in d] for s in steps]
    ax.plot(steps, [np.mean(v) for v in values], color=color, label=label, linestyle="--" if dashed else "-")
    if len(per_seed) > 1:
        ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], color=color, alpha=0.15, lw=0)
    return True


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, drawn: bool) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize="small")
    else:  # an empty figure beats a missing file: scripts and READMEs can rely on all five existing
        ax.text(0.5, 0.5, "no data logged", ha="center", va="center", transform=ax.transAxes)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def write_figures(groups: dict[str, list[dict]], ks: list[int], out: Path) -> list[Path]:
    paths = []
    for name, key, ylabel, smooth, extra in CURVES:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        drawn = False
        for i, (label, runs) in enumerate(groups.items()):
            drawn |= band(ax, [series(r, key, smooth) for r in runs], color(i), label)
            if extra:
                drawn |= band(ax, [series(r, extra) for r in runs], color(i), f"{label} (trained on)", True)
        ax.set_title(ylabel + " (mean; band: min–max over seeds)", fontsize="medium")
        paths.append(_finish(fig, ax, out / name, "step", ylabel, drawn))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, runs) in enumerate(groups.items()):
        finals = [[(r["summary"].get("final_eval") or {}).get(f"pass@{k}") for r in runs] for k in ks]
        finals = [[v for v in vs if v is not None] for vs in finals]
        keep = [j for j, vs in enumerate(finals) if vs]
        xs, c = [ks[j] for j in keep], color(i)
        ax.plot(xs, [np.mean(finals[j]) for j in keep], marker="o", ms=3, color=c, label=label)
        lows, highs = [min(finals[j]) for j in keep], [max(finals[j]) for j in keep]
        ax.fill_between(xs, lows, highs, color=c, alpha=0.12, lw=0)  # min–max over seeds
    if ks:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_title("final pass@k (mean; band: min–max over seeds)", fontsize="medium")
    paths.append(_finish(fig, ax, out / "passk_curve.png", "k (samples per problem)", "pass@k", bool(ks)))
    return paths
