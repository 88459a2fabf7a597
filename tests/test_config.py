"""Recipes: dotted overrides, merging, and one-line ConfigErrors that name the key, the file and a fix."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from rlvr.config import deep_merge, dump_yaml, parse_overrides
from rlvr.errors import ConfigError, RLVRError
from rlvr.recipe import load_recipe


def write(tmp_path, text: str, name: str = "r.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config_error(path, overrides=None) -> str:
    """The ConfigError message of load_recipe(path, overrides); it must be a single line."""
    with pytest.raises(ConfigError) as info:
        load_recipe(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# -- parse_overrides / deep_merge -------------------------------------------------------------------
def test_parse_overrides_nests_dotted_keys():
    tree = parse_overrides(["train.learning_rate=1", "train.max_steps=5", "eval.ks=[1, 2]", "seed=3"])
    assert tree == {"train": {"learning_rate": 1, "max_steps": 5}, "eval": {"ks": [1, 2]}, "seed": 3}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3e-5", 3e-5),
        ("1E3", 1000.0),
        ("-2.5e+2", -250.0),
        ("0.5", 0.5),
        ("7", 7),
        ("[1,2]", [1, 2]),
        ("null", None),
        ("true", True),
        ("false", False),
        ("hello", "hello"),
        ('"3e-5"', "3e-5"),
        ("{a: 1}", {"a": 1}),
        ("", ""),
        ("a=b", "a=b"),  # only the first '=' splits key from value
    ],
)
def test_parse_overrides_values_are_yaml(raw, expected):
    value = parse_overrides([f"x={raw}"])["x"]
    assert value == expected and type(value) is type(expected)


def test_parse_overrides_rejects_missing_equals():
    with pytest.raises(ConfigError, match="train.max_steps") as info:
        parse_overrides(["train.max_steps"])
    assert "key.sub=value" in str(info.value)


def test_parse_overrides_rejects_invalid_yaml_and_conflicts():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_overrides(["eval.ks=[1, 2"])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_overrides(["train=1", "train.max_steps=2"])


def test_deep_merge_recurses_and_keeps_base_untouched():
    base = {"a": {"b": 1, "c": 2}, "d": [1, 2]}
    merged = deep_merge(base, {"a": {"c": 3, "e": 4}, "d": [9]})
    assert merged == {"a": {"b": 1, "c": 3, "e": 4}, "d": [9]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1, 2]}


def test_deep_merge_list_index_updates():
    base = {"reward": [{"name": "correctness", "weight": 1.0}, {"name": "format", "weight": 0.1}]}
    merged = deep_merge(base, parse_overrides(["reward.0.weight=0.5", "reward.1.name=x.py:f"]))
    assert merged["reward"] == [{"name": "correctness", "weight": 0.5}, {"name": "x.py:f", "weight": 0.1}]
    with pytest.raises(ConfigError, match="index 2 out of range"):
        deep_merge(base, parse_overrides(["reward.2.weight=1"]))


# -- load_recipe ------------------------------------------------------------------------------------
def test_tiny_recipe_loads_with_defaults(tiny_recipe):
    r = load_recipe(tiny_recipe)
    assert r.task.name == "addition" and r.task.config.max_digits == 3
    assert r.exploration.name == "none" and r.train == {"max_steps": 2}
    assert [(s.name, s.weight) for s in r.reward] == [("correctness", 1.0)]
    assert r.source == str(tiny_recipe)


def test_overrides_apply_and_values_are_typed(tiny_recipe):
    r = load_recipe(tiny_recipe, ["train.learning_rate=3e-5", "task.max_digits=5", "eval.temperature=1", "seed=4"])
    assert r.train == {"max_steps": 2, "learning_rate": 3e-5}
    assert r.task.config.max_digits == 5 and r.seed == 4
    assert r.eval.temperature == 1.0 and isinstance(r.eval.temperature, float)  # int accepted for float


def test_reward_list_index_override(tmp_path):
    path = write(
        tmp_path,
        """\
        task: {name: addition}
        reward:
          - {name: correctness, weight: 1.0}
          - {name: format, weight: 0.1}
        """,
    )
    r = load_recipe(path, ["reward.1.weight=0.5"])
    assert [(s.name, s.weight) for s in r.reward] == [("correctness", 1.0), ("format", 0.5)]


def test_unknown_top_level_key_names_key_file_and_suggestion(tmp_path):
    path = write(tmp_path, "task: {name: addition}\nsede: 1\n")
    msg = config_error(path)
    assert "'sede'" in msg and str(path) in msg and "did you mean 'seed'" in msg


@pytest.mark.parametrize(
    "override, key, suggestion",
    [
        ("eval.n_sample=4", "eval.n_sample", "n_samples"),
        ("task.max_digit=4", "task.max_digit", "max_digits"),
        ("model.dtpye=float32", "model.dtpye", "dtype"),
        ("task.train_sise=10", "task.train_sise", "train_size"),
        ("train.learning_rat=1e-4", "train.learning_rat", "learning_rate"),
    ],
)
def test_unknown_nested_key_suggests_closest(tiny_recipe, override, key, suggestion):
    msg = config_error(tiny_recipe, [override])
    assert f"unknown key '{key}'" in msg and str(tiny_recipe) in msg
    assert f"did you mean '{suggestion}'" in msg


def test_unknown_train_key_mentions_grpo_config(tiny_recipe):
    msg = config_error(tiny_recipe, ["train.learning_rat=1e-4"])
    assert "GRPOConfig" in msg


def test_unknown_exploration_key(tiny_recipe):
    msg = config_error(tiny_recipe, ["exploration.rho=0.1"])
    assert "unknown key 'exploration.rho'" in msg and str(tiny_recipe) in msg


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ('eval.n_samples="a"', "eval.n_samples", "int"),
        ("seed=1.5", "seed", "int"),
        ("seed=true", "seed", "int"),  # bool is not an int here
        ("eval.greedy=3", "eval.greedy", "bool"),
        ("task.max_digits=2.0", "max_digits", "int"),
        ("train.max_steps=ten", "train.max_steps", "int"),
        ("train.learning_rate=fast", "train.learning_rate", "float"),
        ("model.name=3", "model.name", "str"),
    ],
)
def test_wrong_type_names_key(tiny_recipe, override, key, expected):
    msg = config_error(tiny_recipe, [override])
    assert key in msg and expected in msg and str(tiny_recipe) in msg


@pytest.mark.parametrize("override", ["task=addition", "exploration=3", "eval=3"])
def test_block_that_is_not_a_mapping(tiny_recipe, override):
    block = override.split("=")[0]
    msg = config_error(tiny_recipe, [override])
    assert f"'{block}' must be a mapping" in msg


def test_invalid_values_are_config_errors(tiny_recipe):
    assert "model.dtype" in config_error(tiny_recipe, ["model.dtype=fp8"])
    assert "eval.n_samples (4) must be >= max(eval.ks) (16)" in config_error(tiny_recipe, ["eval.n_samples=4"])
    assert "min_digits" in config_error(tiny_recipe, ["task.min_digits=5", "task.max_digits=2"])
    assert "sampler" in config_error(tiny_recipe, ["sampler=slow"])
    assert "at least one reward" in config_error(tiny_recipe, ["reward=[]"])
    assert "reward.0.wieght" in config_error(tiny_recipe, ["reward=[{name: correctness, wieght: 1}]"])


def test_unknown_task_or_exploration_name_suggests(tiny_recipe):
    with pytest.raises(RLVRError, match="did you mean 'addition'") as info:
        load_recipe(tiny_recipe, ["task.name=additon"])
    assert "\n" not in str(info.value)
    with pytest.raises(RLVRError, match="did you mean 'none'"):
        load_recipe(tiny_recipe, ["exploration.name=nonee"])


def test_missing_recipe_file(tmp_path):
    msg = config_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in msg and "does not exist" in msg


def test_invalid_yaml_and_non_mapping_recipe(tmp_path):
    msg = config_error(write(tmp_path, "task: [addition\n", "bad.yaml"))
    assert "bad.yaml" in msg and "not valid YAML" in msg
    msg = config_error(write(tmp_path, "- a\n- b\n", "list.yaml"))
    assert "list.yaml" in msg and "mapping" in msg


def test_sft_recipe_kind(tmp_path):
    path = write(tmp_path, "task: {name: addition}\nsft: {max_steps: 3, learning_rate: 2e-3}\n")
    r = load_recipe(path)
    assert type(r).__name__ == "SFTRecipe" and r.sft.max_steps == 3 and r.sft.learning_rate == 2e-3
    assert "sft.max_step'" in config_error(path, ["sft.max_step=3"])


def test_dump_yaml_round_trips(tiny_recipe, tmp_path):
    r = load_recipe(
        tiny_recipe,
        ["train.learning_rate=3e-5", "task.max_digits=4", "reward=[correctness, {name: format, weight: 0.1}]"],
    )
    text = dump_yaml(r)
    data = yaml.safe_load(text)
    assert data["train"]["learning_rate"] == 3e-5 and data["task"]["max_digits"] == 4
    assert data["reward"][1] == {"name": "format", "weight": 0.1, "kwargs": {}}
    again = write(tmp_path, text, "dumped.yaml")
    assert dump_yaml(load_recipe(again)) == text


def test_recipe_without_component_blocks_gets_their_defaults(tmp_path):
    from rlvr.config import dump_yaml
    from rlvr.recipe import load_recipe

    path = tmp_path / "minimal.yaml"
    path.write_text("train: {max_steps: 2}\n")
    recipe = load_recipe(path)
    assert recipe.exploration.name == "none" and recipe.exploration.config is not None
    assert recipe.task.name == "addition" and recipe.task.config.min_digits == 3
    assert "exploration:\n  name: none" in dump_yaml(recipe)
