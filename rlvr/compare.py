"""`rlvr compare`: train every (recipe, seed) of a comparison, then tabulate and plot it (`rlvr/report.py`).

    rlvr compare recipes/grpo.yaml recipes/latr.yaml --seeds 3 --out results/latr --set train.max_steps=100
    rlvr compare recipes/compare_default.yaml       # a comparison recipe: recipes:, seeds:, overrides:, out:, jobs:
    rlvr compare --report-only --out results/latr   # re-make results.csv, results.md and the figures

Each run lives in OUT/runs/<label>__s<seed>. Re-running a command skips finished runs (summary.json, or on a fresh
clone their committed copy in OUT/records/), resumes interrupted ones (a checkpoint-*/ but no final summary) and
starts the rest fresh, so a long comparison can be stopped and continued, across machines too. `--jobs N` trains N
runs at once as subprocesses (one torch thread each; logs in OUT/logs).

The seed list is fixed when the first run starts (OUT/comparison.json): a later command with seeds outside it is
refused, since adding seeds after a first look at the results is optional stopping; `--add-seeds` merges them
anyway and the report says so. A finished or interrupted run whose stored config.yaml differs from what the
comparison would train now (an edited recipe or override) is refused before anything trains: skipping it would
report results of other settings under the new ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from rlvr.errors import ConfigError, RLVRError

SPEC_KEYS = ("recipes", "seeds", "overrides", "out", "jobs")
SEED_RECORD = "comparison.json"


@dataclass
class Entry:
    recipe: str
    label: str
    overrides: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    entries: list[Entry]
    seeds: list[int] = field(default_factory=lambda: [0])
    overrides: list[str] = field(default_factory=list)
    out: str | None = None
    jobs: int = 1


def _resolve(recipe: str, spec_path: Path) -> str:
    """Paths are relative to the working directory, else to the comparison recipe's folder or the repository."""
    for base in (Path.cwd(), spec_path.parent, Path(__file__).resolve().parent.parent):
        if (base / recipe).is_file():
            return recipe if base == Path.cwd() else str(base / recipe)
    return recipe  # a missing recipe fails its runs with load_recipe's own message, not the whole comparison


