"""Bad input gets one line naming the culprit, from `rlvr show` as from `rlvr train`, before any model loads.

Every case runs `rlvr show recipes/grpo.yaml <override>` through the CLI and checks: exit status 2, exactly one
line on stderr, starting `error:` and naming the key. `rlvr train` refuses the same recipes without creating a run
directory. Commands given a missing or corrupt run directory fail the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from rlvr.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

BAD_OVERRIDES = [
    ("train.learning_rate=-1", "train.learning_rate must be >= 0"),
    ("train.num_generations=-4", "train.num_generations must be >= 2"),
    ("train.num_generations=0", "train.num_generations must be >= 2"),
    ("train.max_steps=0", "train.max_steps must be >= 1"),
    ("train.temperature=0", "train.temperature must be > 0"),
    ("train.max_completion_length=0", "train.max_completion_length must be >= 1"),
    ("train.top_p=2", "train.top_p must be <= 1"),
    ("train.per_device_train_batch_size=3", "must be divisible by num_generations"),
    ("train.learning_rate=fast", "'train.learning_rate' must be float"),
    ("threads=-1", "threads must be 'auto' or a number >= 1"),
    ("threads=many", "threads must be 'auto' or a number >= 1"),
    ("seed=-1", "seed must be >= 0"),
    ("task.train_size=0", "task.train_size must be >= 1"),
    ("task.min_digits=0", "min_digits must be >= 1"),
    ("model.name=char-5m", "model.name=char-5m conflicts with model.warm_start"),
    ("model.name=", "model.name is empty"),
    ("model.warm_start=missing.yaml", "model.warm_start 'missing.yaml' is not a file"),
    ("model.warm_start=", "model.warm_start is empty"),
    ("eval.ks=[]", "eval.ks must be a non-empty list"),
    ("eval.ks=[0]", "eval.ks must be a non-empty list"),
    ("eval.n_samples=0", "eval.n_samples (0) must be >= max(eval.ks)"),
    ("eval.temperature=-1", "eval.temperature must be > 0"),
    ("eval.batch_size=0", "eval.batch_size must be >= 1"),
    ("eval.max_new_tokens=0", "eval.max_new_tokens must be >= 1"),
    ("eval.eval_set=missing.jsonl", "eval.eval_set 'missing.jsonl' does not exist"),
    ("output_dir=", "output_dir is empty"),
    ("output_dir=README.md", "output_dir 'README.md' is a file"),
    ("reward.0.name=missing", "reward.0.name: unknown reward function 'missing'"),
    ("reward.0.weight=.inf", "reward.0.weight must be a finite number"),
    ("sampler=slow", "sampler must be 'fast' or 'trl'"),
    (("sampler=trl", "compile_sampler=true"), "compile_sampler compiles rlvr's fast sampler; it needs sampler: fast"),
    (("compile_sampler=true", "model.peft={r: 4}"), "LoRA-wrapped projections do not take; drop model.peft"),
    ("compile_sampler=sometimes", "'compile_sampler' must be bool"),
    ("model.peft={bogus: 1}", "model.peft is not a valid peft.LoraConfig"),
    ("model.peft={r: 0}", "model.peft is not a valid peft.LoraConfig: r must be a positive int"),
    ("model.dtype=float8", "model.dtype must be auto"),
    ("exploration=[{name: psr}, {name: passk_advantage}]", "psr and passk_advantage both replace the advantages"),
    ("exploration=[{name: entropy_advantage}, {name: nsr}]", "list 'nsr' first"),
    ("exploration=[{name: latr}, {name: oversampling}]", "latr and oversampling both replace the rollout"),
]


def one_error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (code, err)
    return err[0]


@pytest.mark.parametrize("override,message", BAD_OVERRIDES, ids=[str(o) for o, _ in BAD_OVERRIDES])
def test_show_refuses_what_train_refuses_in_one_line(override, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    overrides = [override] if isinstance(override, str) else list(override)  # a tuple: several overrides at once
    assert message in one_error_line(capsys, ["show", "recipes/grpo.yaml", *overrides])


def test_train_refuses_before_creating_the_run_directory(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    out = tmp_path / "run"
    line = one_error_line(capsys, ["train", "recipes/grpo.yaml", "train.learning_rate=-1", f"output_dir={out}"])
    assert "train.learning_rate must be >= 0" in line and not out.exists()


def test_the_warm_start_decides_the_model_shown(capsys, tmp_path):
    """A recipe with a warm start and no model.name trains (and shows) the warm start's model; naming it is fine."""
    sft = tmp_path / "sft.yaml"
    sft.write_text("model: {name: char-0.2m}\ntask: {name: addition}\nsft: {max_steps: 10}\n")
    recipe = tmp_path / "train.yaml"
    recipe.write_text(f"model: {{warm_start: {sft}}}\ntask: {{name: addition}}\n")
    assert main(["show", str(recipe)]) == 0
    assert "name: char-0.2m" in capsys.readouterr().out
    assert main(["show", str(recipe), "model.name=char-0.2m"]) == 0
    assert "conflicts" in one_error_line(capsys, ["show", str(recipe), "model.name=char-1m"])


