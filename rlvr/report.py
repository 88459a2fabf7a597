"""The tables of `rlvr compare`: `results.csv` (one row per run) and `results.md` (mean ± s.e. per label, paired
differences to the baseline with raw and Holm-adjusted intervals, evaluation noise against seed noise); the figures
are drawn by `rlvr/figures.py`.

    from rlvr.report import write_report
    write_report("results/default")            # reads results/default/runs/<label>__s<seed>/

Only finished runs (with `summary.json`) are reported. The baseline is the label whose exploration module is
`none` (else the first label). Differences are paired by seed (`rlvr/stats.py`: exact t intervals from scipy);
Holm's correction runs over the comparisons of one metric's table; Welch's unpaired interval is a secondary column.
Each report copies every run's summary.json, metrics.jsonl and config.yaml to OUT/records/<run>/ (small, meant to
be committed), and reads a run from there when OUT/runs/ lacks it, so a committed comparison re-derives its tables.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import yaml

from rlvr.errors import RLVRError
from rlvr.report_stats import diff_markdown, noise_markdown
from rlvr.stats import pass1_sampling_sd

FINAL = ("greedy_accuracy", "entropy", "distinct_answers", "frac_zero_std")


RECORD_FILES = ("summary.json", "metrics.jsonl", "config.yaml")


def run_dirs(out: Path) -> list[Path]:
    """Each finished run's directory: OUT/runs/<name> when it has a summary.json, else its copy in OUT/records."""
    found = {}
    for base in ("records", "runs"):  # runs/ last: a run on disk wins over its (possibly older) copy
        for d in (out / base).glob("*__s*"):
            if (d / "summary.json").is_file():
                found[d.name] = d
    return [found[name] for name in sorted(found)]


def save_records(out: Path) -> int:
    """Copy summary.json, metrics.jsonl and config.yaml of every finished run in OUT/runs to OUT/records/<run>/."""
    copied = 0
    for d in run_dirs(out):
        if d.parent.name != "runs":
            continue
        (out / "records" / d.name).mkdir(parents=True, exist_ok=True)
        for name in RECORD_FILES:
            if (d / name).is_file():
                (out / "records" / d.name / name).write_bytes((d / name).read_bytes())
        copied += 1
    return copied


def read_json(path: Path):
    """A JSON file, or a one-line RLVRError naming it (a run killed while writing leaves a truncated file)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RLVRError(f"{path} is unreadable ({type(exc).__name__}): delete it, or the run, and re-run it") from exc


def load_run(d: Path) -> dict:
    """One finished run: label, seed, recipe, module, summary and the metrics.jsonl rows."""
    summary = read_json(d / "summary.json")
    config = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else {}
    label, _, seed = d.name.rpartition("__s")
    metrics = (d / "metrics.jsonl").read_text().splitlines() if (d / "metrics.jsonl").is_file() else []
    module = module_name((config or {}).get("exploration")) or summary.get("exploration") or "?"
    seed = summary.get("seed", int(seed) if seed.isdigit() else seed)
    try:
        records = [json.loads(line) for line in metrics if line.strip()]
    except json.JSONDecodeError as exc:
        raise RLVRError(f"{d / 'metrics.jsonl'} has a corrupt line ({exc.msg}); delete the run and re-run it") from exc
    return dict(label=label, seed=seed, module=module, recipe=summary.get("recipe"), summary=summary, metrics=records)


def module_name(block) -> str | None:
    """The exploration block's module name; a stack (a list of blocks) joins its names with '+'."""
    if isinstance(block, list):
        names = [module_name(b) for b in block]
        return "+".join(n for n in names if n) or None
    return block.get("name") if isinstance(block, dict) else None


def load_runs(out: Path) -> list[dict]:
    """Finished runs under OUT/runs, or their copies under OUT/records (see `run_dirs`)."""
    return [load_run(d) for d in run_dirs(out)]


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
        row["start_model"] = s.get("start_model")
        row["pass@1_sampling_sd"] = sampling_sd(final)
        out.append(row)
    return out


def sampled_per_rollout(run: dict) -> float | None:
    """Mean tokens sampled per rollout batch (kept or not); None for runs logged before rlvr counted them."""
    value = signature(run, ("sampled_tokens",), "all")
    return None if math.isnan(value) else value


def sampling_sd(ev: dict) -> float | None:
    """An evaluation's s.d. of pass@1 from sampling alone (its own `pass@1_sd`, else from pass@1 and pass@2)."""
    sd = ev.get("pass@1_sd")
    if sd is None:
        sd = pass1_sampling_sd(ev.get("pass@1"), ev.get("pass@2"), ev.get("num_problems"), ev.get("num_samples"))
    return None if math.isnan(sd) else sd


def mean_se(values: list) -> tuple[float, float]:
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan)


