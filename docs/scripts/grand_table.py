"""The grand comparison: one module x testbed table of paired Δ pass@1 and Δ pass@k, a cost column, and its heat map.

    python docs/scripts/grand_table.py easy=recipes/compare_easy.yaml rare=recipes/compare_rare.yaml \
        collapse=recipes/compare_collapse.yaml [--figure docs/figures/grand_heatmap.png] [--compact]

`--compact` prints README's headline form: the paired Δ only (bold when it survives Holm), one column per testbed
and metric, no seeds or cost columns.

Each testbed is given by its comparison recipe: its `out:` directory holds the committed records, its `recipes:` the
row order. Per testbed and label: the paired Δ to the testbed's `grpo` over the seeds both ran (exact t, Holm over
that testbed's comparisons of one metric, as in results.md and the claims table; bold = survives Holm), the number of
paired seeds, the sampled tokens per rollout relative to `grpo`, and the mean training wall per run. A label not yet
run on a testbed shows `–`; one with a single paired seed shows its Δ with no interval. Pairs whose two runs started
from different warm-start builds are left out (rlvr/report.py `same_start_rows`), and the footnote names them.

Written by hand: the table is this project's own layout; the statistics are rlvr.report_stats / rlvr.claims.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from rlvr.claims import Cell, cells
from rlvr.compare import read_comparison
from rlvr.report import ks_of, load_runs, rows, same_start_rows
from rlvr.report_stats import ALPHA, by_seed

ROOT = Path(__file__).resolve().parents[2]


def testbed(spec: str, base: str) -> dict:
    """One testbed's labels (recipe order), table rows, kmax, Holm cells and the pairs left out."""
    name, _, recipe = spec.partition("=")
    comp = read_comparison(ROOT / recipe if not Path(recipe).is_file() else recipe)
    out = Path(comp.out)
    out = out if out.is_absolute() or out.exists() else ROOT / out
    runs = load_runs(out)
    table, mixed = same_start_rows(rows(runs), base) if runs else ([], [])
    labels = [e.label for e in comp.entries if any(r["label"] == e.label for r in table)]
    kmax = max(ks_of(runs)) if runs else _n_samples(comp.overrides)
    others = [lab for lab in labels if lab != base]
    metrics = {"pass@1": "pass@1", "pass@k": f"pass@{kmax}"}
    measured = {m: cells(table, others, base, key) if base in labels else {} for m, key in metrics.items()}
    order = [e.label for e in comp.entries]
    return dict(name=name, table=table, labels=labels, order=order, kmax=kmax, cells=measured, mixed=mixed)


def _n_samples(overrides: list[str]) -> int:
    """The final evaluation's samples per problem set in the comparison's overrides (the largest k it reports)."""
    found = [o.split("=", 1)[1] for o in overrides if o.startswith("eval.final.n_samples=")]
    return int(found[-1]) if found else 1


def paired_n(tb: dict, label: str, base: str) -> int:
    mine, ref = by_seed(tb["table"], label, "pass@1"), by_seed(tb["table"], base, "pass@1")
    return len(set(mine) & set(ref))


def cell_text(tb: dict, label: str, metric: str, base: str) -> str:
    if label not in tb["labels"]:
        return "–"
    if label == base:
        return _mean_text(tb, label, "pass@1" if metric == "pass@1" else f"pass@{tb['kmax']}")
    c: Cell = tb["cells"][metric][label]
    if math.isnan(c.holm_p):
        return "–" if math.isnan(c.diff) else f"{c.diff:+.3f} (1 seed)"
    return c.text()


def _mean_text(tb: dict, label: str, key: str) -> str:
    values = list(by_seed(tb["table"], label, key).values())
    return f"{statistics.fmean(values):.3f} (abs.)" if values else "–"


def cost_text(tb: dict, label: str, base: str) -> str:
    """Sampled tokens per rollout relative to the baseline, and the mean training wall per run."""

    def mean(lab: str, key: str) -> float:
        xs = [float(r[key]) for r in tb["table"] if r["label"] == lab and r.get(key) is not None]
        return statistics.fmean(xs) if xs else math.nan

    if label not in tb["labels"]:
        return "–"
    tokens, ref, wall = mean(label, "sampled_tokens"), mean(base, "sampled_tokens"), mean(label, "wall_seconds")
    ratio = "n/a" if math.isnan(tokens / ref) else f"{tokens / ref:.2f}x"
    return f"{ratio}, {wall:.0f} s" if not math.isnan(wall) else ratio


