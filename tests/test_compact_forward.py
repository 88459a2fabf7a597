"""The compact training forward (rlvr/compact_forward.py): TRL's log-probs, entropies and gradients up to float
rounding, each distinct prompt encoded once, each completion only to its length, and a trainer whose run matches
the full forward's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, params, train_logs  # noqa: E402,F401
from trl.trainer.utils import selective_log_softmax_and_entropy  # noqa: E402

from rlvr.compact_forward import buckets, compact_logps, completion_lengths, prompt_groups  # noqa: E402
from rlvr.models import build_model  # noqa: E402

P, T, PAD = 5, 4, 0


def _batch():
    """6 rows: prompt A (5 tokens) x 3 and prompt B (3 tokens, left-padded by 2) x 3; completions right-padded."""
    a, b = [7, 8, 9, 10, 11], [PAD, PAD, 12, 13, 14]
    comps = [[20, 21, 22, 23], [24, 25, PAD, PAD], [26, 27, 28, PAD], [30, 31, 32, 33], [34, PAD, PAD, PAD],
             [35, 36, 37, 38]]  # fmt: skip
    ids = torch.tensor([(a if i < 3 else b) + c for i, c in enumerate(comps)])  # (6, P + T)
    prompt_mask = [[1] * 5] * 3 + [[0, 0, 1, 1, 1]] * 3
    attn = torch.tensor([pm + [int(t != PAD) for t in c] for pm, c in zip(prompt_mask, comps)])  # (6, P + T)
    return ids, attn


def _full_forward(model, ids, attn, temperature):
    """The definition: one forward over prompt + completion, completion tokens scored from the position before."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, P - 1 : -1]  # (B, T, V)
    logps, ent = selective_log_softmax_and_entropy(logits, ids[:, P:], temperature=temperature)
    pad = attn[:, P:] == 0
    return logps.masked_fill(pad, 0.0), ent.masked_fill(pad, 0.0)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_prompt_groups_find_the_two_distinct_prompts():
    ids, attn = _batch()
    uniq, inverse = prompt_groups(ids[:, :P], attn[:, :P])
    assert len(uniq) == 2
    assert inverse.tolist() in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])


def test_lengths_and_buckets_by_hand():
    _, attn = _batch()
    lengths = completion_lengths(attn[:, P:])
    assert lengths.tolist() == [4, 2, 3, 4, 1, 4]
    # longest first, ties in row order: 0, 3, 5 (4 tokens), 2 (3), 1 (2), 4 (1); chunks of 2 rows
    assert [b.tolist() for b in buckets(lengths, 2)] == [[0, 3], [5, 2], [1, 4]]
    assert completion_lengths(torch.tensor([[0, 0, 0]])).tolist() == [0]


@pytest.mark.parametrize("rows", [8, 2, 1])
def test_logps_entropies_and_gradients_equal_the_full_forward(rows):
    model, _ = build_model("char-0.2m", seed=0)
    model.train()
    ids, attn = _batch()
    w = torch.randn(6, T, generator=torch.Generator().manual_seed(0))  # (B, T) arbitrary per-token weights
    calls = []
    model.register_forward_pre_hook(lambda m, args, kw: calls.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    lp, ent = compact_logps(model, ids, attn, T, temperature=0.7, rows=rows)
    # the 2 distinct prompts once each, then each bucket's completions cut to its longest: one bucket of 6 rows
    # (4 tokens), or buckets [0, 3] (4), [5, 2] (4), [1, 4] (2), or one row each: 0, 3, 5 (4), 2 (3), 1 (2), and 4,
    # whose one-token completion the prompt pass already scored, still runs (the diagnostics read its hidden state)
    want = {8: [(6, 4)], 2: [(2, 4), (2, 4), (2, 2)], 1: [(1, 4), (1, 4), (1, 4), (1, 3), (1, 2), (1, 1)]}
    assert calls == [(2, P)] + want[rows]
    g_compact = _grads(model, (lp * w).sum() + ent.sum())
    ref_lp, ref_ent = _full_forward(model, ids, attn, 0.7)
    g_full = _grads(model, (ref_lp * w).sum() + ref_ent.sum())
    torch.testing.assert_close(lp, ref_lp, rtol=0, atol=1e-5)
    torch.testing.assert_close(ent, ref_ent, rtol=0, atol=1e-5)
    assert (lp[1, 2:] == 0).all() and (ent[4, 1:] == 0).all()  # padding scores 0, as in TRL
    for n in g_full:
        torch.testing.assert_close(g_compact[n], g_full[n], rtol=1e-4, atol=1e-5, msg=n)
    assert any(g.abs().sum() > 0 for g in g_compact.values())


def test_a_run_with_the_compact_forward_matches_the_full_forward(make_trainer):  # noqa: F811
    runs = {}
    for share in (True, False):
        # 16 rows: 4 prompts x G = 4 in two buckets of 8 rows, so the diagnostics see rows out of order too
        trainer = make_trainer(compact_forward=share, max_steps=3, loss_type="grpo", per_device_train_batch_size=16)
        calls = []
        trainer._compact_forward_applies_orig = trainer._compact_forward_applies
        trainer._compact_forward_applies = lambda *a, _t=trainer, _c=calls: (
            _c.append(1) or _t._compact_forward_applies_orig(*a)
        )
        trainer.train()
        runs[share] = (train_logs(trainer), params(trainer))
        assert trainer.compact_forward is share and len(calls) == 3
    (a, pa), (b, pb) = runs[True], runs[False]
    for x, y in zip(a, b):  # the same rollouts (same seed, same sampler), losses within float rounding
        assert x["reward"] == y["reward"]
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-5)
        assert x["entropy"] == pytest.approx(y["entropy"], abs=1e-4)
        assert x["diag/effective_rank"] == pytest.approx(y["diag/effective_rank"], rel=1e-4)
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-3, atol=1e-5, msg=k)


def test_the_trl_sampler_keeps_the_full_forward_and_settings_can_turn_it_off(make_trainer):  # noqa: F811
    assert make_trainer(sampler="trl").compact_forward is False  # sampler trl: GRPOTrainer bit for bit
    assert make_trainer().compact_forward is True
    trainer = make_trainer(gradient_checkpointing=False)
    ids, attn = _batch()
    assert trainer._compact_forward_applies(ids, T, False, {}) is True
    assert trainer._compact_forward_applies(ids, T, True, {}) is False  # MoE aux loss: TRL's forward
    assert trainer._compact_forward_applies(ids, T, False, {"pixel_values": torch.zeros(1)}) is False
    distinct = ids.clone()
    distinct[:, 0] = torch.arange(6) + 40
    assert trainer._compact_forward_applies(distinct, T, False, {}) is False  # nothing shared
