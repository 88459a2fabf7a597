"""`rlvr compare`: the report from fake run dirs, skip/resume/fresh logic, comparison recipes and failures.

No training: `run_train` is monkeypatched to record its recipes (and write a fake finished run).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import rlvr.config
import rlvr.recipe
import rlvr.train
from rlvr.cli import main
from rlvr.compare import Comparison, Entry, read_comparison, run_comparison, run_state
from rlvr.errors import RLVRError
from rlvr.report import write_report

PASS1 = {("grpo", 0): 0.50, ("grpo", 1): 0.60, ("latr", 0): 0.70, ("latr", 1): 0.74}
FIGURES = ("pass1_vs_step.png", "entropy_vs_step.png", "zero_std_vs_step.png", "distinct_answers_vs_step.png")


def final_eval(p1: float) -> dict:
    ev = {f"pass@{k}": min(1.0, p1 + 0.05 * i) for i, k in enumerate((1, 2, 4, 8, 16))}
    ev.update(greedy_accuracy=p1, entropy=0.3, distinct_answers=2.0, frac_zero_std=0.4, num_problems=128)
    return {**ev, "num_samples": 16}


def fake_run(run_dir, module: str, seed: int, p1: float, steps: int = 4) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"exploration": {"name": module}, "seed": seed}))
    rows = [{"step": 0, "eval/pass@1": 0.2, "eval/distinct_answers": 3.0}]
    for step in range(1, steps + 1):
        row = {"step": step, "reward": 0.5, "entropy": 1.0 / step, "frac_reward_zero_std": 0.5, "num_tokens": 100}
        if module == "oversampling":
            row["explore/frac_zero_std_after"] = 0.1
        if module == "latr":  # sampled tokens per rollout: 90, 110, ... (mean 100); grpo runs predate the count
            row["sampled_tokens"] = 90 + 20 * (step % 2 == 0)
        rows.append(row)
    rows.append({"step": steps, "eval/pass@1": p1, "eval/distinct_answers": 2.0})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = dict(
        recipe=f"recipes/{module}.yaml",
        exploration=module,
        seed=seed,
        steps=steps,
        train_seconds=12.5,
        initial_eval=final_eval(0.2),
        final_eval=final_eval(p1),
        num_tokens=1000 + seed,
        interrupted=False,
    )
    (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def results(tmp_path):
    for (label, seed), p1 in PASS1.items():
        fake_run(tmp_path / "runs" / f"{label}__s{seed}", "none" if label == "grpo" else "latr", seed, p1)
    return tmp_path


def test_report_tables_and_figures(results):
    write_report(results, labels=["latr", "grpo"])
    with (results / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    by_run = {(r["label"], int(r["seed"])): r for r in table}
    for key, p1 in PASS1.items():
        row = by_run[key]
        assert float(row["pass@1"]) == pytest.approx(p1) and float(row["pass@16"]) == pytest.approx(p1 + 0.2)
        assert float(row["initial_pass@1"]) == 0.2 and row["steps"] == "4" and float(row["wall_seconds"]) == 12.5
        assert row["trained_tokens"] == str(1000 + key[1]) and row["module"] == ("none" if key[0] == "grpo" else "latr")
        assert row["sampled_tokens"] == ("" if key[0] == "grpo" else "100.0")
    md = (results / "results.md").read_text()
    mean = (0.70 + 0.74) / 2
    se = statistics.stdev([0.70, 0.74]) / math.sqrt(2)
    assert f"{mean:.3f} ± {se:.3f}" in md  # latr pass@1: 0.720 ± 0.020
    # paired vs the `none` label grpo: d = 0.20, 0.14 -> mean 0.17, s.e. 0.03, t(1) (Cauchy) quantile tan(0.475 pi)
    t1, p = math.tan(math.pi * 0.475), 1 - 2 / math.pi * math.atan(0.17 / 0.03)
    ci = f"[{0.17 - t1 * 0.03:+.3f}, {0.17 + t1 * 0.03:+.3f}]"  # [-0.211, +0.551]
    diff_line = next(line for line in md.splitlines() if line.startswith("| latr | 2 |"))
    assert diff_line.startswith(f"| latr | 2 | +0.170 | {ci} | {p:.2g} | {p:.2g} | {ci} (95.00%) | no |")
    assert "baseline `grpo`" in md and "Welch" in md
    # sampling s.d. sqrt((pass@2 - pass@1) / (128 * 16)) = sqrt(0.05 / 2048); between seeds stdev(0.70, 0.74)
    sd, between = math.sqrt(0.05 / 2048), statistics.stdev([0.70, 0.74])
    assert f"| latr | 2 | {sd:.4f} | {between:.4f} | {sd**2 / between**2:.2f} |" in md
    assert float(by_run[("latr", 0)]["pass@1_sampling_sd"]) == pytest.approx(sd)

    def cells(start: str) -> list[str]:
        return [c.strip() for c in next(li for li in md.splitlines() if li.startswith(start)).strip("|").split("|")]

    header, latr, grpo = cells("| label | module |"), cells("| latr | latr |"), cells("| grpo | none |")
    col = header.index("sampled_tokens")
    assert latr[col] == "100 ± 0" and grpo[col] == "n/a"
    for name in (*FIGURES, "passk_curve.png"):
        assert (results / name).stat().st_size > 0


def test_skip_resume_fresh(tmp_path, monkeypatch, tiny_recipe):
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)  # keep trl out of a fast test
    calls = []

    def fake_train(recipe):
        calls.append(recipe)
        fake_run(Path(recipe.output_dir), "none", recipe.seed, 0.5)

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    fake_run(tmp_path / "runs" / "tiny__s0", "none", 0, 0.5)  # finished: skipped
    (tmp_path / "runs" / "tiny__s1" / "checkpoint-1").mkdir(parents=True)  # interrupted: resumed
    comp = Comparison([Entry(str(tiny_recipe), "tiny")], seeds=[0, 1, 2], overrides=["train.max_steps=3"])
    assert run_comparison(comp, tmp_path) == []
    assert [(r.seed, r.resume, r.overwrite) for r in calls] == [(1, True, False), (2, False, True)]
    assert all(r.train["max_steps"] == 3 for r in calls)
    assert calls[0].output_dir == str(tmp_path / "runs" / "tiny__s1")
    assert (tmp_path / "results.csv").is_file()


def test_failing_run_is_reported_and_others_run(tmp_path, monkeypatch, capsys, tiny_recipe):
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    seen = []

    def fake_train(recipe):
        seen.append(recipe.seed)
        if recipe.seed == 0:
            raise RLVRError("the reward exploded")
        fake_run(Path(recipe.output_dir), "none", recipe.seed, 0.5)

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    argv = ["compare", str(tiny_recipe), "--seeds", "2", "--out", str(tmp_path), "--set", "train.max_steps=3"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert seen == [0, 1]
    assert "tiny seed 0: FAILED: the reward exploded" in captured.out
    assert captured.err.strip() == "error: 1 run(s) failed: tiny__s0 (see the FAILED lines above)"
    assert (tmp_path / "results.csv").read_text().count("\n") == 2  # header + the run that finished


def test_comparison_recipe_is_parsed(tmp_path, tiny_recipe):
    spec = tmp_path / "cmp.yaml"
    spec.write_text(
        yaml.safe_dump(
            dict(
                recipes=[str(tiny_recipe), {"recipe": str(tiny_recipe), "overrides": ["train.beta=0.1"], "name": "kl"}],
                seeds=[0, 3],
                overrides=["train.max_steps=5"],
                out="results/x",
                jobs=2,
            )
        )
    )
    comp = read_comparison(spec)
    assert [(e.label, e.overrides) for e in comp.entries] == [("tiny", []), ("kl", ["train.beta=0.1"])]
    assert comp.seeds == [0, 3] and comp.overrides == ["train.max_steps=5"] and comp.out == "results/x"
    assert comp.jobs == 2
    assert read_comparison(tiny_recipe) is None  # a training recipe: no `recipes:`
    default = read_comparison("recipes/compare_default.yaml")
    assert (
        default.entries[0].label == "grpo" and default.seeds == [0, 1, 2, 3, 4] and default.out == "results/default_v2"
    )


def test_report_only_cli(results, capsys):
    assert main(["compare", "--report-only", "--out", str(results)]) == 0
    assert "results.md" in capsys.readouterr().out
    assert "| grpo | none | 2 |" in (results / "results.md").read_text()  # baseline first without an order


def test_report_only_with_a_comparison_recipe_uses_its_out_and_order(results, tmp_path):
    spec = tmp_path / "cmp.yaml"
    spec.write_text(yaml.safe_dump(dict(recipes=[{"recipe": "x.yaml", "name": "latr"}, "grpo.yaml"], out=str(results))))
    assert main(["compare", str(spec), "--report-only"]) == 0
    md = (results / "results.md").read_text()
    assert md.index("| latr | latr |") < md.index("| grpo | none |")  # the recipe's order, not baseline first


def test_compare_in_help():
    proc = subprocess.run([sys.executable, "-m", "rlvr", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "compare" in proc.stdout


def test_parallel_runs_build_each_warm_start_once_first(tmp_path, monkeypatch, tiny_recipe):
    # Two runs at once would each build a missing warm start (and race on its cache dir): compare builds it first.
    import rlvr.compare
    import rlvr.sft

    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    events = []
    monkeypatch.setattr(rlvr.sft, "ensure_warm_start", lambda path: events.append(("build", path)))

    def fake_subprocess(recipe, overrides, log, jobs):
        events.append(("train", dict(o.split("=", 1) for o in overrides)["seed"]))
        fake_run(Path(dict(o.split("=", 1) for o in overrides)["output_dir"]), "none", 0, 0.5)

    monkeypatch.setattr(rlvr.compare, "_train_subprocess", fake_subprocess)
    fake_run(tmp_path / "runs" / "tiny__s0", "none", 0, 0.5)  # finished: needs nothing
    ws = ["model.warm_start=recipes/sft_addition.yaml"]
    other = ["model.warm_start=recipes/sft_countdown.yaml"]  # (warm starts must be existing recipes)
    entries = [Entry(str(tiny_recipe), "tiny"), Entry(str(tiny_recipe), "other", other)]
    comp = Comparison(entries, seeds=[0, 1], overrides=ws, jobs=2)
    assert run_comparison(comp, tmp_path) == []
    builds = [e for e in events if e[0] == "build"]
    assert builds == [("build", "recipes/sft_addition.yaml"), ("build", "recipes/sft_countdown.yaml")]  # once, in order
    assert events[:2] == builds and len(events) == 2 + 3  # before every run; tiny__s0 was already done


def test_training_signatures_windows_and_preferred_keys(tmp_path):
    from rlvr.report import load_runs, signature

    fake_run(tmp_path / "runs" / "grpo__s0", "none", 0, 0.5, steps=8)
    fake_run(tmp_path / "runs" / "over__s0", "oversampling", 0, 0.5, steps=8)
    grpo, over = sorted(load_runs(tmp_path), key=lambda r: r["label"] != "grpo")
    assert signature(grpo, ("entropy",), "late") == pytest.approx((1 / 7 + 1 / 8) / 2)  # steps 7-8 of 8
    assert signature(grpo, ("entropy",), "early") == pytest.approx(1.0)  # step 1 of 8
    keys = ("explore/frac_zero_std_after", "frac_reward_zero_std")
    assert signature(over, keys, "all") == pytest.approx(0.1) and signature(grpo, keys, "all") == pytest.approx(0.5)
    assert math.isnan(signature(grpo, ("diversity/distinct_answers",), "all"))  # not logged: n/a, not 0
    write_report(tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert "| grpo | 0.500 | 0.134 | n/a | n/a |" in md and "| over | 0.100 | 0.134 |" in md


def seed_run(tmp_path, monkeypatch, tiny_recipe):
    """A `fake_train` that records the seeds it trains, and the CLI arguments of a 'tiny' comparison into tmp_path."""
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    trained = []

    def fake_train(recipe):
        trained.append(recipe.seed)
        fake_run(Path(recipe.output_dir), "none", recipe.seed, 0.5 + 0.01 * recipe.seed)

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    return trained, lambda n, *extra: ["compare", str(tiny_recipe), "--seeds", str(n), "--out", str(tmp_path), *extra]


def test_seeds_added_after_the_first_run_are_refused_unless_told(tmp_path, monkeypatch, capsys, tiny_recipe):
    trained, argv = seed_run(tmp_path, monkeypatch, tiny_recipe)
    assert main(argv(2)) == 0 and trained == [0, 1]
    record = json.loads((tmp_path / "comparison.json").read_text())
    assert record["seeds"] == [0, 1] and record["labels"] == ["tiny"] and "note" not in record
    capsys.readouterr()
    assert main(argv(4)) == 2 and trained == [0, 1]  # refused before any training
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: seeds [2, 3] were not in the seed list [0, 1] of ") and "--add-seeds" in err
    assert len(err.splitlines()) == 1
    assert main(argv(1)) == 0 and trained == [0, 1]  # a subset of the list is fine (and trains nothing)
    assert main(argv(3, "--add-seeds")) == 0 and trained == [0, 1, 2]
    record = json.loads((tmp_path / "comparison.json").read_text())
    assert record["seeds"] == [0, 1] and [a["seeds"] for a in record["added"]] == [[2]]
    assert main(argv(3)) == 0  # seed 2 is now on record: no second flag needed
    md = (tmp_path / "results.md").read_text()
    assert "Seed list fixed when the first run started" in md and "(--add-seeds): [2]" in md


def test_a_comparison_begun_before_seed_records_is_recorded_not_refused(tmp_path, monkeypatch, tiny_recipe):
    trained, argv = seed_run(tmp_path, monkeypatch, tiny_recipe)
    fake_run(tmp_path / "runs" / "tiny__s0", "none", 0, 0.5)  # made before rlvr wrote comparison.json
    assert main(argv(2)) == 0 and trained == [1]
    record = json.loads((tmp_path / "comparison.json").read_text())
    assert record["seeds"] == [0, 1] and "already existed" in record["note"]


def test_records_make_a_committed_comparison_re_derivable(results):
    write_report(results)
    for run in ("grpo__s0", "latr__s1"):
        for name in ("summary.json", "metrics.jsonl", "config.yaml"):
            assert (results / "records" / run / name).read_bytes() == (results / "runs" / run / name).read_bytes()
    md, table = (results / "results.md").read_text(), (results / "results.csv").read_text()
    for d in (results / "runs").iterdir():  # a fresh clone: runs/ is git-ignored, records/ is committed
        for f in d.iterdir():
            f.unlink()
    assert main(["compare", "--report-only", "--out", str(results)]) == 0
    assert (results / "results.md").read_text() == md and (results / "results.csv").read_text() == table


def test_a_run_on_disk_wins_over_its_older_record(results):
    write_report(results)
    fake_run(results / "runs" / "latr__s0", "latr", 0, 0.9)  # re-trained after the records were copied
    write_report(results)
    with (results / "results.csv").open() as f:
        p1 = {(r["label"], r["seed"]): float(r["pass@1"]) for r in csv.DictReader(f)}
    assert p1[("latr", "0")] == pytest.approx(0.9)
    assert json.loads((results / "records" / "latr__s0" / "summary.json").read_text())["final_eval"]["pass@1"] == 0.9


def test_a_corrupt_summary_is_a_one_line_error(tmp_path):
    from rlvr.compare import run_state
    from rlvr.errors import RLVRError
    from rlvr.report import load_run

    run = tmp_path / "grpo__s0"
    run.mkdir()
    (run / "summary.json").write_text('{"steps": 2, "final_ev')  # a run killed while writing
    for call in (lambda: load_run(run), lambda: run_state(run)):
        with pytest.raises(RLVRError, match="summary.json is unreadable .JSONDecodeError.: delete it") as err:
            call()
        assert "\n" not in str(err.value)


def test_a_finished_run_trained_with_other_settings_is_refused(tmp_path, monkeypatch, capsys, tiny_recipe):
    """Editing a comparison's overrides must not silently reuse runs trained with the old ones."""
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    trained = []

    def fake_train(recipe):
        trained.append(recipe.seed)
        fake_run(Path(recipe.output_dir), "none", recipe.seed, 0.5)
        (Path(recipe.output_dir) / "config.yaml").write_text(rlvr.config.dump_yaml(recipe))  # as run_train does

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    comp = Comparison([Entry(str(tiny_recipe), "tiny")], seeds=[0], overrides=["train.learning_rate=3e-5"])
    assert run_comparison(comp, tmp_path) == [] and trained == [0]
    assert run_comparison(comp, tmp_path) == [] and trained == [0]  # same settings: skipped
    comp.overrides = ["train.learning_rate=1e-4"]
    with pytest.raises(
        RLVRError,
        match=r"tiny__s0 was trained with other settings .*\(train.learning_rate: 3e-05 vs "
        r"0.0001\); use a new --out, or delete that run directory \(or record\) to retrain it",
    ):
        run_comparison(comp, tmp_path)
    assert trained == [0]
    comp.overrides = ["train.learning_rate=3e-5", "threads=1"]  # how fast it trains is not what it trains
    assert run_comparison(comp, tmp_path) == []