def markdown(tbs: list[dict], base: str) -> list[str]:
    order = list(dict.fromkeys(lab for tb in tbs for lab in tb["order"]))
    head = ["module"]
    for tb in tbs:
        head += [f"{tb['name']} Δ pass@1", f"{tb['name']} Δ pass@{tb['kmax']}", f"{tb['name']} seeds", "cost"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for lab in order:
        if not any(lab in tb["labels"] for tb in tbs):
            continue
        cells_ = [f"`{lab}`"]
        for tb in tbs:
            n = len(by_seed(tb["table"], lab, "pass@1")) if lab == base else paired_n(tb, lab, base)
            cells_ += [cell_text(tb, lab, "pass@1", base), cell_text(tb, lab, "pass@k", base)]
            cells_ += [str(n) if lab in tb["labels"] else "–", cost_text(tb, lab, base)]
        lines.append("| " + " | ".join(cells_) + " |")
    lines += ["", _footnote(tbs, base)]
    return lines


def compact_cell(tb: dict, label: str, metric: str, base: str) -> str:
    """The Δ alone: bold when it survives Holm, '(1 seed)' without an interval, '–' when not run."""
    text = cell_text(tb, label, metric, base)
    if label == base or text == "–" or "seed" in text:
        return text
    return text.split(" [")[0]


def compact_markdown(tbs: list[dict], base: str) -> list[str]:
    order = list(dict.fromkeys(lab for tb in tbs for lab in tb["order"]))
    head = ["module"] + [f"{tb['name']} Δ {m}" for tb in tbs for m in ("pass@1", f"pass@{tb['kmax']}")]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for lab in order:
        if any(lab in tb["labels"] for tb in tbs):
            row = [compact_cell(tb, lab, m, base) for tb in tbs for m in ("pass@1", "pass@k")]
            lines.append("| " + " | ".join([f"`{lab}`", *row]) + " |")
    return lines


def _footnote(tbs: list[dict], base: str) -> str:
    parts = [
        f"`{base}` rows show its absolute mean; the others show the paired Δ to it over the seeds both ran, with the "
        f"interval at the Holm level of its step (Holm over one testbed's comparisons of one metric; **bold**: "
        f"survives Holm at α = {ALPHA}). cost: sampled tokens per rollout relative to `{base}`, and mean training "
        "wall per run on the 2-core machine (2 runs at a time)."
    ]
    for tb in tbs:
        if tb["mixed"]:
            parts.append(f"{tb['name']}: left out (other warm-start build than `{base}`): {', '.join(tb['mixed'])}.")
        if not tb["labels"]:
            parts.append(f"{tb['name']}: no finished runs yet.")
    return " ".join(parts)


def heatmap(tbs: list[dict], base: str, path: Path) -> Path:
    """Δ per label (rows) and testbed x metric (columns); '*' marks a cell that survives Holm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    order = [lab for lab in dict.fromkeys(lab for tb in tbs for lab in tb["order"]) if lab != base]
    order = [lab for lab in order if any(lab in tb["labels"] for tb in tbs)]
    cols = [(tb, m) for tb in tbs for m in ("pass@1", "pass@k")]
    grid = np.full((len(order), len(cols)), np.nan)
    marks = [["" for _ in cols] for _ in order]
    for i, lab in enumerate(order):
        for j, (tb, m) in enumerate(cols):
            c = tb["cells"][m].get(lab)
            if c is not None and not math.isnan(c.diff):
                grid[i, j] = c.diff
                marks[i][j] = f"{c.diff:+.2f}" + (
                    "*" if c.holm_p < ALPHA else " (1 seed)" if math.isnan(c.holm_p) else ""
                )
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(2.0 + 1.1 * len(cols), 1.0 + 0.32 * len(order)))
    # symmetric log colours: rare's +0.02..0.04 stay visible beside collapse's -0.7 (linear within +-0.02)
    norm = matplotlib.colors.SymLogNorm(linthresh=0.02, vmin=-lim, vmax=lim, base=10)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu", norm=norm, aspect="auto")
    ax.set_facecolor("0.9")
    names = [f"{tb['name']}\nΔ " + ("pass@1" if m == "pass@1" else f"pass@{tb['kmax']}") for tb, m in cols]
    ax.set_xticks(range(len(cols)), names)
    ax.set_yticks(range(len(order)), order)
    for i in range(len(order)):
        for j in range(len(cols)):
            dark = np.isfinite(grid[i, j]) and abs(grid[i, j]) > 0.25 * lim
            ax.text(j, i, marks[i][j] or "–", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    fig.colorbar(im, ax=ax, label=f"paired Δ to {base} (symmetric log scale)")
    ax.set_title(f"Δ to {base} (* survives Holm; grey: not run)", fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("testbeds", nargs="+", help="name=comparison recipe (e.g. rare=recipes/compare_rare.yaml)")
    p.add_argument("--base", default="grpo")
    p.add_argument("--figure", type=Path, help="write the heat map here (PNG)")
    p.add_argument("--compact", action="store_true", help="README's form: the Δ only, bold when it survives Holm")
    args = p.parse_args()
    tbs = [testbed(spec, args.base) for spec in args.testbeds]
    print("\n".join((compact_markdown if args.compact else markdown)(tbs, args.base)))
    if args.figure:
        print(f"\nwrote {heatmap(tbs, args.base, args.figure)}")


if __name__ == "__main__":
    main()
