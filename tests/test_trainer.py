"""RLVRTrainer: exploration hook order and shapes, parity with TRL, loss scaling, NaN guard, explore/ metrics.

Trainers are built directly on a tiny randomly initialised `char-0.2m` saved to a temporary directory. The reward
is the fraction of digits in a completion: a random model gets varied rewards within a group, so advantages are
non-zero and the parameters move (the task's correctness reward would be 0 everywhere, and so would the gradient).
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from _trainers import (  # noqa: E402,F401
    MAX_LEN,
    ROWS,
    G,
    assert_params_equal,
    dataset,
    digits,
    make_trainer,
    model_dir,
    params,
    train_logs,
)
from trl import GRPOTrainer  # noqa: E402

from rlvr.errors import RLVRError  # noqa: E402
from rlvr.exploration.base import Explorer  # noqa: E402
from rlvr.trainer import NonFiniteLossError, RLVRTrainer  # noqa: E402


# -- 1. hook order and shapes -------------------------------------------------------------------------------------
class Recorder(Explorer):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, int]] = []
        self.rollouts: list = []
        self.batches: list[dict] = []
        self.loss_inputs: list[tuple] = []

    def sampling_kwargs(self, ctx):
        self.calls.append(("sampling_kwargs", ctx.step))
        assert len(ctx.rows) == len(ctx.group_ids) == ROWS and ctx.group_ids == [i // G for i in range(ROWS)]
        return {}

    def generate(self, ctx):
        self.calls.append(("generate", ctx.step))
        return None

    def shape_rewards(self, ctx, rollout):
        self.calls.append(("shape_rewards", ctx.step))
        return rollout.rewards

    def select_groups(self, ctx, rollout):
        self.calls.append(("select_groups", ctx.step))
        self.rollouts.append(rollout)
        return rollout

    def shape_advantages(self, ctx, rollout, advantages):
        self.calls.append(("shape_advantages", ctx.step))
        return advantages

    def annotate(self, ctx, batch):
        self.calls.append(("annotate", ctx.step))
        self.batches.append({k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()})
        return {}

    def token_weights(self, lctx):
        self.calls.append(("token_weights", lctx.step))
        return None

    def extra_loss(self, lctx):
        self.calls.append(("extra_loss", lctx.step))
        self.loss_inputs.append(
            (tuple(lctx.logps.shape), tuple(lctx.entropies.shape), tuple(lctx.mask.shape), lctx.logps.requires_grad)
        )
        return None


def test_hooks_run_in_order_with_documented_shapes(make_trainer):
    rec = Recorder()
    trainer = make_trainer(explorer=rec)
    trainer.train()

    rollout_hooks = ["sampling_kwargs", "generate", "shape_rewards", "select_groups", "shape_advantages", "annotate"]
    assert rec.calls == [(h, step) for step in range(2) for h in [*rollout_hooks, "token_weights", "extra_loss"]]

    tok = trainer.processing_class
    for rollout, batch in zip(rec.rollouts, rec.batches):
        b, p = batch["prompt_ids"].shape
        assert b == ROWS == len(rollout) and p > 0
        c = batch["completion_ids"].shape[1]
        assert 0 < c <= MAX_LEN
        assert batch["completion_mask"].shape == (b, c)
        assert batch["advantages"].shape == (b,)
        assert batch["num_items_in_batch"].item() == batch["completion_mask"].sum().item()
        # rows of one prompt are consecutive: all G rows of a group share prompt_ids, groups differ
        groups = batch["prompt_ids"].view(-1, G, batch["prompt_ids"].size(1))  # (b/G, G, P)
        assert torch.equal(groups, groups[:, :1].expand_as(groups))
        # the rollout's rewards are this batch's rows' rewards, and the advantages their group-normalised values
        texts = tok.batch_decode(batch["completion_ids"] * batch["completion_mask"], skip_special_tokens=True)
        torch.testing.assert_close(rollout.rewards, torch.tensor(digits(None, texts)), atol=1e-6, rtol=0)
        r = rollout.rewards.view(-1, G)
        expected = (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)
        torch.testing.assert_close(batch["advantages"], expected.reshape(-1), atol=1e-4, rtol=1e-4)

    for logps_shape, ent_shape, mask_shape, requires_grad in rec.loss_inputs:
        assert logps_shape == ent_shape == mask_shape
        assert logps_shape[0] == ROWS and logps_shape[1] <= MAX_LEN
        assert requires_grad


# -- 2. `none` + sampler=trl is TRL's GRPOTrainer -----------------------------------------------------------------
def test_none_with_trl_sampler_matches_vanilla_grpo(make_trainer, monkeypatch):
    import rlvr.sampling

    calls, lengths = [], []
    original = GRPOTrainer._generate_single_turn

    def spy(self, *args, **kwargs):
        calls.append(type(self).__name__)
        out = original(self, *args, **kwargs)
        lengths.append(sum(len(ids) for ids in out[0]))
        return out

    def no_fast_sampler(*args, **kwargs):
        raise AssertionError("sampler='trl' must not use rlvr's fast sampler")

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", spy)
    monkeypatch.setattr(rlvr.sampling, "sample", no_fast_sampler)

    ours = make_trainer(RLVRTrainer, sampler="trl", max_steps=3)
    ours.train()
    ref = make_trainer(GRPOTrainer, max_steps=3)
    ref.train()
    assert calls == ["RLVRTrainer"] * 3 + ["GRPOTrainer"] * 3

    a, b = train_logs(ours), train_logs(ref)
    assert [h["step"] for h in a] == [h["step"] for h in b] == [1, 2, 3]
    for x, y in zip(a, b):
        for key in ("loss", "reward", "reward_std", "entropy", "grad_norm"):
            assert x[key] == y[key], (key, x["step"], x[key], y[key])
    assert any(h["loss"] != 0 for h in a)  # a non-trivial trajectory, not 0 == 0
    assert [h["sampled_tokens"] for h in a] == lengths[:3] and min(lengths) > 0  # TRL's rollouts are counted too
    assert_params_equal(params(ours), params(ref))


# -- 3. the fast sampler path trains ------------------------------------------------------------------------------
def test_fast_sampler_path_trains(make_trainer, monkeypatch):
    import rlvr.sampling

    original = rlvr.sampling.sample
    calls = []

    sampled = []

    def counting_sample(model, prompt_ids, **kwargs):
        calls.append(len(prompt_ids))
        out = original(model, prompt_ids, **kwargs)
        sampled.append(sum(len(ids) for ids in out.completion_ids))
        return out

    def no_trl_generation(*args, **kwargs):
        raise AssertionError("sampler='fast' must not fall back to TRL's generation")

    monkeypatch.setattr(rlvr.sampling, "sample", counting_sample)
    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", no_trl_generation)

    trainer = make_trainer()  # default sampler="fast"
    assert trainer.rlvr_sampler == "fast"
    before = params(trainer)
    trainer.train()
    after = params(trainer)

    assert calls == [ROWS, ROWS]
    logs = train_logs(trainer)
    assert [h["step"] for h in logs] == [1, 2]
    assert all(math.isfinite(h["loss"]) for h in logs)
    assert all(0.0 <= h["reward"] <= 1.0 for h in logs)
    assert [h["sampled_tokens"] for h in logs] == sampled and min(sampled) >= ROWS  # every row sampled >= 1 token
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert "model.embed_tokens.weight" in changed
    assert len(changed) == len(before)  # every parameter got a gradient and moved


@pytest.mark.slow  # transformers' paged continuous batching is slow on CPU (~10 s per step here)
def test_trl_continuous_batching_stays_selectable(make_trainer, monkeypatch):
    import rlvr.sampling

    def no_fast_sampler(*args, **kwargs):
        raise AssertionError("use_transformers_continuous_batching must go to TRL's backend")

    monkeypatch.setattr(rlvr.sampling, "sample", no_fast_sampler)
    trainer = make_trainer(use_transformers_continuous_batching=True, max_steps=1)  # sampler 'fast' by default
    assert trainer.rlvr_sampler == "fast" and not trainer._fast_sampler_applies(None)
    trainer.train()
    logs = train_logs(trainer)
    assert [h["step"] for h in logs] == [1] and logs[0]["completions/mean_length"] > 0


# -- 4. extra_loss / aggregate scaling ----------------------------------------------------------------------------
class PolicyLossProbe(Explorer):
    """In extra_loss, reduce the on-policy per-token policy loss (-advantage) with `lctx.aggregate`."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def extra_loss(self, lctx):
        adv = lctx.advantages.expand_as(lctx.logps)  # (b, T)
        self.values.append(lctx.aggregate(-adv).item())
        return None


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_aggregate_reduces_like_trl_policy_loss(make_trainer, monkeypatch, loss_type):
    """On-policy the ratio is exactly 1, so the per-token loss is -advantage: `aggregate` must give the loss."""
    losses = []
    original = RLVRTrainer._compute_loss

    def spy(self, model, inputs):
        loss = original(self, model, inputs)
        losses.append(loss.item())
        return loss

    monkeypatch.setattr(RLVRTrainer, "_compute_loss", spy)
    probe = PolicyLossProbe()
    # two micro-batches of 4 rows per generation batch of 8: GA and the generation split both matter
    trainer = make_trainer(
        explorer=probe, max_steps=1, per_device_train_batch_size=4, gradient_accumulation_steps=2, loss_type=loss_type
    )
    trainer.train()
    assert len(losses) == len(probe.values) == 2
    assert any(abs(v) > 1e-6 for v in losses)  # a non-trivial loss to compare
    for ours, loss in zip(probe.values, losses):
        assert ours == pytest.approx(loss, rel=1e-5, abs=1e-7)