def test_a_committed_record_is_skipped_on_a_fresh_clone_and_checked_for_staleness(tmp_path, monkeypatch, tiny_recipe):
    """runs/ is not committed: a comparison continued in a new checkout must not retrain what records/ holds."""
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    trained = []

    def fake_train(recipe):
        trained.append(recipe.seed)
        fake_run(Path(recipe.output_dir), "none", recipe.seed, 0.5)
        (Path(recipe.output_dir) / "config.yaml").write_text(rlvr.config.dump_yaml(recipe))

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    comp = Comparison([Entry(str(tiny_recipe), "tiny")], seeds=[0, 1], overrides=["train.learning_rate=3e-5"])
    assert run_comparison(comp, tmp_path) == [] and trained == [0, 1]
    shutil.rmtree(tmp_path / "runs")  # what a fresh clone has: the records only
    shutil.rmtree(tmp_path / "records" / "tiny__s1")
    assert run_state(tmp_path / "runs" / "tiny__s0") == "recorded"
    assert run_comparison(comp, tmp_path) == [] and trained == [0, 1, 1]  # only the run without a record
    comp.overrides = ["train.learning_rate=1e-4"]
    with pytest.raises(RLVRError, match=r"records/tiny__s0 was trained with other settings"):
        run_comparison(comp, tmp_path)


