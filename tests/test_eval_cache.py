"""The step-0 evaluation cache (rlvr/eval_cache.py): keys that change with every input, a stored result reused, and
two runs of one comparison seed sharing one evaluation with the same numbers as a fresh one."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from rlvr.cli import main  # noqa: E402
from rlvr.eval_cache import cached, eval_key  # noqa: E402
from rlvr.models import build_model  # noqa: E402

ROWS = [{"prompt": "1+2=", "answer": "3", "metadata": {}}]
SETTINGS = {"problems": 1, "n_samples": 4, "seed": 0}


def test_the_key_changes_with_every_input():
    model, tok = build_model("char-0.2m", seed=0)
    base = eval_key(model, tok, ROWS, SETTINGS)
    assert eval_key(model, tok, ROWS, dict(SETTINGS)) == base  # the same inputs: the same key
    assert eval_key(model, tok, ROWS, {**SETTINGS, "seed": 1}) != base
    assert eval_key(model, tok, [{**ROWS[0], "answer": "4"}], SETTINGS) != base
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)  # another thread count samples other last bits
        assert eval_key(model, tok, ROWS, SETTINGS) != base
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-6  # one weight, one ulp-ish change
    assert eval_key(model, tok, ROWS, SETTINGS) != base


def test_a_stored_result_is_reused_and_the_switch_turns_it_off(tmp_cache, monkeypatch):
    monkeypatch.setenv("RLVR_EVAL_CACHE", "1")
    calls = []
    compute = lambda: calls.append(1) or {"pass@1": 0.25}  # noqa: E731
    assert cached("k1", compute) == ({"pass@1": 0.25}, False)
    assert cached("k1", compute) == ({"pass@1": 0.25}, True) and len(calls) == 1
    (tmp_cache / "evals" / "k1.json").write_text('{"pass@1": 0.2')  # a torn write is recomputed
    assert cached("k1", compute) == ({"pass@1": 0.25}, False) and len(calls) == 2
    monkeypatch.setenv("RLVR_EVAL_CACHE", "0")
    assert cached("k1", compute)[1] is False and len(calls) == 3


def test_two_labels_of_one_seed_share_the_step0_evaluation(tiny_recipe, tmp_path, tmp_cache, monkeypatch, capsys):
    common = ["threads=1", "train.max_steps=1", "eval.num_problems=4", "eval.n_samples=4", "eval.ks=[1,2,4]"]
    monkeypatch.setenv("RLVR_EVAL_CACHE", "0")
    assert main(["train", str(tiny_recipe), *common, f"output_dir={tmp_path / 'fresh'}"]) == 0
    monkeypatch.setenv("RLVR_EVAL_CACHE", "1")
    assert main(["train", str(tiny_recipe), *common, f"output_dir={tmp_path / 'a'}"]) == 0
    capsys.readouterr()
    other = ["exploration.name=clip_higher", f"output_dir={tmp_path / 'b'}"]
    assert main(["train", str(tiny_recipe), *common, *other]) == 0
    assert "step-0 evaluation reused from the cache" in capsys.readouterr().out
    initial = {d: json.loads((tmp_path / d / "summary.json").read_text())["initial_eval"] for d in ("fresh", "a", "b")}
    assert initial["b"] == initial["a"]  # b's step-0 evaluation is a's, stored
    timing = {"eval_seconds"}
    fresh, stored = ({k: v for k, v in initial[d].items() if k not in timing} for d in ("fresh", "a"))
    assert fresh == stored and "pass@4" in fresh  # and a fresh evaluation gives the same numbers
    assert len(list((tmp_cache / "evals").glob("*.json"))) == 1  # written by `a` only: the switch also stops writes
    assert main(["train", str(tiny_recipe), *common, "seed=1", f"output_dir={tmp_path / 'c'}"]) == 0
    assert "reused from the cache" not in capsys.readouterr().out  # another seed: another evaluation