class ConstantExtraLoss(Explorer):
    """extra_loss = aggregate(c per token): zero gradient, adds exactly `c` to each step's loss."""

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def extra_loss(self, lctx):
        return lctx.aggregate(lctx.logps * 0 + self.c)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_extra_loss_is_added_with_trl_scaling(make_trainer, loss_type):
    cfg = dict(per_device_train_batch_size=4, gradient_accumulation_steps=2, loss_type=loss_type)
    base = make_trainer(**cfg)
    base.train()
    shifted = make_trainer(explorer=ConstantExtraLoss(0.25), **cfg)
    shifted.train()
    a, b = train_logs(base), train_logs(shifted)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        # two micro-batches per step, each adding its GA-scaled share: the step's loss moves by exactly c
        assert y["loss"] - x["loss"] == pytest.approx(0.25, abs=1e-5)
        assert y["reward"] == x["reward"]  # zero gradient: same trajectory
    assert_params_equal(params(base), params(shifted))


# -- 5. (B, T) advantages and group selection ---------------------------------------------------------------------
class TokenAdvantages(Explorer):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self.shapes: list[tuple] = []

    def shape_advantages(self, ctx, rollout, advantages):
        T = max(len(c) for c in rollout.completion_ids)
        out = advantages.unsqueeze(1).expand(-1, T).clone() * self.scale  # (B, T)
        self.shapes.append(tuple(out.shape))
        return out


