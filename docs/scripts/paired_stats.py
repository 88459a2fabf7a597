"""Paired, Holm-adjusted differences and the noise table from a committed results.csv (no run directories needed).

    python docs/scripts/paired_stats.py results/default results/addition_ablations [--problems 128 --samples 16]
    python docs/scripts/paired_stats.py results/collapse_confirm --baseline grpo_4x_batch \
        --labels dars lp_reg passk_advantage --metrics pass@1 pass@64     # against a control, its own Holm family

For each comparison: one table per metric (pass@1, pass@16) of paired differences to the baseline (`grpo`, else the
first label whose module is `none`) with exact t intervals, Holm over that table's comparisons, Welch beside; then
each label's evaluation sampling s.d. of pass@1 against its between-seed s.d. CSVs written before rlvr reported the
sampling s.d. get it from pass@1 and pass@2 with the evaluation size given (the committed comparisons: 128 x 16).
Used for the statistics in docs/results.md.
"""

import argparse
import csv
from pathlib import Path

from rlvr.report_stats import diff_markdown, noise_markdown
from rlvr.stats import pass1_sampling_sd


def load(path: Path, problems: int, samples: int) -> list[dict]:
    with (path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if not r.get("pass@1_sampling_sd"):
            r["pass@1_sampling_sd"] = pass1_sampling_sd(float(r["pass@1"]), float(r["pass@2"]), problems, samples)
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("results", nargs="+", help="comparison directories with a results.csv")
    p.add_argument("--problems", type=int, default=128)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--baseline", help="label to pair against (default: grpo, else the first `none` label)")
    p.add_argument("--labels", nargs="+", help="the labels compared to the baseline (default: all others)")
    p.add_argument("--metrics", nargs="+", default=["pass@1", "pass@16"])
    args = p.parse_args()
    for path in map(Path, args.results):
        rows = load(path, args.problems, args.samples)
        labels = list(dict.fromkeys(r["label"] for r in rows))
        default = "grpo" if "grpo" in labels else next(r["label"] for r in rows if r["module"] == "none")
        base = args.baseline or default
        unknown = [lab for lab in [base, *(args.labels or [])] if lab not in labels]
        if unknown:
            raise SystemExit(f"paired_stats: {path} has no label {unknown[0]!r}; it has {', '.join(labels)}")
        labels = [base] + [lab for lab in (args.labels or labels) if lab != base]
        keys = [k for k in args.metrics if k in rows[0]]
        print(f"# {path}\n" + "\n".join(diff_markdown(rows, labels, base, keys) + noise_markdown(rows, labels)) + "\n")


if __name__ == "__main__":
    main()
