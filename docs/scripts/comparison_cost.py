"""What a testbed's comparison costs, from its committed records: runs, run-minutes, and the wall at N jobs.

    python docs/scripts/comparison_cost.py results/rare results/collapse results/easy [--jobs 2]

Per testbed: finished runs, the sum of their training walls (`train_seconds` in summary.json: training and the
evaluations inside it), that sum divided by `--jobs` (the comparison's wall when `--jobs` runs share the machine
throughout and none waits), the mean per run, and the most expensive labels. A run's wall was measured while the
other job (and sometimes other work) shared the cores, so these are what the comparison cost on that machine, not
an idle-machine figure. Written by hand: a few sums over JSON files.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def cost(out: Path) -> dict:
    walls: dict[str, list[float]] = defaultdict(list)
    for path in sorted(out.glob("records/*/summary.json")):
        label = path.parent.name.rsplit("__s", 1)[0]
        walls[label].append(float(json.loads(path.read_text())["train_seconds"]))
    every = [w for ws in walls.values() for w in ws]
    per_label = {lab: statistics.fmean(ws) for lab, ws in walls.items()}
    return dict(runs=len(every), run_minutes=sum(every) / 60, per_label=per_label)


def line(name: str, c: dict, jobs: int, top: int = 3) -> str:
    if not c["runs"]:
        return f"| {name} | 0 | – | – | – | – |"
    dear = sorted(c["per_label"].items(), key=lambda kv: -kv[1])[:top]
    mean = c["run_minutes"] * 60 / c["runs"]
    return (
        f"| {name} | {c['runs']} | {c['run_minutes']:.0f} | {c['run_minutes'] / jobs:.0f} | {mean:.0f} s | "
        + ", ".join(f"{lab} {s:.0f} s" for lab, s in dear)
        + " |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outs", nargs="+", type=Path, help="comparison output dirs (with records/)")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    print(f"| testbed | runs | run-minutes | minutes at --jobs {args.jobs} | mean per run | dearest labels (mean) |")
    print("|---|---|---|---|---|---|")
    for out in args.outs:
        print(line(out.name, cost(out), args.jobs))


if __name__ == "__main__":
    main()
