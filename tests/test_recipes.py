"""Every shipped recipe loads and validates; module recipes differ from grpo.yaml only in `exploration:`."""

from pathlib import Path

import pytest
import yaml

from rlvr.exploration import EXPLORERS, get_explorer_class
from rlvr.recipe import SFTRecipe, TrainRecipe, load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TRAIN = [p for p in sorted(RECIPES.glob("*.yaml")) if "recipes" not in yaml.safe_load(p.read_text())]


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_recipe_loads_and_resolves(path):
    recipe = load_recipe(path)
    assert isinstance(recipe, TrainRecipe | SFTRecipe)
    if isinstance(recipe, TrainRecipe):
        get_explorer_class(recipe.exploration.name)
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
