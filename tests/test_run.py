"""End to end through `rlvr train` / `rlvr eval` (rlvr.cli.main -> rlvr.train): the run directory, resume,
Ctrl-C, and one-line errors for a bad model path or a failing reward.

Runs use the randomly initialised built-in `char-0.2m` (no warm start), so each takes about a second. Besides the
task's correctness reward (always 0 for a random model) a small shaping reward from a file (fraction of digits)
gives groups non-zero reward variance, so the parameters really move and "final/ is the trained model" is testable.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")

import torch  # noqa: E402

from rlvr.cli import main  # noqa: E402
from rlvr.config import dump_yaml  # noqa: E402
from rlvr.errors import RLVRError  # noqa: E402
from rlvr.models import load_model, weights_fingerprint  # noqa: E402
from rlvr.recipe import load_recipe  # noqa: E402

REWARDS_PY = """\
def digits(prompts, completions, **kwargs):
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


def flaky(prompts, completions, trainer_state=None, fail_from=0, **kwargs):
    if trainer_state is not None and trainer_state.global_step >= fail_from:
        raise ValueError("flaky reward failed")
    return [0.0 for _ in completions]
"""

EXPLORERS_PY = '''\
import os
import signal

from rlvr.exploration.base import Explorer


class CtrlCAtFirstStep(Explorer):
    """Sends this process SIGINT (a user's Ctrl-C) during the first optimizer step."""

    def select_groups(self, ctx, rollout):
        if ctx.step == 0:
            os.kill(os.getpid(), signal.SIGINT)
        return rollout
'''


def write_recipe(directory: Path, *, exploration: str = "none", reward: list | None = None, **train) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "my_rewards.py").write_text(REWARDS_PY)
    (directory / "my_explorers.py").write_text(EXPLORERS_PY)
    train_block = dict(
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=16,
        logging_steps=1,
        save_steps=1,
        learning_rate=1.0e-3,
    )
    train_block.update(train)
    recipe = {
        "model": {"name": "char-0.2m"},
        "task": {"name": "addition", "train_size": 200},
        "reward": reward
        or [{"name": "correctness", "weight": 1.0}, {"name": f"{directory}/my_rewards.py:digits", "weight": 0.1}],
        "exploration": {"name": exploration},
        "train": train_block,
        "eval": {"num_problems": 4, "n_samples": 4, "ks": [1, 2, 4], "every": 1},
        "seed": 0,
        "threads": 1,
    }
    path = directory / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def train_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "loss" in r]


def eval_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "eval/pass@1" in r]


def state_dict(path) -> dict:
    model, _ = load_model(str(path))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLVR_CACHE", str(tmp_path_factory.mktemp("rlvr_cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield


@pytest.fixture(scope="module")
def run2(env, tmp_path_factory):
    """One 2-step run through the CLI, shared (read-only) by the tests below: (recipe, run dir, overrides)."""
    base = tmp_path_factory.mktemp("run2")
    recipe = write_recipe(base)
    out = base / "out"
    overrides = [f"output_dir={out}"]
    assert main(["train", str(recipe), *overrides]) == 0
    return recipe, out, overrides


# -- 1. the run directory ------------------------------------------------------------------------------------------
def test_two_step_run_writes_the_run_directory(run2):
    recipe, out, overrides = run2
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved == yaml.safe_load(dump_yaml(load_recipe(recipe, overrides, "train")))
    assert saved["output_dir"] == str(out) and saved["train"]["max_steps"] == 2
    effective = (out / "grpo_config.yaml").read_text()  # the effective GRPOConfig, with where settings came from
    grpo = yaml.safe_load(effective)
    assert grpo["max_steps"] == 2 and grpo["use_cpu"] is True and grpo["output_dir"] == str(out)
    assert grpo["seed"] == saved["seed"] and grpo["reward_weights"] == [r["weight"] for r in saved["reward"]]
    assert "#   rlvr CPU defaults:" in effective and "#   recipe train: " in effective

    rows = read_metrics(out)
    assert all(isinstance(r["step"], int) for r in rows)
    train = train_rows(rows)
    assert [r["step"] for r in train] == [1, 2]
    for r in train:
        assert {"reward", "entropy", "frac_reward_zero_std"} <= r.keys()
        assert 0.0 <= r["frac_reward_zero_std"] <= 1.0 and r["entropy"] > 0
    assert any(r["grad_norm"] > 0 for r in train)  # the shaping reward gives a learning signal
    evals = eval_rows(rows)
    assert [r["step"] for r in evals] == [0, 1, 2]  # before training, after step 1 (every=1), at the end
    assert all(0.0 <= r["eval/pass@1"] <= r["eval/pass@2"] <= r["eval/pass@4"] <= 1.0 for r in evals)

    assert (out / "checkpoint-2").is_dir()
    final = state_dict(out / "final")
    ckpt = state_dict(out / "checkpoint-2")
    init = {k: v.detach() for k, v in load_model("char-0.2m", seed=0)[0].state_dict().items()}
    assert final.keys() == ckpt.keys()
    assert all(torch.equal(final[k], ckpt[k]) for k in final)  # final/ is the model after the last step
    assert any(not torch.equal(final[k], init[k]) for k in final)  # ... and it was trained

    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["interrupted"] is False and summary["resumed_from_step"] is None
    assert 0.0 <= summary["final_eval"]["pass@1"] <= 1.0
    assert summary["initial_eval"]["step"] == 0
    assert summary["start_model"] == weights_fingerprint(load_model("char-0.2m", seed=0)[0])  # the start, not final/
    final_row = evals[-1]
    assert summary["final_eval"]["pass@1"] == final_row["eval/pass@1"]


# -- 2. refuse to clobber a run ------------------------------------------------------------------------------------
def test_existing_output_dir_needs_resume_or_overwrite(run2, capsys):
    recipe, out, overrides = run2
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["train", str(recipe), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ")
    assert str(out) in err and "resume=true" in err and "overwrite=true" in err
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert after == before


# -- 3. resume -----------------------------------------------------------------------------------------------------
def test_resume_continues_from_the_last_checkpoint(run2, tmp_path, capsys):
    recipe, out, _ = run2
    run = tmp_path / "run"
    shutil.copytree(out, run)
    first = read_metrics(run)
    kept = json.loads((run / "checkpoint-2" / "rlvr_wall.json").read_text())["train_seconds"]
    assert 0 < kept <= json.loads((out / "summary.json").read_text())["train_seconds"]  # before the final eval
    (run / "checkpoint-2" / "rlvr_wall.json").write_text('{"train_seconds": 1000.0}')  # as if 1000 s were spent
    capsys.readouterr()
    assert main(["train", str(recipe), f"output_dir={run}", "train.max_steps=4", "resume=true"]) == 0
    assert "was trained with max_steps=2, resuming with max_steps=4" in capsys.readouterr().out

    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["resumed_from_step"] == 2
    assert 1000 < summary["train_seconds"] < 1000 + 300  # the kept steps' 1000 s plus this call's
    before = json.loads((out / "summary.json").read_text())["initial_eval"]
    assert summary["initial_eval"] == before and before["step"] == 0  # the step-0 eval, not the resumed run's first
    assert summary["start_model"] == json.loads((out / "summary.json").read_text())["start_model"]
    rows = read_metrics(run)
    assert rows[: len(first)] == first  # appended, not rewritten
    new = rows[len(first) :]
    assert [r["step"] for r in train_rows(new)] == [3, 4]  # the first resumed step is 3, not 1
    # what the note says: step 3 at the old linear schedule's end (0), step 4 on the 4-step schedule (1e-3 * 1/4)
    assert [r["learning_rate"] for r in train_rows(rows)] == pytest.approx([1e-3, 5e-4, 0.0, 2.5e-4])
    assert [r["step"] for r in eval_rows(new)] == [3, 4]
    assert min(r["step"] for r in new) == 3
    assert (run / "checkpoint-4").is_dir()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_steps"] == 4


def test_resume_of_a_run_killed_after_its_last_step_trains_no_further(run2, tmp_path, capsys):
    """Killed during the final evaluation: checkpoint-2 is the last step. transformers' loop would train a step 3
    before checking max_steps (it did: 3 steps and a loss row at step 3); the resume only evaluates and saves."""
    recipe, out, _ = run2
    run = tmp_path / "run"
    shutil.copytree(out, run)
    shutil.rmtree(run / "final")
    (run / "summary.json").unlink()
    rows = read_metrics(run)
    final_rows = [i for i, r in enumerate(rows) if r["step"] == 2 and "eval/pass@1" in r]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[: final_rows[-1]]))

    assert main(["train", str(recipe), f"output_dir={run}", "resume=true"]) == 0
    summary, before = (json.loads((d / "summary.json").read_text()) for d in (run, out))
    assert summary["steps"] == summary["resumed_from_step"] == 2 and not (run / "checkpoint-3").exists()
    assert max(r["step"] for r in read_metrics(run)) == 2
    drop = {"eval_seconds"}  # the wall of the evaluation, the one thing that may differ
    assert {k: v for k, v in summary["final_eval"].items() if k not in drop} == {
        k: v for k, v in before["final_eval"].items() if k not in drop
    }
    trained, resumed = state_dict(out / "final"), state_dict(run / "final")
    assert all(torch.equal(trained[k], resumed[k]) for k in trained)


def test_resume_from_a_checkpoint_past_max_steps_is_a_one_line_error(run2, tmp_path, capsys):
    recipe, out, _ = run2
    run = tmp_path / "run"
    shutil.copytree(out, run)
    capsys.readouterr()
    assert main(["train", str(recipe), f"output_dir={run}", "resume=true", "train.max_steps=1"]) == 2
    err = capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C handed back
    assert "Traceback" not in err and error_lines(err) == [
        f"error: {run}/checkpoint-2 is at step 2, past train.max_steps=1: set train.max_steps>=2 to go on, "
        "or start a new run (resume=false)"
    ]


# -- 4. Ctrl-C -----------------------------------------------------------------------------------------------------
def test_ctrl_c_checkpoints_and_stops(env, tmp_path, capsys):
    recipe = write_recipe(tmp_path, exploration=f"{tmp_path}/my_explorers.py:CtrlCAtFirstStep", save_steps=100)
    out = tmp_path / "out"
    handler = signal.getsignal(signal.SIGINT)
    capsys.readouterr()
    assert main(["train", str(recipe), f"output_dir={out}", "train.max_steps=3"]) == 2
    assert signal.getsignal(signal.SIGINT) is handler  # GracefulStop uninstalled its handler
    (err,) = error_lines(capsys.readouterr().err)
    assert "interrupted at step 1" in err and "resume=true" in err

    assert (out / "checkpoint-1").is_dir() and not (out / "checkpoint-2").exists()
    model, tok = load_model(str(out / "checkpoint-1"))
    assert tok.pad_token_id is not None and sum(p.numel() for p in model.parameters()) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["steps"] == 1
    rows = read_metrics(out)
    assert [r["step"] for r in train_rows(rows)] == [1]
    assert [r["step"] for r in eval_rows(rows)] == [0, 1]  # step 1's periodic eval is not repeated at the end

    # resume=true picks up from checkpoint-1 (the module only interrupts at global_step 0)
    assert main(["train", str(recipe), f"output_dir={out}", "train.max_steps=3", "resume=true"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    assert [r["step"] for r in train_rows(read_metrics(out))] == [1, 2, 3]


# -- 5. rlvr eval --------------------------------------------------------------------------------------------------
def test_eval_command_on_a_run_dir(run2, tmp_path, capsys):
    _, out, _ = run2
    target = tmp_path / "metrics.json"
    capsys.readouterr()
    args = ["eval", str(out), "eval.num_problems=4", "eval.n_samples=4", "eval.ks=[1,2,4]"]
    assert main([*args, "--out", str(target), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(target.read_text())
    assert printed["model"] == str(out / "final")
    assert printed["num_problems"] == 4 and printed["num_samples"] == 4
    assert 0.0 <= printed["pass@1"] <= printed["pass@4"] <= 1.0
    # same weights, same seed and settings as the run's own final evaluation
    final_eval = json.loads((out / "summary.json").read_text())["final_eval"]
    for key in ("pass@1", "pass@2", "pass@4", "greedy_accuracy", "mean_length", "generated_tokens"):
        assert printed[key] == final_eval[key], key


# -- 6. user errors ------------------------------------------------------------------------------------------------
def test_bad_model_path_is_a_one_line_error(env, tmp_path, capsys):
    recipe = write_recipe(tmp_path)
    capsys.readouterr()
    assert main(["train", str(recipe), f"output_dir={tmp_path / 'out'}", "model.name=/nonexistent/dir"]) == 2
    (err,) = error_lines(capsys.readouterr().err)
    assert "/nonexistent/dir" in err and "not a local directory" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("fail_from", [0, 1])
def test_failing_reward_names_function_row_and_checkpoint(env, tmp_path, capsys, fail_from):
    reward = [{"name": f"{tmp_path}/my_rewards.py:flaky", "kwargs": {"fail_from": fail_from}}]
    recipe = write_recipe(tmp_path, reward=reward)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["train", str(recipe), f"output_dir={out}"]) == 2
    (err,) = error_lines(capsys.readouterr().err)
    assert "reward function 'flaky'" in err and "ValueError" in err and "flaky reward failed" in err
    assert "row 0" in err
    if fail_from == 0:
        assert "checkpoint" not in err
    else:  # step 1 was saved (save_steps=1) before step 2's reward failed
        assert f"last good checkpoint: {out / 'checkpoint-1'}" in err
        assert (out / "checkpoint-1").is_dir()


def test_run_train_raises_rlvr_error_for_the_library_api(env, tmp_path):
    """run_train (the library entry point) raises the RLVRError that the CLI prints."""
    from rlvr.train import run_train

    recipe = write_recipe(tmp_path)
    r = load_recipe(recipe, [f"output_dir={tmp_path / 'out'}", "model.name=/nonexistent/dir"], "train")
    with pytest.raises(RLVRError, match="/nonexistent/dir"):
        run_train(r)
    (tmp_path / "out" / "keep").write_text("x")
    with pytest.raises(RLVRError, match="resume=true"):
        run_train(r)


def test_compile_sampler_routes_the_runs_decode_steps_through_the_compiled_step(env, tmp_path, monkeypatch):
    """compile_sampler=true: one torch.compile (dynamic shapes) at set-up, and the run's decode steps go through it.
    A stand-in compile counts the calls (the real one: tests/test_decoding.py)."""
    from rlvr import decoding

    calls = []

    def compile_(fn, **kwargs):
        calls.append(kwargs)
        return lambda *args: calls.append("step") or fn(*args)

    monkeypatch.setattr(torch, "compile", compile_)
    monkeypatch.setattr(decoding, "_COMPILED", {"step": None})  # process-wide: leave no compiled step behind
    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "compile_sampler=true", f"output_dir={tmp_path / 'out'}"]) == 0
    assert calls[0] == {"dynamic": True} and calls.count({"dynamic": True}) == 1
    assert calls.count("step") >= 5  # 2 rollouts and 3 evaluations, each at least one decode step
    assert len(train_rows(read_metrics(tmp_path / "out"))) == 2


def test_report_to_tensorboard_writes_events(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from rlvr.recipe import load_recipe
    from rlvr.train import run_train

    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "tb.yaml"
    path.write_text(
        "model: {name: char-0.2m}\ntask: {name: addition, train_size: 64}\n"
        "train: {max_steps: 1, num_generations: 4, per_device_train_batch_size: 8, max_completion_length: 8,"
        " logging_steps: 1, report_to: tensorboard}\neval: {num_problems: 2, n_samples: 2, ks: [1, 2]}\n"
    )
    run_train(load_recipe(path, [f"output_dir={tmp_path / 'run'}", "threads=1"]))
    assert list((tmp_path / "run").rglob("events.out.tfevents*"))