# Training-time signatures from metrics.jsonl: (column, metric keys in order of preference, window of the run)
SIGNATURES = (
    ("zero-std groups trained on", ("explore/frac_zero_std_after", "frac_reward_zero_std"), "all"),
    ("token entropy, last quarter", ("entropy",), "late"),
    ("distinct completions / group, first tenth", ("diversity/distinct_completions",), "early"),
    ("distinct answers / group, first tenth", ("diversity/distinct_answers",), "early"),
    ("hidden-state effective rank / group, last quarter", ("diag/effective_rank",), "late"),
    ("distinct correct answers / group", ("diag/distinct_correct_answers",), "all"),
    ("reward AUC correct vs wrong", ("diag/reward_auc",), "all"),
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
        "reward variance in the batches the optimizer saw (`explore/frac_zero_std_after` when a module refills them). "
        "Effective rank, distinct correct answers and reward AUC: `diag/*`, defined in rlvr/diagnostics.py (n/a: runs "
        "logged before rlvr had them)."
    )
    return lines


def fmt(x: float, signed: bool = False, like: float | None = None) -> str:
    """3 decimals for rates and small counts, fewer for big numbers (`like`: take the digits of this value)."""
    if x is None or math.isnan(x):
        return "n/a"
    ref = abs(x if like is None else like)
    digits = 3 if ref < 10 else 1 if ref < 100 else 0
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def diff_keys(ks: list[int]) -> list[str]:
    """The metrics with a difference table: pass@1, pass@16 and the largest k evaluated."""
    return [f"pass@{k}" for k in sorted({1, 16, max(ks, default=1)} & set(ks))]


def seeds_line(out: Path) -> str:
    from rlvr.compare import read_seed_record

    record = read_seed_record(out)
    if record is None:
        return (
            "Seed list: not recorded (a comparison from before rlvr recorded it, or runs not made by `rlvr compare`)."
        )
    added = [s for a in record.get("added", []) for s in a["seeds"]]
    later = f"; added after the first run had started (--add-seeds): {added}" if added else ""
    return f"Seed list fixed when the first run started ({record['started']}): {record['seeds']}{later}."


def markdown(runs: list[dict], labels: list[str] | None, out: Path) -> str:
    groups, table = group(runs, labels), rows(runs)
    metrics = [f"pass@{k}" for k in ks_of(runs)] + [*FINAL, "initial_pass@1", "steps", "wall_seconds", "sampled_tokens"]
    lines = [f"# Comparison: {out}", ""]
    lines.append(
        f"{len(runs)} finished runs. Final held-out evaluation, mean ± standard error over seeds (n/a: 1 seed). "
        "Costs: `wall_seconds` of training, `sampled_tokens` per rollout batch, discarded candidates, refills and "
        "tree tokens included (n/a: runs from before rlvr counted them)."
    )
    lines += ["", seeds_line(out)]
    lines += ["", "| label | module | seeds | " + " | ".join(metrics) + " |", "|" + "---|" * (3 + len(metrics))]
    for lab, rs in groups.items():
        stats = [mean_se([x[key] for x in table if x["label"] == lab]) for key in metrics]
        cells = [fmt(m) + ("" if math.isnan(se) else f" ± {fmt(se, like=m)}") for m, se in stats]
        lines.append(f"| {lab} | {rs[0]['module']} | {len(rs)} | " + " | ".join(cells) + " |")
    base = baseline_label(groups)
    paired_table, mixed = same_start_rows(table, base)
    if mixed:
        lines += ["", f"**Left out of the paired differences: {', '.join(mixed)}** started from another build of the "
                  f"warm start than `{base}` of the same seed (`start_model` in summary.json differs): a pair would "
                  "mix the two builds. Retrain one side from the same build."]  # fmt: skip
    lines += diff_markdown(paired_table, list(groups), base, diff_keys(ks_of(runs)))
    lines += noise_markdown(table, list(groups))
    lines += signatures_markdown(groups)
    return "\n".join(lines) + "\n"


def baseline_label(groups: dict) -> str:
    """The label every other is compared with: `grpo` when the comparison has it, else its first label with module
    `none`, else its first label. (`dr_grpo` and the sample-count controls also run module `none`.)"""
    if "grpo" in groups:
        return "grpo"
    return next((lab for lab, rs in groups.items() if rs[0]["module"] == "none"), next(iter(groups)))


def same_start_rows(table: list[dict], base: str) -> tuple[list[dict], list[str]]:
    """The rows whose run started from the same weights as `base`'s run of that seed (or that cannot tell: runs
    from before rlvr fingerprinted the start), and the `label__s<seed>` names of the others."""
    ref = {str(r["seed"]): r.get("start_model") for r in table if r["label"] == base}
    kept, mixed = [], []
    for r in table:
        mine, theirs = r.get("start_model"), ref.get(str(r["seed"]))
        if mine and theirs and mine != theirs:
            mixed.append(f"{r['label']}__s{r['seed']}")
        else:
            kept.append(r)
    return kept, mixed


def write_report(out: str | Path, labels: list[str] | None = None) -> list[Path]:
    """Write results.csv, results.md and the figures for the finished runs (OUT/runs, else OUT/records); copy each
    run's records first (see `save_records`). Returns the paths written."""
    out = Path(out)
    runs = load_runs(out)
    if not runs:
        raise RLVRError(f"no finished runs (runs/*/summary.json or records/*/summary.json) under '{out}'")
    save_records(out)
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