@pytest.mark.parametrize(
    "text,message",
    [("", "is empty"), ("# only a comment\n", "is empty"), ("- a\n- b\n", "must be a mapping"), ("a: [\n", "YAML")],
)
def test_empty_or_malformed_recipe_files(text, message, tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    assert message in one_error_line(capsys, ["show", str(path)])


def test_a_directory_is_not_a_recipe(tmp_path, capsys):
    assert "is a directory" in one_error_line(capsys, ["train", str(tmp_path)])


def test_sft_values_are_checked(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    for override, message in [("sft.max_steps=0", "sft.max_steps must be >= 1"), ("threads=0", "threads must be")]:
        assert message in one_error_line(capsys, ["sft", "recipes/sft_addition.yaml", override])


@pytest.fixture
def run_dir(tmp_path):
    """A run directory as `rlvr train` leaves it (config, metrics, no model yet)."""
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.yaml").write_text("model: {name: char-0.2m}\ntask: {name: addition}\n")
    (d / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward": 0.5}) + "\n")
    return d


def test_commands_on_missing_or_corrupt_run_directories(run_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a run directory" in one_error_line(capsys, ["eval", str(empty)])
    assert "no final/ model and no checkpoint" in one_error_line(capsys, ["eval", str(run_dir)])
    assert "does not exist" in one_error_line(capsys, ["plot", str(tmp_path / "missing")])
    assert "has no metrics.jsonl" in one_error_line(capsys, ["plot", str(empty)])
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write("{truncated\n")
    assert "metrics.jsonl:2 is not a JSON object" in one_error_line(capsys, ["plot", str(run_dir)])
    (run_dir / "final").mkdir()
    (run_dir / "config.yaml").write_text("model: [\n")
    assert "is not valid YAML" in one_error_line(capsys, ["eval", str(run_dir)])
    assert "no finished runs" in one_error_line(capsys, ["compare", "--report-only", "--out", str(empty)])


@pytest.mark.parametrize("broken", ["trainer_state", "weights"])
def test_resume_from_a_truncated_checkpoint_is_one_line(broken, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: char-0.2m}\ntask: {name: addition}\ntrain: {max_steps: 2}\n")
    ckpt = tmp_path / "run" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{" if broken == "trainer_state" else "{}")
    if broken != "weights":
        (ckpt / "model.safetensors").write_bytes(b"")
    line = one_error_line(capsys, ["train", str(recipe), f"output_dir={tmp_path / 'run'}", "resume=true"])
    assert f"cannot resume from {ckpt}" in line and ("not JSON" in line or "no model weights" in line)


@pytest.mark.parametrize(
    "recipe,override,message",
    [
        ("oversampling", "exploration.candidates_per_prompt=4", "candidates_per_prompt must be >= train.num_gen"),
        ("clip_higher", "train.epsilon_high=0.5", "conflicts with exploration 'clip_higher'"),
    ],
)
def test_show_runs_the_exploration_modules_own_checks(recipe, override, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert message in one_error_line(capsys, ["show", f"recipes/{recipe}.yaml", override])
