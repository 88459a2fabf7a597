"""rlvr.loss: the clipped surrogate and its aggregation worked out by hand; unsupported settings refused."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from types import SimpleNamespace  # noqa: E402

from rlvr.errors import RLVRError  # noqa: E402
from rlvr.loss import aggregate, check_loss_settings, clipped_surrogate, importance_ratio  # noqa: E402


def test_token_and_sequence_ratios_by_hand():
    logps = torch.log(torch.tensor([[0.5, 0.2, 0.9]]))
    old = torch.log(torch.tensor([[0.25, 0.4, 0.9]]))
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(importance_ratio(logps, old, mask, "token"), torch.tensor([[2.0, 0.5, 1.0]]))
    # sequence: exp of the masked mean log-ratio = exp((log 2 + log 0.5) / 2) = 1
    torch.testing.assert_close(importance_ratio(logps, old, mask, "sequence"), torch.tensor([[1.0]]))


def test_clipped_surrogate_by_hand():
    ratio = torch.tensor([[2.0, 0.5, 1.1, 0.7]])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, _ = clipped_surrogate(ratio, adv, 0.2, 0.28, None)
    # A>0: -min(r, clip(r)) -> r=2 clipped to 1.28; r=0.5 -> min(0.5, 0.8) = 0.5
    # A<0: -min(-r, -clip(r)) = max(r, clip(r)) -> r=1.1 -> 1.1; r=0.7 -> clip 0.8
    torch.testing.assert_close(loss, torch.tensor([[-1.28, -0.5, 1.1, 0.8]]))
    loss, capped = clipped_surrogate(torch.tensor([[5.0]]), torch.tensor([[-1.0]]), 0.2, 0.2, 3.0)
    assert loss.item() == pytest.approx(3.0) and capped.item() == 3.0  # two-sided clip: a negative token's ratio caps


@pytest.mark.parametrize(
    "loss_type, train_value, eval_value",
    [
        # rows: sums 6, 4, 4 over 3, 1, 4 tokens; 8 tokens in all; ga=2, steps_per_generation=2, max_len=16
        ("grpo", (2.0 + 4.0 + 1.0) / 3 / 2, (2.0 + 4.0 + 1.0) / 3),
        ("bnpo", 14.0 / 8 / 2, 14.0 / 8),
        ("dr_grpo", 14.0 / (3 * 16) / 2, 14.0 / (3 * 16)),
        ("dapo", 14.0 / (20.0 * 2 / 2), 14.0 / 20.0),
    ],
)
def test_aggregate_by_hand(loss_type, train_value, eval_value):
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.float32)
    per_token = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, 100.0, 100.0, 100.0], [1.0, 1.0, 1.0, 1.0]])
    kw = dict(max_len=16, num_items=torch.tensor(20.0), processes=1, spg=2)
    assert aggregate(per_token, mask, loss_type, ga=2, **kw)[0].item() == pytest.approx(train_value, rel=1e-6)
    assert aggregate(per_token, mask, loss_type, ga=None, **kw)[0].item() == pytest.approx(eval_value, rel=1e-6)


def _args(**kw):
    base = dict(loss_type="dapo", importance_sampling_level="token", use_vllm=False)
    base["vllm_importance_sampling_correction"] = True
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("loss_type", ["cispo", "sapo", "luspo", "vespo"])
def test_unsupported_loss_types_are_one_line_errors(loss_type):
    with pytest.raises(RLVRError, match=f"train.loss_type='{loss_type}' is not supported.*grpo, bnpo") as err:
        check_loss_settings(_args(loss_type=loss_type))
    assert "\n" not in str(err.value)


def test_vllm_importance_correction_is_refused_not_ignored():
    check_loss_settings(_args())  # no vLLM: fine
    with pytest.raises(RLVRError, match="vllm_importance_sampling_correction=false"):
        check_loss_settings(_args(use_vllm=True))
    check_loss_settings(_args(use_vllm=True, vllm_importance_sampling_correction=False))


def test_surrogate_gradient_is_minus_advantage_on_policy():
    logps = torch.log(torch.tensor([[0.3, 0.6]])).requires_grad_(True)
    ratio = importance_ratio(logps, logps.detach(), torch.ones(1, 2), "token")
    loss, _ = clipped_surrogate(ratio, torch.tensor([[2.0]]), 0.2, 0.2, None)
    loss.sum().backward()
    assert logps.grad.tolist() == [[-2.0, -2.0]] and not math.isnan(loss.sum().item())
