"""clip_cov, kl_cov, forking_tokens, overlong_shaping: every term worked out by hand (and against the authors' formula
or TRL's own function), then 2 steps of each in a real trainer with its signature metric logged."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, params, train_logs  # noqa: E402,F401
from trl import GRPOTrainer  # noqa: E402
from trl.rewards import get_soft_overlong_punishment  # noqa: E402

from rlvr.errors import ConfigError, RLVRError  # noqa: E402
from rlvr.exploration import build_explorer  # noqa: E402
from rlvr.exploration.clip_cov import clip_cov_select, ppo_clipped, token_covariance  # noqa: E402
from rlvr.exploration.context import LossContext, RunInfo  # noqa: E402
from rlvr.exploration.forking_tokens import high_entropy_mask  # noqa: E402
from rlvr.exploration.kl_cov import NO_CLIP, kl_cov_select  # noqa: E402
from rlvr.exploration.stack import as_stack  # noqa: E402
from rlvr.loss import clipped_surrogate  # noqa: E402

# 5 valid tokens: A = 2, 2, 2, -1, -1 (mean 0.8); log pi = -0.5, -1, -3, -2.5, -0.5 (mean -1.5), one pad.
ADV = torch.tensor([[2.0], [-1.0]])
LOGPS = torch.tensor([[-0.5, -1.0, -3.0], [-2.5, -0.5, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
# Cov_t = (A_t - 0.8)(log pi_t + 1.5): 1.2 * (1.0, 0.5, -1.5) and -1.8 * (-1.0, 1.0)
COV = [torch.tensor([1.2, 0.6, -1.8]), torch.tensor([1.8, -1.8])]  # valid tokens of each row


def _lctx(ratio=None, old=None, step=0, logps=LOGPS):
    ratio = torch.ones_like(logps) if ratio is None else ratio
    old = logps.detach() if old is None else old
    return LossContext({}, logps, torch.zeros_like(logps), MASK, ADV, old, ratio, step, 0.2, 0.2)


def test_covariance_matches_the_authors_formula_by_hand():
    cov = token_covariance(LOGPS, ADV, MASK)
    torch.testing.assert_close(cov[0], COV[0])
    torch.testing.assert_close(cov[1, :2], COV[1])


def test_clip_cov_detaches_random_band_tokens_not_already_clipped():
    cov, none = token_covariance(LOGPS, ADV, MASK), torch.zeros(2, 3, dtype=torch.bool)
    # band (1, 5): C = {(0, 0): 1.2, (1, 0): 1.8}; clip_ratio 0.4 -> int(0.4 * 5) = 2 tokens: both
    sel, n = clip_cov_select(cov, none, MASK, 0.4, 1.0, 5.0)
    assert n == 2 and sel.nonzero().tolist() == [[0, 0], [1, 0]]
    # ratio 1.5 with A = 2 > 0 exceeds 1 + 0.2: PPO-clipped, so out of C; the floor max(1, int(2e-4 * 5)) = 1
    ratio = torch.tensor([[1.5, 1.0, 1.0], [1.0, 1.0, 1.0]])
    clipped = ppo_clipped(ratio, ADV, 0.2, 0.2)
    assert clipped.nonzero().tolist() == [[0, 0]]
    module = build_explorer("clip_cov")
    weights = module.token_weights(_lctx(ratio=ratio))
    torch.testing.assert_close(weights, torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]))
    m = module.pop_metrics()
    assert m["detached_tokens"] == [1] and m["cov_candidates"] == [1] and m["cov_detached"] == [pytest.approx(1.8)]


def test_clip_cov_draw_is_seeded_by_step():
    logps = torch.linspace(-3, 0, 40).view(2, 20)  # (2, 20); a band wide enough that all 40 tokens are candidates
    lctx = LossContext({}, logps, logps, torch.ones(2, 20), torch.tensor([[3.0], [-3.0]]), logps, torch.ones(2, 20))
    cfg = build_explorer("clip_cov").config_cls(clip_ratio=0.1, cov_lower=-100.0, cov_upper=100.0)
    draws = []
    for step in (0, 0, 1):
        a, b = build_explorer("clip_cov", cfg), build_explorer("clip_cov", cfg)
        lctx.step = step
        wa, wb = a.token_weights(lctx), b.token_weights(lctx)
        assert torch.equal(wa, wb) and int((wa == 0).sum()) == 4  # same seed, same draw; int(0.1 * 40) tokens
        draws.append(wa)
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_kl_cov_penalises_the_top_covariance_tokens_by_hand():
    cov = token_covariance(LOGPS, ADV, MASK)
    assert kl_cov_select(cov, MASK, 0.2).nonzero().tolist() == [[1, 0]]  # max(1, int(5 * 0.2 / 100)) = 1: Cov 1.8
    # the authors cap k_percent at N_valid (k = min(k_percent, N)): 5 tokens give int(5 * 5 / 100) = 0 -> 1 token
    assert kl_cov_select(cov, MASK, 40).nonzero().tolist() == [[1, 0]]
    big = torch.arange(100.0).view(4, 25)  # (4, 25): 100 tokens, 3% -> the 3 largest, 97..99
    assert kl_cov_select(big, torch.ones(4, 25), 3).flatten().nonzero().squeeze(1).tolist() == [97, 98, 99]
    logps = LOGPS.clone().requires_grad_(True)
    old = LOGPS - torch.tensor([[0.0, 0.0, 0.0], [0.3, 0.1, 0.0]])  # |log-ratio| 0.3 at (1, 0)
    per_token = -ADV * torch.ones(2, 3)  # -A w on-policy-valued ratios
    out = build_explorer("kl_cov").shape_token_loss(_lctx(old=old, logps=logps), per_token)
    torch.testing.assert_close(out, torch.tensor([[-2.0, -2.0, -2.0], [1.3, 1.0, 1.0]]))
    out.sum().backward()
    torch.testing.assert_close(logps.grad, torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))  # sign(log-ratio)


def test_kl_cov_switches_the_ppo_clip_off_exactly():
    ratio, adv = torch.tensor([[0.05, 0.7, 1.0, 3.0, 80.0]]), torch.tensor([[1.0, -1.0, 1.0, -2.0, 0.5]])
    loss, _ = clipped_surrogate(ratio, adv, NO_CLIP["epsilon"], NO_CLIP["epsilon_high"], None)
    torch.testing.assert_close(loss, -adv * ratio)
    assert build_explorer("kl_cov").grpo_overrides() == NO_CLIP
    with pytest.raises(RLVRError, match="clip_higher.*kl_cov|kl_cov.*clip_higher"):  # a stack that cannot agree
        as_stack([build_explorer("clip_higher"), build_explorer("kl_cov")]).grpo_overrides()


def test_forking_mask_by_hand_and_against_trl():
    ent = torch.linspace(0.1, 1.0, 10).unsqueeze(0)  # tau = 0.8-quantile = 0.8 + 0.2 * 0.1 = 0.82
    keep, tau = high_entropy_mask(ent, torch.ones(1, 10), 0.2)
    assert tau == pytest.approx(0.82) and keep.nonzero()[:, 1].tolist() == [8, 9]
    ent = torch.rand(6, 9, generator=torch.Generator().manual_seed(0)) * 3  # (B, T)
    mask = (torch.arange(9) < torch.tensor([9, 4, 7, 1, 9, 6]).unsqueeze(1)).float()  # (B, T) ragged lengths
    acc = SimpleNamespace(pad_across_processes=lambda x, dim, pad_index: x, gather=lambda x: x)
    for rho in (0.2, 0.5, 1.0):
        trl = GRPOTrainer.get_high_entropy_mask(SimpleNamespace(accelerator=acc), ent, mask, 1 - rho)
        assert torch.equal(high_entropy_mask(ent, mask, rho)[0], trl)


def _batch(trainer):
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([6, 3, 5, 1])
    comp_mask = (torch.arange(6) < lengths.unsqueeze(1)).long()  # (4, 6)
    return {
        "prompt_ids": torch.randint(3, 40, (4, 3), generator=g),
        "prompt_mask": torch.ones(4, 3, dtype=torch.long),
        "completion_ids": torch.randint(3, 40, (4, 6), generator=g),
        "completion_mask": comp_mask,
        "advantages": torch.tensor([1.0, -0.5, 0.3, -0.8]),
        "num_items_in_batch": comp_mask.sum(),
    }


@pytest.mark.parametrize("loss_type", ["dapo", "bnpo"])
def test_forking_normalisers_differ_by_all_over_kept_tokens(make_trainer, loss_type):
    losses, kept = {}, None
    for norm in ("all", "kept"):
        cfg = build_explorer("forking_tokens").config_cls(normaliser=norm)
        module = build_explorer("forking_tokens", cfg)
        trainer = make_trainer(explorer=module, loss_type=loss_type, **as_stack(module).grpo_overrides())
        assert trainer.top_entropy_quantile == (0.2 if norm == "all" else 1.0)
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1
        inputs = _batch(trainer)
        losses[norm] = trainer._compute_loss(trainer.model, inputs).item()
        kept = trainer._metrics["train"]["explore/kept_frac"][-1]
    n_valid = 15
    n_kept = round(kept * n_valid)
    assert n_kept == math.ceil(0.2 * n_valid)  # 3 of 15 distinct entropies at or above the 0.8-quantile
    assert losses["all"] != 0 and losses["kept"] == pytest.approx(losses["all"] * n_valid / n_kept, rel=1e-6)


def test_overlong_reward_is_trls_and_the_papers_piecewise_formula():
    module = build_explorer("overlong_shaping")
    run = RunInfo(SimpleNamespace(max_completion_length=10), 4, 1, False, None)
    # reward_funcs runs before setup (the trainer adds rewards before TRL's set-up): it must build from `run` alone.
    ((func, weight),) = module.reward_funcs(run)  # L_max 10, L_cache round(0.2 * 10) = 2: 0 up to 8, then (8 - |y|) / 2
    ids = [[1] * n for n in (3, 8, 9, 10, 11)]
    assert func(completion_ids=ids) == [0.0, 0.0, -0.5, -1.0, -1.0] and weight == 1.0
    assert func.__name__ == "soft_overlong_punishment_reward"
    cfg = module.config_cls(cache_length=4, penalty_factor=0.5, mask_truncated_completions=True)
    module = build_explorer("overlong_shaping", cfg)
    module.setup(run)
    ids = [[1] * n for n in range(1, 13)]
    paper = [0.0 if n <= 6 else -1.0 if n > 10 else (6 - n) / 4 for n in range(1, 13)]
    assert module.reward(ids) == paper == get_soft_overlong_punishment(10, 4)(ids)
    assert module.reward_funcs(run)[0][1] == 0.5 and module.grpo_overrides() == {"mask_truncated_completions": True}
    assert module.pop_metrics()["overlong_frac"] == [6 / 12]  # lengths 7..12


@pytest.mark.parametrize(
    "name, settings, match",
    [
        ("clip_cov", {"cov_lower": 5.0, "cov_upper": 1.0}, "cov_lower < cov_upper"),
        ("kl_cov", {"k_percent": 0.0}, "k_percent"),
        ("forking_tokens", {"normaliser": "tokens"}, "normaliser"),
        ("overlong_shaping", {"cache_fraction": 0.0}, "cache_fraction"),
    ],
)
def test_bad_settings_are_one_line_config_errors(name, settings, match):
    with pytest.raises(ConfigError, match=match) as err:
        build_explorer(name).config_cls(**settings).validate()
    assert "\n" not in str(err.value)


CASES = {
    # module: (settings, metrics every logged step carries)
    "clip_cov": ({"clip_ratio": 0.05}, ["explore/detached_tokens", "explore/detached_frac", "explore/cov_candidates"]),
    "kl_cov": ({"k_percent": 5.0}, ["explore/penalized_tokens", "explore/penalized_frac", "explore/abs_log_ratio"]),
    "forking_tokens": ({}, ["explore/kept_frac", "explore/entropy_threshold", "explore/entropy_kept"]),
    "overlong_shaping": ({}, ["explore/overlong_frac", "rewards/soft_overlong_punishment_reward/mean"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_runs_two_steps_and_logs_its_signature(make_trainer, name):
    settings, keys = CASES[name]
    module = build_explorer(name, build_explorer(name).config_cls(**settings))
    spg = 1 if name == "overlong_shaping" else 2  # 2: the second step reuses the rollout off-policy (no rewards)
    trainer = make_trainer(explorer=module, steps_per_generation=spg, **as_stack(module).grpo_overrides())
    before = params(trainer)
    trainer.train()
    logs = train_logs(trainer)
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs)
    for key in keys:
        assert all(key in h for h in logs), (name, key, sorted(logs[0]))
    assert any(not torch.equal(before[k], v) for k, v in params(trainer).items())
    if name == "clip_cov":
        assert (trainer.epsilon_low, trainer.epsilon_high) == (1.0, 1.0)
        assert all(h["explore/detached_tokens"] >= 1 for h in logs if h["explore/cov_candidates"] > 0)
    if name == "kl_cov":
        assert all(h["explore/penalized_tokens"] >= 1 for h in logs) and trainer.epsilon_high == 1e9
        assert logs[0]["explore/abs_log_ratio"] == 0 < logs[1]["explore/abs_log_ratio"]  # step 2 is off-policy
    if name == "forking_tokens":
        assert all(0.15 <= h["explore/kept_frac"] <= 0.3 for h in logs)
    if name == "overlong_shaping":  # a random model runs into the 16-token limit: penalised
        assert any(h["explore/overlong_frac"] > 0 for h in logs)
        assert all(h["rewards/soft_overlong_punishment_reward/mean"] <= 0 for h in logs)


def test_dapo_stack_runs_two_steps(make_trainer):
    k_is_g = build_explorer("oversampling").config_cls(candidates_per_prompt=4)  # G = 4: dynamic sampling only
    names = ["clip_higher", "oversampling", "overlong_shaping"]
    stack = as_stack([build_explorer(n, k_is_g if n == "oversampling" else None) for n in names])
    trainer = make_trainer(explorer=stack, **stack.grpo_overrides())
    trainer.train()
    logs = train_logs(trainer)
    assert len(logs) == 2 and (trainer.epsilon_low, trainer.epsilon_high) == (0.2, 0.28)
    assert all("explore/frac_zero_std_before" in h and "explore/overlong_frac" in h for h in logs)