def test_per_token_advantages_are_used(make_trainer):
    base = make_trainer()
    before = params(base)
    base.train()
    same = TokenAdvantages(1.0)
    expanded = make_trainer(explorer=same)
    expanded.train()
    assert [s[0] for s in same.shapes] == [ROWS, ROWS]
    # (B, T) advantages equal to the broadcast (B,) ones: the same run, token for token
    for x, y in zip(train_logs(base), train_logs(expanded)):
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-6) and x["reward"] == y["reward"]
    assert_params_equal(params(base), params(expanded))
    # and they are really used: zero per-token advantages give no gradient, so nothing moves
    zero = make_trainer(explorer=TokenAdvantages(0.0))
    zero.train()
    assert all(h["loss"] == 0.0 for h in train_logs(zero))
    assert_params_equal(before, params(zero))


class DropSecondGroup(Explorer):
    def __init__(self):
        super().__init__()
        self.before: list[int] = []
        self.kept: list[int] = []
        self.seen: list[tuple[int, int, int]] = []

    def select_groups(self, ctx, rollout):
        self.before.append(sum(len(c) for c in rollout.completion_ids))
        out = rollout.select(list(range(G)))  # keep the first whole group of G rows
        self.kept.append(sum(len(c) for c in out.completion_ids))
        return out

    def extra_loss(self, lctx):
        self.seen.append((lctx.mask.shape[0], int(lctx.inputs["num_items_in_batch"]), int(lctx.mask.sum())))
        return None