def _fake_comparison(tmp_path, monkeypatch, recipe, labels, seeds):
    """A comparison recipe of `labels` x `seeds` whose training only records the run names it was asked for."""
    monkeypatch.setattr(rlvr.recipe, "check_grpo_args", lambda *a: None)
    trained = []

    def fake_train(r):
        trained.append(Path(r.output_dir).name)
        fake_run(Path(r.output_dir), "none", r.seed, 0.5)

    monkeypatch.setattr(rlvr.train, "run_train", fake_train)
    spec = tmp_path / "cmp.yaml"
    entries = [{"recipe": str(recipe), "name": n} for n in labels]
    spec.write_text(yaml.safe_dump({"recipes": entries, "seeds": seeds, "out": str(tmp_path / "out")}))
    return spec, trained


def test_only_trains_the_named_labels_and_names_unknown_ones(tmp_path, monkeypatch, capsys, tiny_recipe):
    spec, trained = _fake_comparison(tmp_path, monkeypatch, tiny_recipe, ("a", "b", "c"), [0])
    assert main(["compare", str(spec), "--only", "c,a"]) == 0
    assert trained == ["a__s0", "c__s0"]  # in the comparison's order, b untouched
    capsys.readouterr()
    assert main(["compare", str(spec), "--only", "a,zz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --only 'a,zz': unknown labels ['zz']; the comparison has ['a', 'b', 'c']"]


def test_shard_splits_the_run_list_round_robin_and_rejects_bad_shards(tmp_path, monkeypatch, capsys, tiny_recipe):
    spec, trained = _fake_comparison(tmp_path, monkeypatch, tiny_recipe, ("a", "b"), [0, 1, 2])
    # the run list is a0 a1 a2 b0 b1 b2; shard 2/4 takes positions 2 and 6, shard 1/4 positions 1 and 5
    assert main(["compare", str(spec), "--shard", "2/4"]) == 0
    assert trained == ["a__s1", "b__s2"]
    assert main(["compare", str(spec), "--shard", "1/4"]) == 0
    assert trained == ["a__s1", "b__s2", "a__s0", "b__s1"]
    capsys.readouterr()
    for bad in ("0/2", "3/2", "two", "1/"):
        assert main(["compare", str(spec), "--shard", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        want = f"error: --shard {bad!r}: give K/N with 1 <= K <= N (this machine's share of N), e.g. --shard 1/2"
        assert err == [want]
    assert len(trained) == 4  # a bad shard trains nothing


def test_pairs_from_different_warm_start_builds_are_left_out(tmp_path):
    """A rebuilt warm start keeps its cache name but not its weights: such a run must not be paired with the base."""
    for seed, (p_base, p_mod) in enumerate([(0.5, 0.6), (0.5, 0.7), (0.5, 0.9)]):
        fake_run(tmp_path / "runs" / f"grpo__s{seed}", "none", seed, p_base)
        fake_run(tmp_path / "runs" / f"psr__s{seed}", "psr", seed, p_mod)
    for name, sha in [("grpo__s0", "aaa"), ("grpo__s1", "aaa"), ("grpo__s2", "aaa"), ("psr__s0", "aaa")]:
        path = tmp_path / "runs" / name / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "start_model": sha}))
    path = tmp_path / "runs" / "psr__s2" / "summary.json"  # another build on seed 2; seed 1 predates fingerprints
    path.write_text(json.dumps({**json.loads(path.read_text()), "start_model": "bbb"}))
    write_report(tmp_path, labels=["grpo", "psr"])
    md = (tmp_path / "results.md").read_text()
    assert "**Left out of the paired differences: psr__s2** started from another build" in md
    row = next(line for line in md.splitlines() if line.startswith("| psr | 2 |"))  # Δ pass@1 over seeds 0 and 1
    assert row.split(" | ")[2] == "+0.150"


