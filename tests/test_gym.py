"""The reasoning-gym adapter (`task: {name: gym, dataset: ..., config: {...}}`): items, splits, the thresholded
verifier, one-line errors, and a short `rlvr train` on a gym task (needs the `gym` extra, installed in CI)."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("reasoning_gym")

from rlvr.cli import main  # noqa: E402
from rlvr.errors import ConfigError  # noqa: E402
from rlvr.rewards import correctness  # noqa: E402
from rlvr.tasks import build_task  # noqa: E402

ARITH = dict(dataset="basic_arithmetic", config={"min_terms": 2, "max_terms": 2, "max_digits": 1})


def test_items_are_deterministic_seeded_and_split_disjoint():
    a, b, other = build_task("gym", **ARITH), build_task("gym", **ARITH), build_task("gym", seed=1, **ARITH)
    assert [a.item(i) for i in range(30)] == [b.item(i) for i in range(30)]
    assert [a.item(i)["prompt"] for i in range(30)] != [other.item(i)["prompt"] for i in range(30)]
    train = {a.item(i, "train")["prompt"] for i in range(1000)}
    evals = {a.item(i, "eval")["prompt"] for i in range(100)}
    assert evals and not train & evals
    item = a.item(0)
    assert item["prompt"].startswith("Calculate ") and item["metadata"]["dataset"] == "basic_arithmetic"


def test_verifier_is_score_answer_after_the_hash_thresholded_at_one():
    task = build_task("gym", dataset="products", config={"min_digits": 2, "max_digits": 2})
    item = task.item(3, "eval")
    ans, meta = item["answer"], item["metadata"]
    assert task.verify(f"#{ans}", ans, meta) == 1.0
    assert task.verify(f"some working #  {ans}\n", ans, meta) == 1.0
    assert task.verify(ans, ans, meta) == 0.0  # no '#'
    assert task.verify(f"#{ans}0", ans, meta) == 0.0  # reasoning-gym gives partial credit (contains the answer)
    assert task.verify(f"#{ans}#{ans}", ans, meta) == 0.0
    assert task.solution(item) == f"#{ans}"  # no worked solutions: the warm start answers directly


def test_the_correctness_reward_scores_gym_rows_from_their_columns_alone():
    """The reward builds the task with default settings; the row's metadata must carry the dataset's own."""
    task = build_task("gym", **ARITH)
    rows = [task.item(i) for i in range(6)]
    metas = [json.dumps(r["metadata"]) for r in rows]  # as in the dataset column
    completions = [f"#{r['answer']}" if i % 2 == 0 else "#99999" for i, r in enumerate(rows)]
    scores = correctness(None, completions, [r["answer"] for r in rows], task=["gym"] * 6, metadata=metas)
    assert scores == [1.0, 0.0] * 3


@pytest.mark.parametrize(
    "override,message",
    [
        ("task.dataset=produts", "unknown reasoning-gym dataset 'produts' (did you mean 'products'?)"),
        ("task.config.min_digit=1", "unknown key 'task.config.min_digit'"),
        ("task.config.min_digits=0", "min_digits must be positive"),
        ("task.config.seed=3", "task.config.seed: set task.seed instead"),
        ("task.config=[1]", "'task.config' must be dict"),
        ("task.size=0", "size must be >= 1"),
    ],
)
def test_bad_gym_settings_are_one_line_errors(override, message, tmp_path, capsys):
    recipe = tmp_path / "gym.yaml"
    recipe.write_text("task: {name: gym, dataset: products}\n")
    assert main(["show", str(recipe), override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_missing_extra_says_how_to_install(monkeypatch):
    from rlvr.tasks import gym

    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import reasoning_gym now raises ImportError
    monkeypatch.setitem(sys.modules, "reasoning_gym.factory", None)
    gym._dataset.cache_clear()
    with pytest.raises(ConfigError, match=r"needs the reasoning-gym package: pip install .*\[gym\]"):
        build_task("gym", dataset="products")
    gym._dataset.cache_clear()


def test_train_on_a_gym_task_end_to_end(tmp_path, capsys):
    """A tiny random model for 2 steps: the run completes, evaluates on gym's eval split and writes its samples."""
    recipe = tmp_path / "gym.yaml"
    recipe.write_text(
        "model: {name: char-0.2m}\n"
        "task: {name: gym, dataset: basic_arithmetic, config: {min_terms: 2, max_terms: 2, max_digits: 1},"
        " train_size: 64}\n"
        "train: {max_steps: 2, num_generations: 4, per_device_train_batch_size: 8, max_completion_length: 8}\n"
        "eval: {num_problems: 4, n_samples: 2, ks: [1, 2]}\n"
    )
    out = tmp_path / "run"
    assert main(["train", str(recipe), f"output_dir={out}", "threads=1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and "pass@2" in summary["final_eval"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert samples and all(s["prompt"].startswith("Calculate ") and s["score"] in (0.0, 1.0) for s in samples)


def test_ci_installs_the_extras_of_the_readme_set_up():
    """CI tests the gym adapter, so the README's set-up command and .ci/run install the same extras, gym included."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = re.search(r'pip install -c constraints-cpu.txt -e "\.\[([a-z,]+)\]"', (root / "README.md").read_text())
    ci = re.search(r'pip install -q -c constraints-cpu.txt -e "\.\[([a-z,]+)\]"', (root / ".ci/run").read_text())
    assert readme and ci and readme.group(1) == ci.group(1) and "gym" in ci.group(1).split(",")
