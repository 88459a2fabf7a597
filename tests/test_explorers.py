"""Hand-computed checks of the oversampling, entropy_bonus, lp_reg and clip_higher terms."""

import math

import pytest
import torch
from torch.testing import assert_close

from rlvr.errors import ConfigError
from rlvr.exploration.clip_higher import ClipHigher, ClipHigherConfig
from rlvr.exploration.context import LossContext, RunInfo
from rlvr.exploration.entropy_bonus import EntropyBonus, EntropyBonusConfig
from rlvr.exploration.lp_reg import LpReg, LpRegConfig, lp_reg_select, proxy_logps
from rlvr.exploration.oversampling import Oversampling, max_diversity_subset, max_variance_subset

# -- oversampling ---------------------------------------------------------------------------------


def test_max_variance_subset_balances_binary_rewards():
    rewards = [1, 1, 1, 1, 1, 1, 0, 0]  # 6 right, 2 wrong; keep 4
    idx = max_variance_subset(rewards, 4)
    kept = [rewards[i] for i in idx]
    assert sorted(kept) == [0, 0, 1, 1]  # variance 0.25, the maximum for 4 binary values
    assert idx == sorted(idx)


def test_max_variance_subset_graded_rewards_takes_extremes():
    rewards = [0.5, 0.1, 0.9, 0.4, 0.6, 0.0]
    assert sorted(rewards[i] for i in max_variance_subset(rewards, 2)) == [0.0, 0.9]
    assert max_variance_subset([0, 0, 0, 0], 2) == [0, 1]  # no variance to gain: first ones


def test_max_diversity_subset_prefers_new_answers_then_new_texts():
    answers = ["5", "5", "7", None, "5", "9"]
    texts = ["a#5", "b#5", "c#7", "junk", "a#5", "d#9"]
    assert max_diversity_subset(answers, texts, 3) == [0, 2, 3]  # 5, 7, None are three distinct answers
    assert max_diversity_subset(answers, texts, 5) == [0, 1, 2, 3, 5]  # then "b#5", a new text


def test_oversampling_config_validation():
    with pytest.raises(ConfigError):
        Oversampling.config_cls(selection="best").validate()
    assert Oversampling(Oversampling.config_cls(temperature=1.2)).grpo_overrides() == {"temperature": 1.2}


# -- entropy bonus / clip-higher ------------------------------------------------------------------


def test_entropy_bonus_sets_trl_fields():
    out = EntropyBonus(EntropyBonusConfig(coef=0.05, beta=1e-3, anchor_alpha=0.2, anchor_every=5)).grpo_overrides()
    assert out == {"entropy_coef": 0.05, "beta": 1e-3, "sync_ref_model": True, "ref_model_mixup_alpha": 0.2,
                   "ref_model_sync_steps": 5}  # fmt: skip
    adaptive = EntropyBonus(EntropyBonusConfig(adaptive=True, entropy_target=0.3, anchor=False)).grpo_overrides()
    assert adaptive["use_adaptive_entropy"] and adaptive["entropy_target"] == 0.3 and "sync_ref_model" not in adaptive
    with pytest.raises(ConfigError):
        EntropyBonusConfig(beta=0.0, anchor=True).validate()


def test_clip_higher_sets_epsilons():
    assert ClipHigher(ClipHigherConfig()).grpo_overrides() == {"epsilon": 0.2, "epsilon_high": 0.28}
    with pytest.raises(ConfigError):
        ClipHigherConfig(eps_low=0.3, eps_high=0.2).validate()


# -- lp_reg ---------------------------------------------------------------------------------------


def test_proxy_logps_relative_min_p_by_hand():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])  # max 0.5; kappa 0.2 keeps p >= 0.1: the first three
    logits = probs.log().view(1, 1, 4)
    tokens = torch.tensor([[1]])
    out = proxy_logps(logits, tokens, kappa=0.2)
    assert_close(out, torch.tensor([[math.log(0.3 / 0.95)]]))
    filtered = proxy_logps(logits, torch.tensor([[3]]), kappa=0.2)  # 0.05 < 0.1: filtered out
    assert filtered.item() == -1e4


def _lctx(logps, adv, mask, proxy):
    """A LossContext built by hand: on-policy ratio exp(lp - lp.detach()) = 1 with gradient d ratio / d lp = 1."""
    ratio = torch.exp(logps - logps.detach())
    return LossContext({"proxy_logps": proxy}, logps, torch.zeros_like(logps), mask, adv, logps.detach(), ratio)


def test_lp_reg_replaces_the_surrogate_on_the_lowest_negative_tokens_below_proxy():
    # 1 row, 5 tokens, advantage -1: all 5 tokens negative; rho 0.4 -> n_sel = int(5 * 0.4) = 2
    logps = torch.log(torch.tensor([[0.9, 0.05, 0.5, 0.02, 0.3]])).requires_grad_(True)
    proxy = torch.log(torch.tensor([[0.95, 0.10, 0.6, 0.01, 0.4]]))  # token 3 is above its proxy: not kept
    adv, mask = torch.tensor([[-1.0]]), torch.ones(1, 5)
    sel, n_neg = lp_reg_select(logps, proxy, adv, mask, rho=0.4)
    assert n_neg == 5
    assert sel.tolist() == [[False, True, False, False, False]]  # the two lowest are tokens 3 and 1; 3 fails lp < lq
    lctx = _lctx(logps, adv, mask, proxy)
    surrogate = -(adv * lctx.ratio)  # (1, 5): the clipped surrogate on-policy, 1 everywhere
    module = LpReg(LpRegConfig(rho=0.4, beta=1.0))
    out = module.shape_token_loss(lctx, surrogate)
    # token 1: -A * ratio + k3(lp, lq) = 1 + exp(d) - d - 1 with d = lq - lp = log 2; elsewhere the surrogate (1)
    d = math.log(0.10) - math.log(0.05)
    assert_close(out[0, 1], torch.tensor(1.0 + math.exp(d) - d - 1))
    assert_close(out[0, [0, 2, 3, 4]], torch.ones(4))
    out.sum().backward()
    # d/d lp: surrogate tokens 1 (ratio); token 1: ratio's 1 plus dk3/dlp = 1 - pi_proxy / pi = 1 - 2 = -1 -> 0
    assert_close(logps.grad, torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0]]))
    assert module.pop_metrics()["reg_tokens"] == [1.0]


def test_lp_reg_needs_more_than_one_selected_token():
    logps = torch.log(torch.tensor([[0.1, 0.2, 0.9]]))
    proxy = torch.zeros(1, 3)
    sel, n_neg = lp_reg_select(logps, proxy, torch.tensor([[-1.0]]), torch.ones(1, 3), 0.01)
    assert n_neg == 3 and not sel.any()  # n_sel = max(1, 0) = 1: no step (authors' rule)
    sel, n_neg = lp_reg_select(logps, proxy, torch.tensor([[1.0]]), torch.ones(1, 3), 1.0)
    assert n_neg == 0 and not sel.any()  # positive advantages are never regularised


def test_dynamic_sampling_refuses_two_processes_with_one_line():
    from rlvr.errors import RLVRError

    run = RunInfo(args=None, num_generations=8, num_processes=2, is_peft=False, tokenizer=None)
    with pytest.raises(RLVRError, match="single-process") as err:
        Oversampling(Oversampling.config_cls()).setup(run)
    assert "\n" not in str(err.value)
    Oversampling(Oversampling.config_cls(dynamic_sampling=False)).setup(run)  # completion oversampling is local