def test_dropping_a_group_recomputes_num_items_in_batch(make_trainer):
    ex = DropSecondGroup()
    trainer = make_trainer(explorer=ex)
    trainer.train()
    assert len(ex.seen) == 2
    for before, kept, (rows, num_items, mask_sum) in zip(ex.before, ex.kept, ex.seen):
        assert kept < before
        assert rows == G
        assert num_items == kept == mask_sum
    assert all(math.isfinite(h["loss"]) for h in train_logs(trainer))


# -- 6. NaN guard -------------------------------------------------------------------------------------------------
class NaNAtStep(Explorer):
    def __init__(self, step: int):
        super().__init__()
        self.step = step
        self.snapshot = None

    def extra_loss(self, lctx):
        if lctx.step == self.step:
            self.snapshot = {k: v.detach().clone() for k, v in self.model.named_parameters()}
            return torch.tensor(float("nan"))
        return None


@pytest.mark.parametrize("step", [0, 1])
def test_non_finite_loss_stops_before_the_update(make_trainer, step):
    ex = NaNAtStep(step)
    trainer = make_trainer(explorer=ex, max_steps=3)
    ex.model = trainer.model  # the test's own handle on the parameters (modules never see the trainer)
    initial = params(trainer)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.train()
    assert isinstance(info.value, RLVRError)
    msg = str(info.value)
    assert "\n" not in msg
    assert "nan" in msg and f"step {step}" in msg
    assert trainer.state.global_step == step
    assert ex.snapshot is not None
    assert_params_equal(ex.snapshot, params(trainer))  # the failing step applied no update
    if step == 0:
        assert_params_equal(initial, params(trainer))
    else:
        assert any(not torch.equal(initial[k], v) for k, v in params(trainer).items())  # step 1 did update


# -- 7. explore/ metrics ------------------------------------------------------------------------------------------
class Logging(Explorer):
    def select_groups(self, ctx, rollout):
        self.log("foo", 1.5)
        return rollout

    def extra_loss(self, lctx):
        self.log("bar", lctx.step + 10)
        return None


def test_explorer_metrics_are_logged_under_explore(make_trainer):
    trainer = make_trainer(explorer=Logging())
    trainer.train()
    logs = train_logs(trainer)
    assert [h["explore/foo"] for h in logs] == [1.5, 1.5]
    assert [h["explore/bar"] for h in logs] == [10.0, 11.0]
    assert trainer.explorer.pop_metrics() == {}  # flushed into the trainer's metrics, not kept


# -- 8. sharded parameters are refused ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fsdp, zero_stage, refused",
    [(True, None, "FSDP"), (False, 3, "DeepSpeed ZeRO-3"), (False, 2, None), (False, None, None)],
)
def test_sharded_parameters_are_refused(make_trainer, monkeypatch, fsdp, zero_stage, refused):
    from types import SimpleNamespace

    trainer = make_trainer()
    plugin = SimpleNamespace(zero_stage=zero_stage) if zero_stage else None
    monkeypatch.setattr(trainer.accelerator, "state", SimpleNamespace(deepspeed_plugin=plugin))
    monkeypatch.setattr(trainer, "is_fsdp_enabled", fsdp)
    if refused is None:
        trainer._check_unsharded()  # DDP, ZeRO-1/2: whole parameters on every process
        return
    with pytest.raises(RLVRError, match=f"^{refused} shards the parameters.*use DDP") as info:
        trainer._check_unsharded()
    assert "\n" not in str(info.value)
