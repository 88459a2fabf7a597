"""`none` is vanilla GRPOTrainer bit for bit: rlvr's own rollout step and policy loss, every supported loss_type,
on-policy and with old log-probs (num_iterations > 1, steps_per_generation > 1), clip variants and the KL term."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _trainers import assert_params_equal, dataset, make_trainer, model_dir, params, train_logs  # noqa: E402,F401
from trl import GRPOTrainer  # noqa: E402

from rlvr.trainer import RLVRTrainer  # noqa: E402

KEYS = ("loss", "reward", "reward_std", "entropy", "grad_norm", "frac_reward_zero_std", "num_tokens")
CLIP_KEYS = ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean")


def _same_run(make_trainer, keys=KEYS, **cfg):
    ours = make_trainer(RLVRTrainer, sampler="trl", **cfg)
    ours.train()
    ref = make_trainer(GRPOTrainer, **cfg)
    ref.train()
    a, b = train_logs(ours), train_logs(ref)
    assert len(a) == len(b) == cfg.get("max_steps", 2)
    for x, y in zip(a, b):
        for key in keys:  # steps that reuse a rollout log no rollout metrics, in both
            assert x.get(key) == y.get(key), (key, x["step"], x.get(key), y.get(key))
    assert all(any(key in h for h in a) for key in keys)
    assert any(h["loss"] != 0 for h in a)  # a non-trivial trajectory, not 0 == 0
    assert_params_equal(params(ours), params(ref))
    return a


@pytest.mark.parametrize("num_iterations", [1, 2])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_none_is_vanilla_grpo_for_every_supported_loss_type(make_trainer, loss_type, num_iterations):
    # num_iterations 2: each rollout is trained on twice, the second time off-policy (old log-probs, real ratios)
    logs = _same_run(
        make_trainer, keys=KEYS + CLIP_KEYS, loss_type=loss_type, num_iterations=num_iterations, max_steps=3
    )
    assert len(logs) == 3


def test_off_policy_micro_batches_clip_variants_and_kl_match(make_trainer):
    # two micro-batches per rollout (steps_per_generation 2), clip-higher, two-sided clip, KL to a reference
    cfg = dict(steps_per_generation=2, epsilon_high=0.28, delta=1.5, beta=0.05, max_steps=4, learning_rate=2e-2)
    logs = _same_run(make_trainer, keys=KEYS + CLIP_KEYS + ("kl",), **cfg)
    assert any(h["kl"] > 0 for h in logs)


def test_sequence_level_ratios_and_entropy_bonus_match(make_trainer):
    cfg = dict(importance_sampling_level="sequence", num_iterations=2, entropy_coef=0.05, max_steps=3)
    _same_run(make_trainer, keys=KEYS + ("entropy_coef", "policy_loss"), **cfg)


def test_adaptive_entropy_controller_and_top_entropy_mask_match(make_trainer):
    cfg = dict(use_adaptive_entropy=True, entropy_target=10.0, top_entropy_quantile=0.5, max_steps=3)
    _same_run(make_trainer, keys=KEYS + ("entropy_coef",), **cfg)
