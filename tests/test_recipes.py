"""Every shipped recipe loads and validates; module recipes differ from grpo.yaml only in `exploration:`."""

from pathlib import Path

import pytest
import yaml

from rlvr.errors import ConfigError
from rlvr.exploration import EXPLORERS, get_explorer_class
from rlvr.recipe import SFTRecipe, TrainRecipe, load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TRAIN = [p for p in sorted(RECIPES.glob("*.yaml")) if "recipes" not in yaml.safe_load(p.read_text())]


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_recipe_loads_and_resolves(path):
    recipe = load_recipe(path)
    assert isinstance(recipe, TrainRecipe | SFTRecipe)
    if isinstance(recipe, TrainRecipe):
        for block in recipe.exploration.blocks:  # one module, or each module of a stack
            get_explorer_class(block.name)
        if recipe.model.warm_start:
            assert isinstance(load_recipe(recipe.model.warm_start), SFTRecipe)


MODULE_RECIPES = [RECIPES / f"{name}.yaml" for name in EXPLORERS if (RECIPES / f"{name}.yaml").is_file()]


def test_every_module_has_a_recipe():
    missing = [n for n in EXPLORERS if n != "none" and not (RECIPES / f"{n}.yaml").is_file()]
    assert missing == []


@pytest.mark.parametrize("path", MODULE_RECIPES, ids=lambda p: p.name)
def test_module_recipe_differs_from_grpo_only_in_exploration(path):
    base = yaml.safe_load((RECIPES / "grpo.yaml").read_text())
    other = yaml.safe_load(path.read_text())
    assert other["exploration"]["name"] == path.stem
    base.pop("exploration"), other.pop("exploration")
    assert other == base


# Stacks of modules (a list under `exploration:`) obey the same rule as module recipes.
STACK_RECIPES = {"dapo.yaml": ["clip_higher", "oversampling", "overlong_shaping"]}
# TRL's native loss variants: no module, they change only these `train:` keys of grpo.yaml.
NATIVE_RECIPES = {"dr_grpo.yaml": {"loss_type": "dr_grpo", "scale_rewards": "none"}}


@pytest.mark.parametrize("name", sorted(STACK_RECIPES))
def test_stack_recipe_differs_from_grpo_only_in_exploration(name):
    base = yaml.safe_load((RECIPES / "grpo.yaml").read_text())
    other = yaml.safe_load((RECIPES / name).read_text())
    assert [b["name"] for b in other.pop("exploration")] == STACK_RECIPES[name]
    base.pop("exploration")
    assert other == base


def test_dapo_stack_runs_the_token_level_loss():
    from rlvr.train import grpo_args

    recipe = load_recipe(RECIPES / "dapo.yaml", kind="train")
    args = grpo_args(recipe, recipe.exploration.build(), Path("unused"))
    assert (args.loss_type, args.epsilon, args.epsilon_high) == ("dapo", 0.2, 0.28)  # loss_type: TRL's default


@pytest.mark.parametrize("name", sorted(NATIVE_RECIPES))
def test_native_variant_recipe_differs_from_grpo_only_in_its_train_keys(name):
    base = yaml.safe_load((RECIPES / "grpo.yaml").read_text())
    other = yaml.safe_load((RECIPES / name).read_text())
    assert other["exploration"] == base["exploration"] == {"name": "none"}
    changed = {k: v for k, v in other["train"].items() if base["train"].get(k) != v}
    assert changed == NATIVE_RECIPES[name]
    base["train"].update(changed)
    assert other == base


def test_overriding_a_component_name_drops_the_old_components_settings():
    # recipes/lp_reg.yaml sets addition's min_digits and lp_reg's rho: neither exists on countdown / entropy_bonus.
    over = ["task.name=countdown", "task.num_numbers=4", "exploration.name=entropy_bonus", "exploration.coef=0.1"]
    r = load_recipe("recipes/lp_reg.yaml", over, "train")
    assert (r.task.name, r.task.config.num_numbers, r.task.train_size) == ("countdown", 4, 20000)  # shared key kept
    assert (r.exploration.name, r.exploration.config.coef) == ("entropy_bonus", 0.1)
    same = load_recipe("recipes/lp_reg.yaml", ["task.name=addition", "exploration.name=lp_reg"], "train")
    assert same.task.config.min_digits == 3 and same.exploration.config.rho == 0.05  # same name: settings stay
    with pytest.raises(ConfigError, match="unknown key 'task.min_digits'"):  # the override's own keys are checked
        load_recipe("recipes/lp_reg.yaml", ["task.name=countdown", "task.min_digits=2"], "train")


@pytest.mark.parametrize("path", sorted(RECIPES.glob("compare_*.yaml")), ids=lambda p: p.name)
def test_every_comparison_run_resolves(path):
    from rlvr.compare import read_comparison

    comp = read_comparison(path)
    for entry in comp.entries:
        recipe = load_recipe(entry.recipe, [*comp.overrides, *entry.overrides], "train")
        assert recipe.exploration.name == load_recipe(entry.recipe, kind="train").exploration.name
        if any(name in path.name for name in ("countdown", "collapse", "rare")):
            assert recipe.task.name == "countdown" and recipe.model.warm_start == "recipes/sft_countdown.yaml"
