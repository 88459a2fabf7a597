"""Every built-in module for 2 steps in a real trainer (its own GRPOConfig overrides applied): its signature
metric is logged and the run trains. The slow end-to-end signatures against `none` are in test_signatures.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, run_and_check_signature  # noqa: E402,F401

from rlvr.exploration import build_explorer  # noqa: E402

CASES = {
    # module: (settings, metrics every logged step must carry)
    "oversampling": ({"candidates_per_prompt": 8}, ["explore/frac_zero_std_before", "explore/frac_zero_std_after",
                                                    "explore/candidates", "explore/rounds"]),
    "entropy_bonus": ({"coef": 0.05}, ["entropy_coef", "explore/entropy_bonus", "explore/kl_anchor", "kl"]),
    "lp_reg": ({"rho": 0.2}, ["explore/reg_tokens", "explore/neg_tokens", "explore/low_prob_mass"]),
    "latr": ({"tau_abs": 0.0, "tau_rel": 1.0, "lookahead": [2, 4]}, ["explore/branching_ratio", "explore/eta"]),
    "clip_higher": ({}, ["clip_ratio/high_mean", "clip_ratio/low_mean"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_runs_two_steps_and_logs_its_signature(make_trainer, name):
    settings, keys = CASES[name]
    cls_cfg = build_explorer(name).config_cls(**settings)
    module = build_explorer(name, cls_cfg)
    trainer, logs = run_and_check_signature(make_trainer, module, keys)
    if name == "oversampling":  # K = 2G candidates: more sampled than trained on
        assert all(h["sampled_tokens"] > h["completions/mean_length"] * 8 for h in logs)
    if name == "clip_higher":
        assert (trainer.epsilon_low, trainer.epsilon_high) == (0.2, 0.28)
    if name == "entropy_bonus":
        assert all(h["entropy_coef"] == 0.05 for h in logs) and trainer.ref_model is not None
    if name == "lp_reg":
        assert sum(h["explore/reg_tokens"] for h in logs) > 0


STACKS = {
    # zoo-2 modules stacked with part-1 modules where the math allows: (modules, metrics every logged step carries)
    "dars+clip_higher": (["dars", "clip_higher"], ["explore/second_rollout", "clip_ratio/high_mean"]),
    "ead+dars": (["ead", "dars"], ["explore/tau_first", "explore/group_size"]),
    "rep_exp+entropy_advantage": (["rep_exp", "entropy_advantage"], ["explore/bonus_mean", "diag/effective_rank"]),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_zoo_stacks_run_two_steps(make_trainer, name):
    from rlvr.exploration.stack import ExplorerStack

    names, keys = STACKS[name]
    stack = ExplorerStack([build_explorer(n) for n in names])
    trainer, logs = run_and_check_signature(make_trainer, stack, keys)
    if "clip_higher" in names:
        assert (trainer.epsilon_low, trainer.epsilon_high) == (0.2, 0.28)
    if "dars" in names:
        assert trainer.args.scale_rewards == "none"  # DARS's mean-only advantage survives the stack


def test_two_rollout_replacers_do_not_stack():
    from rlvr.errors import RLVRError
    from rlvr.exploration.stack import ExplorerStack

    with pytest.raises(RLVRError, match="ettrl_tree and cure both replace the rollout"):
        ExplorerStack([build_explorer("ettrl_tree"), build_explorer("cure")])
