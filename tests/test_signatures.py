"""Each exploration module visibly does its job against `none` with the same seed (short real runs).

One small warm start (char-0.2m SFT'd on 1-2 digit addition, cached for the session) is trained for a few
GRPO steps with each shipped recipe, overridden to the tiny model and a short run; the module's signature
metric must move the expected way against the `none` run:

    oversampling   fewer zero-variance groups trained on
    entropy_bonus  higher token entropy late in the run
    lp_reg         more low-probability mass / entropy late in the run
    latr           more distinct completions per group while the tree is used
"""

import json
from pathlib import Path

import pytest

from rlvr.recipe import load_recipe
from rlvr.sft import run_sft
from rlvr.train import run_train

pytestmark = pytest.mark.slow
RECIPES = Path(__file__).resolve().parent.parent / "recipes"
STEPS = 16


@pytest.fixture(scope="module")
def warm_start(tmp_path_factory):
    out = tmp_path_factory.mktemp("warm")
    recipe = load_recipe(
        RECIPES / "sft_addition.yaml",
        ["model.name=char-0.2m", "task.max_digits=2", "sft.max_steps=300", "sft.num_examples=8000",
         "sft.learning_rate=0.003", f"output_dir={out}", "threads=1"],
        kind="sft",
    )  # fmt: skip
    return str(run_sft(recipe))


def train_rows(name, warm_start, tmp_path, extra=()):
    out = tmp_path / name
    recipe = load_recipe(
        RECIPES / f"{name}.yaml",
        ["model.warm_start=null", f"model.name={warm_start}", "task.min_digits=2", "task.max_digits=2",
         f"train.max_steps={STEPS}", "train.learning_rate=0.0005", "train.logging_steps=1", "train.save_steps=1000",
         "eval.num_problems=8", "eval.n_samples=4", "eval.ks=[1,2,4]", f"output_dir={out}", "threads=1", *extra],
    )  # fmt: skip
    run_train(recipe)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    return [r for r in rows if "reward" in r]


def mean(rows, key, last=None):
    values = [r[key] for r in rows if key in r][-last if last else 0 :]
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def none_rows(warm_start, tmp_path_factory):
    return train_rows("grpo", warm_start, tmp_path_factory.mktemp("none"))


def test_oversampling_trains_on_fewer_zero_variance_groups(warm_start, none_rows, tmp_path):
    rows = train_rows("oversampling", warm_start, tmp_path)
    assert mean(rows, "explore/frac_zero_std_after") < mean(none_rows, "frac_reward_zero_std")
    assert mean(rows, "explore/frac_zero_std_after") <= mean(rows, "explore/frac_zero_std_before")
    # the cost side: K = 16 candidates (and refills) per prompt against G = 8, all counted in sampled_tokens
    assert all(r["sampled_tokens"] >= r["explore/generated_tokens"] for r in rows)
    assert mean(rows, "sampled_tokens") > 1.5 * mean(none_rows, "sampled_tokens")


def test_entropy_bonus_keeps_entropy_higher(warm_start, none_rows, tmp_path):
    rows = train_rows("entropy_bonus", warm_start, tmp_path, ["exploration.coef=0.5"])
    assert mean(rows, "entropy", last=4) > mean(none_rows, "entropy", last=4)
    assert "explore/kl_anchor" in rows[-1]


def test_lp_reg_keeps_low_probability_mass(warm_start, none_rows, tmp_path):
    # beta 5, not the authors' 1: with transformers 5.24 the tiny warm start differs and at beta 1 this 16-step run's
    # late entropy came out below none's (1.046 vs 1.063, the same numbers on the previous main): within noise here
    rows = train_rows("lp_reg", warm_start, tmp_path, ["exploration.rho=0.5", "exploration.beta=5.0"])
    assert mean(rows, "explore/reg_tokens") > 0
    assert mean(rows, "entropy", last=4) > mean(none_rows, "entropy", last=4)


def test_latr_groups_are_more_diverse(warm_start, tmp_path):
    # The tiny test seed is far less peaked than the real one (i.i.d. groups are ~99% distinct at T = 1), so both
    # runs sample at T = 0.5, where i.i.d. groups repeat themselves the way the real seed's do at T = 1.
    cold = ["train.temperature=0.5"]
    none = train_rows("grpo", warm_start, tmp_path / "none", cold)
    schedule = "{0: 1.0, 1000: 0.0}"  # tree for the whole short run
    rows = train_rows("latr", warm_start, tmp_path / "latr", [*cold, f"exploration.mix_ratio_schedule={schedule}"])
    assert mean(rows, "explore/branching_ratio") > 0
    assert mean(rows, "diversity/distinct_completions") > mean(none, "diversity/distinct_completions")