def read_comparison(path: str | Path) -> Comparison | None:
    """The comparison recipe at `path`, or None for an ordinary training recipe (no `recipes:` key)."""
    from rlvr.config import read_yaml
    from rlvr.registry import closest

    path = Path(path)
    data = read_yaml(path)
    if "recipes" not in data:
        return None
    where = f"comparison recipe {path}"
    for key in data:
        if key not in SPEC_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'{closest(key, SPEC_KEYS)}")
    entries = []
    for item in data["recipes"] or []:
        item = {"recipe": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or "recipe" not in item or set(item) - {"recipe", "overrides", "name"}:
            raise ConfigError(f"{where}: a recipes: item is a path or {{recipe: path, overrides: [..], name: label}}")
        label = str(item.get("name") or Path(item["recipe"]).stem)
        entries.append(Entry(_resolve(str(item["recipe"]), path), label, [str(o) for o in item.get("overrides") or []]))
    seeds = data.get("seeds", [0])
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    overrides = [str(o) for o in data.get("overrides") or []]
    return Comparison(entries, seeds, overrides, data.get("out"), int(data.get("jobs", 1)))


def select_entries(entries: list[Entry], only: str) -> list[Entry]:
    """The entries named in `only` (comma-separated labels), in the comparison's order; unknown labels are an error."""
    wanted = [x.strip() for x in only.split(",") if x.strip()]
    known = [e.label for e in entries]
    unknown = [x for x in wanted if x not in known]
    if unknown or not wanted:
        raise ConfigError(f"--only {only!r}: unknown labels {unknown}; the comparison has {known}")
    return [e for e in entries if e.label in wanted]


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N; anything else is a one-line error."""
    k, _, n = text.partition("/")
    if not (k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
        raise ConfigError(f"--shard {text!r}: give K/N with 1 <= K <= N (this machine's share of N), e.g. --shard 1/2")
    return int(k), int(n)


def read_seed_record(out: str | Path) -> dict | None:
    path = Path(out) / SEED_RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_seeds(comp: Comparison, out: Path, add_seeds: bool = False) -> None:
    """Record the seed list before the first run; refuse seeds outside it later unless `add_seeds`."""
    record = read_seed_record(out)
    if record is None:
        record = dict(seeds=list(comp.seeds), labels=[e.label for e in comp.entries], started=_now())
        if any((out / "runs").glob("*__s*")):  # a comparison begun before rlvr recorded seed lists
            record["note"] = "recorded when runs already existed (before rlvr recorded seed lists)"
    else:
        known = set(record["seeds"]) | {s for a in record.get("added", []) for s in a["seeds"]}
        new = [s for s in comp.seeds if s not in known]
        if not new:
            return
        if not add_seeds:
            raise RLVRError(
                f"seeds {new} were not in the seed list {record['seeds']} of {out} when its first run started "
                f"({record['started']}): adding seeds after a first look is optional stopping; fix the seeds in the "
                "recipe and use a new --out, or pass --add-seeds to merge them anyway (the report says so)"
            )
        record.setdefault("added", []).append(dict(seeds=new, at=_now()))
    out.mkdir(parents=True, exist_ok=True)
    (out / SEED_RECORD).write_text(json.dumps(record, indent=1) + "\n")


DONE = ("done", "recorded")


def record_dir(run_dir: Path) -> Path:
    """The committed copy of OUT/runs/<name>: OUT/records/<name> (summary, metrics, config; see report.py)."""
    return run_dir.parent.parent / "records" / run_dir.name


def run_state(run_dir: Path) -> str:
    """'done' (a summary of a run that was not interrupted), 'resume' (a checkpoint), 'recorded' (no run directory,
    but a finished run's committed record: a comparison continued on a fresh clone skips it) or 'fresh'."""
    from rlvr.report import read_json

    summary = run_dir / "summary.json"
    if summary.is_file() and not read_json(summary).get("interrupted"):
        return "done"
    if any(run_dir.glob("checkpoint-*")):
        return "resume"
    record = record_dir(run_dir) / "summary.json"
    return "recorded" if record.is_file() and not read_json(record).get("interrupted") else "fresh"


def _first_difference(stored, wanted, prefix: str = "") -> str | None:
    """'key: stored vs wanted' for the first differing dotted key of two nested dicts (None when equal).

    Only keys the stored config has are compared: a field added to rlvr after the run was trained is unknown there,
    not a conflict."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        for key in stored:
            if prefix == "" and key in RUN_LOCAL_KEYS:
                continue
            diff = _first_difference(stored.get(key), wanted.get(key), f"{prefix}{key}.")
            if diff:
                return diff
        return None
    return None if stored == wanted else f"{prefix[:-1]}: {stored!r} vs {wanted!r}"


RUN_LOCAL_KEYS = ("output_dir", "threads", "resume", "overwrite")  # where and how a run trains, not what


def check_stale_runs(runs: list, states: list[str], comp: Comparison) -> None:
    """Refuse a finished or interrupted run trained with other settings than the comparison asks for now."""
    import yaml

    from rlvr import recipe as recipes
    from rlvr.config import to_dict

    for (entry, seed, run_dir), state in zip(runs, states):
        source = record_dir(run_dir) if state == "recorded" else run_dir
        if state == "fresh" or not (source / "config.yaml").is_file():
            continue
        stored = yaml.safe_load((source / "config.yaml").read_text()) or {}
        overrides = [*comp.overrides, *entry.overrides, f"seed={seed}", f"output_dir={run_dir}"]
        wanted = to_dict(recipes.load_recipe(entry.recipe, overrides, kind="train"))
        diff = _first_difference(stored, wanted)
        if diff:
            raise ConfigError(
                f"{source} was trained with other settings than the comparison now asks for ({diff}); use a new "
                "--out, or delete that run directory (or record) to retrain it"
            )


def _train_in_process(recipe: str, overrides: list[str], log: Path, jobs: int) -> None:
    from rlvr import recipe as recipes
    from rlvr import train  # looked up at call time so tests can monkeypatch run_train

    train.run_train(recipes.load_recipe(recipe, overrides, kind="train"))


def _train_subprocess(recipe: str, overrides: list[str], log: Path, jobs: int) -> None:
    env = dict(os.environ, RLVR_PARALLEL_RUNS=str(jobs))  # 'auto' threads -> 1 each, so N runs share the cores
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f:
        proc = subprocess.run([sys.executable, "-m", "rlvr", "train", recipe, *overrides], stdout=f, stderr=f, env=env)
    if proc.returncode:
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        raise RLVRError(f"{lines[-1] if lines else f'exit status {proc.returncode}'} (log: {log})")


class RunProgress:
    """One line per run, "[k/N] label seed s", with an ETA for the rest from the mean wall time of finished runs."""

    def __init__(self, total: int, todo: int, jobs: int):
        self.console, self.total, self.todo, self.jobs, self.times = Console(highlight=False), total, todo, jobs, []

    def say(self, k: int | None, label: str, seed: int, what: str, style: str = "") -> None:
        # soft_wrap: one grep-able line per event, even in a narrow or piped terminal
        self.console.print(
            escape(f"{f'[{k}/{self.total}] ' if k else ''}{label} seed {seed}: {what}"), style=style, soft_wrap=True
        )

    def start(self, k: int, label: str, seed: int, state: str) -> None:
        eta = ""
        if self.times:  # runs of one comparison cost about the same: their mean is a fair guess
            left = self.todo * sum(self.times) / len(self.times) / min(self.jobs, max(self.todo, 1))
            eta = f"; ETA for the {self.todo} left ~{left / 60:.0f} min" if left > 90 else f" (~{left:.0f} s left)"
        self.say(k, label, seed, f"{'resuming' if state == 'resume' else 'training'}{eta}", "bold")

    def end(self, label: str, seed: int, seconds: float, error: Exception | None = None) -> None:
        self.todo -= 1
        if error is None:
            self.times.append(seconds)
            return self.say(None, label, seed, f"done in {seconds:.0f} s", "green")
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        self.say(None, label, seed, f"FAILED: {last}", "red")


def _build_warm_starts(pending: list[tuple[Entry, int]], overrides: list[str]) -> None:
    """Build every warm start the pending runs need, once each, before the runs start."""
    from rlvr.recipe import load_recipe
    from rlvr.sft import ensure_warm_start

    needed = []
    for entry, seed in pending:
        recipe = load_recipe(entry.recipe, [*overrides, *entry.overrides, f"seed={seed}"], "train")
        if recipe.model.warm_start and recipe.model.warm_start not in needed:
            needed.append(recipe.model.warm_start)
    for path in needed:
        ensure_warm_start(path)


def run_comparison(
    comp: Comparison, out: str | Path, add_seeds: bool = False, shard: tuple[int, int] | None = None
) -> list[str]:
    """Train the missing runs, then write the report; returns the names of the runs that failed.

    Seeds outside the list recorded when the comparison's first run started are refused unless `add_seeds`.
    `shard` (K, N) trains only runs K, K+N, K+2N, ... (1-based) of the comparison's (label, seed) list, so N
    machines can split one comparison; copy their OUT/records/ together and re-make the report with --report-only."""
    from rlvr.report import write_report

    labels = [e.label for e in comp.entries]
    if len(set(labels)) < len(labels):  # two entries in one run dir would silently share (and skip) runs
        raise ConfigError(f"duplicate comparison labels in {labels}: give each entry its own `name:`")
    out = Path(out)
    check_seeds(comp, out, add_seeds)
    runs = [(e, s, out / "runs" / f"{e.label.replace('/', '_')}__s{s}") for e in comp.entries for s in comp.seeds]
    if shard is not None:  # the full list's positions, so every machine computes the same split
        runs = runs[shard[0] - 1 :: shard[1]]
    states = [run_state(d) for _, _, d in runs]
    check_stale_runs(runs, states, comp)
    progress = RunProgress(len(runs), sum(st not in DONE for st in states), comp.jobs)
    train = _train_subprocess if comp.jobs > 1 else _train_in_process
    failed: list[str] = []

    def one(k: int, entry: Entry, seed: int, run_dir: Path, state: str) -> None:
        if state in DONE:
            return progress.say(
                k, entry.label, seed, f"finished{' (committed record)' if state == 'recorded' else ''}, skipped", "dim"
            )
        progress.start(k, entry.label, seed, state)
        mode = ["resume=true", "overwrite=false"] if state == "resume" else ["resume=false", "overwrite=true"]
        overrides = [*comp.overrides, *entry.overrides, f"seed={seed}", f"output_dir={run_dir}", *mode]
        start, log = time.perf_counter(), out / "logs" / f"{run_dir.name}.log"
        try:
            train(entry.recipe, overrides, log, comp.jobs)
        except Exception as exc:  # one broken run must not cost the rest of a multi-hour comparison
            failed.append(run_dir.name)
            progress.end(entry.label, seed, 0.0, exc)
            # ...but Ctrl-C (run_train turns it into an RLVRError) means "stop everything", not "next run"
            if isinstance(exc.__cause__, KeyboardInterrupt) or "interrupted at step" in str(exc):
                raise RLVRError(f"comparison interrupted; run the same command again to continue ({out})") from exc
            return
        progress.end(entry.label, seed, time.perf_counter() - start)

    jobs = [(k, *run, st) for k, (run, st) in enumerate(zip(runs, states), 1)]
    if comp.jobs > 1:  # parallel runs would each build (and race on) a missing warm start
        _build_warm_starts([(e, s) for (e, s, _), st in zip(runs, states) if st not in DONE], comp.overrides)
        with ThreadPoolExecutor(max_workers=comp.jobs) as pool:
            list(pool.map(lambda a: one(*a), jobs))
    else:
        for job in jobs:
            one(*job)
    if any(
        (d / "summary.json").is_file() or st == "recorded" for (_, _, d), st in zip(runs, states)
    ):  # else the FAILED lines say it all
        write_report(out, labels=labels)
    return failed
