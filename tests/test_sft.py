"""Warm start: traces, completion-only masks, a short SFT whose loss falls, and the checkpoint cache."""

import json
from pathlib import Path

import pytest

from rlvr.errors import RLVRError
from rlvr.models import build_char_tokenizer
from rlvr.recipe import load_recipe
from rlvr.sft import build_sft_dataset, checkpoint_dir, ensure_warm_start, is_complete, run_sft, sft_threads
from rlvr.tasks import TASKS

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
SHORT = ["model.name=char-0.2m", "sft.max_steps=40", "sft.num_examples=400", "sft.batch_size=16",
         "sft.learning_rate=0.003", "sft.logging_steps=10", "threads=1"]  # fmt: skip


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_alphabet_round_trips_through_the_char_tokenizer(name):
    tok = build_char_tokenizer()
    task = TASKS[name]()
    text = task.alphabet
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tok.unk_token_id not in ids
    assert tok.decode(ids) == text
    item = task.item(0)
    assert tok.decode(tok(item["prompt"] + task.solution(item))["input_ids"], skip_special_tokens=True) == (
        item["prompt"] + task.solution(item)
    )


def test_sft_rows_mask_only_the_completion_and_end_with_eos(tmp_path):
    recipe = load_recipe(RECIPES / "sft_addition.yaml", [*SHORT, "sft.num_examples=50", "sft.direct_fraction=0.5"])
    tok = build_char_tokenizer()
    ds = build_sft_dataset(recipe, tok)
    task = recipe.task.build()
    n_direct = 0
    for i, row in enumerate(ds):
        item = task.item(i, "train")
        prompt = tok(item["prompt"])["input_ids"]
        assert row["input_ids"][: len(prompt)] == prompt and row["input_ids"][-1] == tok.eos_token_id
        assert row["completion_mask"] == [0] * len(prompt) + [1] * (len(row["input_ids"]) - len(prompt))
        completion = tok.decode(row["input_ids"][len(prompt) :], skip_special_tokens=True)
        assert completion in (task.solution(item), task.direct_solution(item))
        n_direct += completion == task.direct_solution(item)
    assert 10 < n_direct < 40  # about half of 50 answer directly


def test_short_sft_loss_falls_and_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    recipe = load_recipe(RECIPES / "sft_addition.yaml", SHORT)
    out = run_sft(recipe)
    assert out == checkpoint_dir(recipe) and is_complete(out) and out.is_relative_to(tmp_path / "cache")
    losses = json.loads((out / "rlvr_sft.json").read_text())["losses"]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    again = run_sft(load_recipe(RECIPES / "sft_addition.yaml", SHORT))  # same resolved recipe: reused
    assert again == out and (out / "model.safetensors").stat().st_mtime_ns == stamp
    other = checkpoint_dir(load_recipe(RECIPES / "sft_addition.yaml", [*SHORT, "sft.max_steps=41"]))
    assert other != out  # any change to the recipe is a different checkpoint


def test_ensure_warm_start_errors_on_a_missing_recipe():
    with pytest.raises(RLVRError, match="not a recipe file"):
        ensure_warm_start("recipes/does_not_exist.yaml")


def test_warm_starts_build_on_a_fixed_thread_count_and_refuse_a_build_of_another(tmp_path):
    auto = load_recipe(RECIPES / "sft_addition.yaml", ["threads=auto"])
    assert sft_threads(auto) == 1  # whatever the machine's load: a build's weights depend on its thread count
    assert sft_threads(load_recipe(RECIPES / "sft_countdown.yaml", [])) == 2  # the count the committed runs used
    base = checkpoint_dir(auto)
    assert checkpoint_dir(load_recipe(RECIPES / "sft_addition.yaml", ["threads=2"])) == base  # same cache name
    out = tmp_path / "ws"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "rlvr_sft.json").write_text(json.dumps({"threads": 2}))
    one = load_recipe(RECIPES / "sft_addition.yaml", ["threads=1", f"output_dir={out}"])
    with pytest.raises(RLVRError, match=r"built with 2 torch threads but its recipe asks for 1 .* set threads: 2"):
        run_sft(one)
    two = load_recipe(RECIPES / "sft_addition.yaml", ["threads=2", f"output_dir={out}"])
    assert run_sft(two) == out  # the same count: reused, not rebuilt
