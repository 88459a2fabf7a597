"""pass@k / worst@k against closed forms and `evaluate_samples` on a hand-built example (every key checked)."""

import math

import pytest

from rlvr.evaluation import evaluate_samples, pass_at_k, worst_at_k


def closed_form(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_hand_values_n16_k4():
    expected = [0.0, 0.25, 0.45, 0.61, 0.73, 0.82, 0.88, 0.93, 0.96]
    for c, e in enumerate(expected):
        assert round(pass_at_k(16, c, 4), 2) == e
        assert pass_at_k(16, c, 4) == pytest.approx(closed_form(16, c, 4), abs=1e-12)


def test_pass_at_k_exact_small_case_and_closed_form_grid():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-12)
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), abs=1e-12)


def test_pass_at_k_edges():
    assert pass_at_k(16, 0, 1) == 0.0
    assert pass_at_k(16, 16, 8) == 1.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c = 2 < k: every draw of 3 contains a correct one
    assert pass_at_k(16, 4, 1) == pytest.approx(0.25)
    for bad in [(4, 1, 5), (4, 5, 1), (-1, 0, 0), (4, -1, 1), (4, 1, -1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_worst_at_k():
    assert worst_at_k(5, 3, 2) == pytest.approx(math.comb(3, 2) / math.comb(5, 2))  # 0.3
    assert worst_at_k(5, 3, 2) == pytest.approx(0.3)
    assert worst_at_k(5, 1, 2) == 0.0
    assert worst_at_k(4, 4, 4) == 1.0
    assert worst_at_k(8, 5, 1) == pytest.approx(5 / 8)
    with pytest.raises(ValueError):
        worst_at_k(3, 1, 4)


def test_evaluate_samples_hand_example():
    comps = [["a b", "a  b", "c", "d"], ["x", "x", "x", "x"], ["p", "q", "r", "s"]]
    correct = [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    answers = [["1", "1", None, "2"], [None, None, None, None], ["5", "5", "5", "6"]]
    ents = [[1.0, 1.0, 1.0], [4.0]] + [[0.0]] * 10  # 12 samples, 14 tokens, total 7 -> token-weighted 0.5
    m = evaluate_samples(comps, correct, ks=(1, 2, 4, 8), entropies=ents, answers=answers)
    assert set(m) == {
        "pass@1",
        "pass@2",
        "pass@4",
        "frac_zero_std",
        "frac_all_correct",
        "frac_all_wrong",
        "distinct_completions",
        "distinct_answers",
        "entropy",
        "mean_length",
        "num_problems",
        "num_samples",
        "pass@1_sd",
    }
    assert m["pass@1"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["pass@2"] == pytest.approx((closed_form(4, 2, 2) + 0 + 1) / 3)  # (5/6 + 0 + 1) / 3
    assert m["pass@4"] == pytest.approx(2 / 3)
    assert m["frac_zero_std"] == pytest.approx(2 / 3)
    assert m["frac_all_correct"] == pytest.approx(1 / 3)
    assert m["frac_all_wrong"] == pytest.approx(1 / 3)
    assert m["distinct_completions"] == pytest.approx((3 / 4 + 1 / 4 + 4 / 4) / 3)  # "a b" == "a  b"
    assert m["distinct_answers"] == pytest.approx((2 / 4 + 0 / 4 + 2 / 4) / 3)
    assert m["entropy"] == pytest.approx(0.5)  # not the per-sample mean, which would be (1 + 4) / 12
    assert m["mean_length"] == pytest.approx((3 + 4 + 1 + 1 + 4 + 4) / 12)
    assert m["num_problems"] == 3 and m["num_samples"] == 4
    # c = 2, 0, 4 of n = 4: unbiased p(1-p) per problem c(n-c)/(n(n-1)) = 1/3, 0, 0; variance (1/9) / (3 * 4)
    assert m["pass@1_sd"] == pytest.approx(math.sqrt(1 / 108))
    assert all(isinstance(v, (int, float)) for v in m.values())


def test_evaluate_samples_rejects_ragged():
    with pytest.raises(ValueError):
        evaluate_samples([["a", "b"], ["c"]], [[1.0, 0.0], [1.0]])


def test_pass1_sd_is_the_unbiased_sampling_variance_by_exact_enumeration():
    # One problem with success probability p, n samples: pass@1 = c/n has variance p(1-p)/n. Average the estimator's
    # square over every outcome c ~ Binomial(n, p): it must equal that variance exactly (unbiased), while the plug-in
    # (c/n)(1 - c/n)/n is low by (n-1)/n.
    n, p = 4, 0.3
    probs = [math.comb(n, c) * p**c * (1 - p) ** (n - c) for c in range(n + 1)]
    sds = [evaluate_samples([["x"] * n], [[1.0] * c + [0.0] * (n - c)])["pass@1_sd"] for c in range(n + 1)]
    assert sum(q * sd**2 for q, sd in zip(probs, sds)) == pytest.approx(p * (1 - p) / n, rel=1e-12)
    plug_in = sum(q * (c / n) * (1 - c / n) / n for c, q in enumerate(probs))
    assert plug_in == pytest.approx(p * (1 - p) / n * (n - 1) / n, rel=1e-12)


def test_pass1_sampling_sd_from_pass1_and_pass2_matches_evaluate_samples():
    from rlvr.stats import pass1_sampling_sd

    correct = [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]  # c = 1, 2 of 4
    m = evaluate_samples([["a"] * 4] * 2, correct, ks=(1, 2))
    assert m["pass@1"] == pytest.approx(0.375) and m["pass@2"] == pytest.approx((0.5 + 5 / 6) / 2)
    # (pass@2 - pass@1) / (P n) = (2/3 - 3/8) / 8 = 7/192
    assert pass1_sampling_sd(m["pass@1"], m["pass@2"], 2, 4) == pytest.approx(math.sqrt(7 / 192))
    assert m["pass@1_sd"] == pytest.approx(math.sqrt(7 / 192))
    assert math.isnan(pass1_sampling_sd(0.5, None, 2, 4))  # an evaluation without pass@2: n/a, not 0


def test_periodic_eval_uses_the_final_settings_at_step_0_and_at_the_end(tmp_path):
    from types import SimpleNamespace

    from rlvr.callbacks import MetricsWriter, PeriodicEval

    calls = []

    def periodic(model):
        calls.append("periodic")
        return {"pass@1": 0.1}

    periodic.final = lambda model: calls.append("final") or {"pass@1": 0.2, "pass@64": 0.9}
    cb = PeriodicEval(periodic, every=2, writer=MetricsWriter(tmp_path / "metrics.jsonl"))
    state = SimpleNamespace(global_step=0, max_steps=4, is_world_process_zero=True)
    cb.on_train_begin(None, state, None)
    for step in range(1, 5):
        state.global_step = step
        cb.on_step_end(None, state, None)
    cb.on_train_end(None, state, None)
    assert calls == ["final", "periodic", "final"]  # steps 0, 2 and 4 (step 4 is the end, not a periodic one)
    assert [h["step"] for h in cb.history] == [0, 2, 4] and cb.last == {"pass@1": 0.2, "pass@64": 0.9}
    plain = PeriodicEval(lambda model: {"pass@1": 0.3}, every=0, writer=MetricsWriter(tmp_path / "m2.jsonl"))
    plain.on_train_begin(None, SimpleNamespace(global_step=0, max_steps=1, is_world_process_zero=True), None)
    assert plain.last == {"pass@1": 0.3}  # an evaluator without `.final` does both


def test_make_evaluator_final_evaluation_is_the_larger_one(tiny_recipe):
    from rlvr.evaluation import make_evaluator
    from rlvr.models import load_model
    from rlvr.recipe import load_recipe

    over = ["eval.num_problems=3", "eval.n_samples=2", "eval.ks=[1,2]", "eval.final.num_problems=5"]
    recipe = load_recipe(tiny_recipe, [*over, "eval.final.n_samples=8", "eval.batch_size=64"], kind="train")
    model, tokenizer = load_model("char-0.2m", seed=0)
    run = make_evaluator(recipe, recipe.task.build(), tokenizer, max_new_tokens=4)
    small, big = run(model), run.final(model)
    assert (small["num_problems"], small["num_samples"]) == (3, 2) and "pass@4" not in small
    assert (big["num_problems"], big["num_samples"]) == (5, 8)
    assert [k for k in big if k.startswith("pass@") and k[5:].isdigit()] == ["pass@1", "pass@2", "pass@4", "pass@8"]
    assert "greedy_accuracy" in big and "entropy" in big and "distinct_answers" in big and "pass@1_sd" in big


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["eval.final.n_samples=8", "eval.final.ks=[1,16]"], "eval.final: need num_problems >= 1 and n_samples (8)"),
        (["eval.final.num_problems=0"], "eval.final: need num_problems >= 1"),
        (["eval.final.n_sample=64"], "unknown key 'eval.final.n_sample' (did you mean 'n_samples'"),
        (['eval.final.n_samples="x"'], "'eval.final.n_samples' must be"),
    ],
)
def test_bad_final_eval_settings_are_one_line_errors(tiny_recipe, overrides, message):
    from rlvr.errors import ConfigError
    from rlvr.recipe import load_recipe

    with pytest.raises(ConfigError) as exc:
        load_recipe(tiny_recipe, overrides, kind="train")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_final_eval_defaults():
    from rlvr.recipe import EvalConfig, FinalEvalConfig

    ev = EvalConfig()
    assert ev.final.resolve(ev) == (128, 16, [1, 2, 4, 8, 16])  # unset: the periodic settings
    big = EvalConfig(final=FinalEvalConfig(num_problems=256, n_samples=64))
    assert big.final.resolve(big) == (256, 64, [1, 2, 4, 8, 16, 32, 64])  # powers of two up to n_samples
    odd = EvalConfig(final=FinalEvalConfig(n_samples=48))
    assert odd.final.resolve(odd) == (128, 48, [1, 2, 4, 8, 16, 32])


def test_a_run_reports_the_final_settings_at_step_0_and_the_end(tmp_path, monkeypatch, tmp_cache):
    # rlvr/train.py's make_evaluator is to delegate to rlvr.evaluation's (the lead's file): patched here until it does
    import json

    import yaml

    import rlvr.evaluation
    import rlvr.train
    from rlvr.recipe import load_recipe

    train = dict(max_steps=2, num_generations=4, per_device_train_batch_size=8, max_completion_length=8)
    ev = dict(num_problems=2, n_samples=2, ks=[1, 2], every=1, final={"num_problems": 4, "n_samples": 8})
    recipe = dict(model={"name": "char-0.2m"}, task={"name": "addition", "train_size": 50}, train=train, eval=ev)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**recipe, "threads": 1, "output_dir": str(tmp_path / "out")}))
    rlvr.train.run_train(load_recipe(path, kind="train"))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for key in ("initial_eval", "final_eval"):
        assert (summary[key]["num_problems"], summary[key]["num_samples"]) == (4, 8) and "pass@8" in summary[key]
    rows = [json.loads(li) for li in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    sizes = [(r["step"], r["eval/num_samples"]) for r in rows if "eval/num_samples" in r]
    assert sizes == [(0, 8), (1, 2), (2, 8)]  # the periodic evaluation at step 1 stays small