def test_weights_fingerprint_tells_builds_apart():
    import torch

    from rlvr.models import build_model, weights_fingerprint

    a, _ = build_model("char-0.2m", seed=0)
    b, _ = build_model("char-0.2m", seed=0)
    assert weights_fingerprint(a) == weights_fingerprint(b) and len(weights_fingerprint(a)) == 12
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-7  # one parameter's last bits
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_the_baseline_is_grpo_even_when_another_none_label_sorts_first(tmp_path):
    for seed in range(2):
        fake_run(tmp_path / "runs" / f"grpo__s{seed}", "none", seed, 0.5)
        fake_run(tmp_path / "runs" / f"dr_grpo__s{seed}", "none", seed, 0.6 + 0.1 * seed)  # TRL's loss, module none
    write_report(tmp_path)  # no comparison order: labels sorted, dr_grpo first
    md = (tmp_path / "results.md").read_text()
    assert "## Paired differences to the baseline `grpo`" in md
    assert next(ln for ln in md.splitlines() if ln.startswith("| dr_grpo | 2 |")).split(" | ")[2] == "+0.150"


def test_a_stacked_run_reports_its_modules_joined(tmp_path):
    """A run whose exploration is a stack (a YAML list, e.g. dapo) loads with module 'clip_higher+oversampling'."""
    from rlvr.report import load_run

    run = tmp_path / "dapo__s1"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"seed": 1, "final_eval": {"pass@1": 0.5}}))
    stack = [{"name": "clip_higher", "eps_high": 0.28}, {"name": "oversampling", "candidates_per_prompt": 8}]
    (run / "config.yaml").write_text(yaml.safe_dump({"exploration": stack}))
    loaded = load_run(run)
    assert (loaded["label"], loaded["seed"], loaded["module"]) == ("dapo", 1, "clip_higher+oversampling")
