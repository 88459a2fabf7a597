"""What a testbed does to plain GRPO, per seed, from a comparison's committed records (no run directories needed).

    python docs/scripts/testbed_behaviour.py results/collapse [--label grpo]
    python docs/scripts/testbed_behaviour.py --screens results/testbed_tuning/screens   # `rlvr eval --out` files

For each seed of `--label`: held-out pass@1 and pass@kmax (kmax = the evaluation's largest k) at step 0 and at the
final step, token entropy, distinct answers per problem and the share of all-wrong problems, then the training-time
share of tokens whose importance ratio was clipped (TRL's `clip_ratio/region_mean`) in the first and last tenth of
the logged steps and over all of them, and the training wall. The last lines are the seed means and the paired
final − initial change with its exact t interval (scipy). Used for docs/testbeds.md.
"""

import argparse
import json
import re
import statistics
from pathlib import Path

from rlvr.stats import paired

EVAL_KEYS = ("entropy", "distinct_answers", "frac_all_wrong")


def runs_of(out: Path, label: str) -> list[Path]:
    base = out / "records" if (out / "records").is_dir() else out / "runs"
    return sorted(p for p in base.glob(f"{label}__s*") if (p / "summary.json").is_file())


def clip_windows(metrics: Path) -> tuple[float, float, float]:
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    clip = [r["clip_ratio/region_mean"] for r in rows if "clip_ratio/region_mean" in r]
    tenth = max(len(clip) // 10, 1)
    return statistics.mean(clip[:tenth]), statistics.mean(clip), statistics.mean(clip[-tenth:])


def seed_row(run: Path) -> dict:
    s = json.loads((run / "summary.json").read_text())
    ini, fin = s["initial_eval"], s["final_eval"]
    kmax = max(int(k.split("@")[1]) for k in fin if k.startswith("pass@") and not k.endswith("_sd"))
    row = {"seed": s["seed"], "kmax": kmax, "problems": fin.get("num_problems"), "samples": fin.get("num_samples")}
    for when, ev in (("initial", ini), ("final", fin)):
        row[f"{when} pass@1"], row[f"{when} pass@{kmax}"] = ev["pass@1"], ev[f"pass@{kmax}"]
        row.update({f"{when} {k}": ev[k] for k in EVAL_KEYS})
    row["clip early"], row["clip all"], row["clip late"] = clip_windows(run / "metrics.jsonl")
    row["train s"] = s["train_seconds"]
    return row


def cell(key: str, value: float) -> str:
    if key.startswith("clip"):
        return f"{100 * value:.2f}%"
    return f"{value:.0f}" if key == "train s" else f"{value:.3f}"


SCREEN_KEYS = ("pass@1", "pass@16", "pass@64", "frac_all_wrong", "entropy", "num_problems", "num_samples")


def screens(directory: Path) -> None:
    """One row per `rlvr eval --out FILE` JSON (the file name carries the overrides screened)."""
    print("| setting | " + " | ".join(SCREEN_KEYS) + " |")
    print("|---" * (len(SCREEN_KEYS) + 1) + "|")
    for f in sorted(directory.glob("*.json")):
        ev = json.loads(f.read_text())
        setting = re.sub(r"_(\d+)", r"=\1", f.stem.split("_", 1)[1].replace("task_", "task.")).replace(
            "_task.", " task."
        )
        print(
            f"| {setting} | "
            + " | ".join(f"{ev[k]:.3f}" if k.startswith(("pass", "frac", "ent")) else str(ev[k]) for k in SCREEN_KEYS)
            + " |"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", nargs="?", help="a comparison directory (records/ or runs/)")
    p.add_argument("--label", default="grpo")
    p.add_argument("--screens", type=Path, help="a folder of `rlvr eval --out` JSON files instead")
    args = p.parse_args()
    if args.screens:
        return screens(args.screens)
    rows = [seed_row(r) for r in runs_of(Path(args.out), args.label)]
    if not rows:
        raise SystemExit(f"no finished '{args.label}' runs under {args.out}")
    keys = [k for k in rows[0] if k not in ("seed", "kmax", "problems", "samples")]
    print(f"{args.out} · {args.label} · final eval {rows[0]['problems']} problems x {rows[0]['samples']} samples")
    print("| seed | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for r in rows + [{"seed": "mean", **{k: statistics.mean(x[k] for x in rows) for k in keys}}]:
        print(f"| {r['seed']} | " + " | ".join(cell(k, r[k]) for k in keys) + " |")
    if len(rows) >= 2:
        kmax = rows[0]["kmax"]
        for metric in ("pass@1", f"pass@{kmax}", "entropy", "distinct_answers", "frac_all_wrong"):
            final = {r["seed"]: r[f"final {metric}"] for r in rows}
            d = paired(final, {r["seed"]: r[f"initial {metric}"] for r in rows})
            interval = f"[{d.low:+.3f}, {d.high:+.3f}]"
            print(f"final - initial {metric}: {d.diff:+.3f} {interval} (paired t, {len(rows)} seeds)")


if __name__ == "__main__":
    main()
