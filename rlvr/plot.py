"""`rlvr plot RUN [RUN ...]`: a run's curves (or several runs' on shared axes) with the compare figures' code.

    rlvr plot runs/grpo__none__s0                       -> runs/grpo__none__s0/plots/*.png
    rlvr plot runs/a runs/b --out plots/a_vs_b          -> one line per run

Figures (`rlvr.figures`): pass1_vs_step, passk_vs_step (the largest k evaluated), reward_vs_step, entropy_vs_step,
zero_std_vs_step (groups with zero reward variance), distinct_answers_vs_step and, for finished runs, passk_curve.
A run still training has no summary.json: its curves are drawn from metrics.jsonl so far.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.errors import RLVRError


def load_plot_run(path: Path) -> dict:
    """metrics.jsonl rows and summary.json (empty while the run trains); one-line errors for what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise RLVRError(f"run directory '{path}' does not exist")
    metrics_path = path / "metrics.jsonl"
    if not metrics_path.is_file():
        raise RLVRError(f"'{path}' has no metrics.jsonl: not a run directory (or the run has not logged a step yet)")
    rows = []
    for lineno, line in enumerate(metrics_path.read_text().splitlines(), 1):
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            raise RLVRError(f"{metrics_path}:{lineno} is not a JSON object; the file is corrupt") from None
        if row is not None:
            if not isinstance(row, dict) or "step" not in row:
                raise RLVRError(f"{metrics_path}:{lineno} has no 'step'; the file is corrupt")
            rows.append(row)
    summary = {}
    if (path / "summary.json").is_file():
        try:
            summary = json.loads((path / "summary.json").read_text())
        except json.JSONDecodeError:
            raise RLVRError(f"{path / 'summary.json'} is not valid JSON; the file is corrupt") from None
    return {"metrics": rows, "summary": summary}


def eval_ks(runs: list[dict]) -> list[int]:
    keys = {k for r in runs for row in r["metrics"] for k in row if k.startswith("eval/pass@")}
    return sorted(int(k.split("@")[1]) for k in keys if k.split("@")[1].isdigit())


def plot_runs(paths: list[str | Path], out: str | Path | None = None) -> list[Path]:
    import matplotlib.pyplot as plt

    from rlvr import figures

    if not paths:
        raise RLVRError("rlvr plot needs at least one run directory")
    labels = [Path(p).resolve().name for p in paths]
    if len(set(labels)) < len(labels):
        labels = [str(p) for p in paths]  # same directory names: tell them apart by path
    groups = {label: [load_plot_run(p)] for label, p in zip(labels, paths)}
    runs = [r for rs in groups.values() for r in rs]
    ks = eval_ks(runs)
    dest = Path(out) if out else Path(paths[0]) / "plots"
    dest.mkdir(parents=True, exist_ok=True)
    paths_out = figures.write_figures(groups, ks, dest)
    extra = [("reward_vs_step.png", "reward", "mean reward (training, smoothed)", 5)]
    if ks:
        extra.append(("passk_vs_step.png", f"eval/pass@{ks[-1]}", f"pass@{ks[-1]} (held-out)", 1))
    for name, key, ylabel, smooth in extra:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        drawn = False
        for i, (label, rs) in enumerate(groups.items()):
            drawn |= figures.band(ax, [figures.series(r, key, smooth) for r in rs], f"C{i % 10}", label)
        ax.set_title(ylabel, fontsize="medium")
        paths_out.append(figures._finish(fig, ax, dest / name, "step", ylabel, drawn))
    return paths_out
