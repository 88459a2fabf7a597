"""Group-relative advantages over groups of any size (rlvr's own step; TRL's is inline and fixes G).

For row i of group g, with r the weighted reward (NaN: unscorable, left out of the group's statistics):

    A_i = (r_i - mean_g(r)) / (std_g(r) + 1e-4)     scale_rewards = group (TRL's default)
    A_i = (r_i - mean_g(r)) / (std(r) + 1e-4)       scale_rewards = batch (std over every row)
    A_i =  r_i - mean_g(r)                          scale_rewards = none (Dr. GRPO)

std is the unbiased (n - 1) standard deviation, NaN-aware as TRL's `nanstd`; unscorable rows get A = 0.
`normalize_then_sum` (GDPO) normalises each reward function per group first, sums with the weights, then
normalises over the batch. Groups of one row have no spread: A = 0. With equal group sizes every operation is
TRL's own on `rewards.view(-1, G)`, so the values are bit-identical to GRPOTrainer's (tests/test_advantages.py).
"""

from __future__ import annotations

import torch
from trl.trainer.utils import nanstd

EPS = 1e-4


def group_index(group_ids: list[int]) -> tuple[torch.Tensor, int, int]:
    """Per row: its group's ordinal (N,), plus the number of groups and the largest group size."""
    index, sizes = [], []
    for i, g in enumerate(group_ids):
        if i and g == group_ids[i - 1]:
            sizes[-1] += 1
        else:
            sizes.append(1)
        index.append(len(sizes) - 1)
    return torch.tensor(index, dtype=torch.long), len(sizes), max(sizes)


def grouped(x: torch.Tensor, group_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, ...) -> (n_groups, max_size, ...) padded with NaN, and each row's group ordinal (N,)."""
    index, n_groups, width = group_index(group_ids)
    index = index.to(x.device)
    if n_groups * width == x.size(0):  # equal sizes: TRL's view
        return x.view(n_groups, width, *x.shape[1:]), index
    slot = torch.arange(x.size(0), device=x.device) - torch.searchsorted(index, index, right=False)  # (N,)
    out = x.new_full((n_groups, width, *x.shape[1:]), float("nan"))
    out[index, slot] = x
    return out, index


def group_stats(rewards: torch.Tensor, group_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: its group's NaN-aware mean and unbiased std (N,), (N,); std is NaN for a group of one (A -> 0)."""
    g, index = grouped(rewards, group_ids)  # (n_groups, max_size)
    mean = torch.nanmean(g, dim=1)  # (n_groups,)
    std = nanstd(g, dim=1) if g.size(1) > 1 else torch.zeros_like(mean)  # (n_groups,)
    return mean[index], std[index]


def advantages(
    rewards: torch.Tensor,
    group_ids: list[int],
    scale_rewards: str = "group",
    rewards_per_func: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    aggregation: str = "sum_then_normalize",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages (N,) and the per-row "group reward std is zero" flag (N,) that TRL logs."""
    if aggregation == "normalize_then_sum":
        return _normalize_then_sum(rewards, group_ids, rewards_per_func, weights)
    mean, std = group_stats(rewards, group_ids)  # (N,), (N,)
    if scale_rewards == "batch":
        std = nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    adv = rewards - mean
    if scale_rewards != "none":
        adv = adv / (std + EPS)
    zero_std = torch.isclose(std, torch.zeros_like(std))
    return torch.nan_to_num(adv, nan=0.0), zero_std


def _normalize_then_sum(rewards, group_ids, rewards_per_func, weights):
    n_funcs = rewards_per_func.size(1)
    g, _ = grouped(rewards_per_func, group_ids)  # (n_groups, max_size, F)
    mean_k = torch.nanmean(g, dim=1, keepdim=True)
    std_k = nanstd(g, dim=1, keepdim=True) if g.size(1) > 1 else torch.zeros_like(mean_k)
    norm = ((g - mean_k) / (std_k + EPS)).view(-1, n_funcs)  # (n_groups * max_size, F)
    norm = norm[_real_rows(group_ids, g.size(1)).to(norm.device)]  # (N, F): drop the padding slots
    summed = (norm * weights.to(norm.device).unsqueeze(0)).nansum(dim=1)  # (N,)
    summed[torch.isnan(rewards)] = torch.nan
    std = nanstd(summed).expand_as(summed) if summed.numel() > 1 else torch.zeros_like(summed)
    adv = (summed - torch.nanmean(summed)) / (std + EPS)
    return torch.nan_to_num(adv, nan=0.0), torch.isclose(std, torch.zeros_like(std))


def _real_rows(group_ids: list[int], width: int) -> torch.Tensor:
    """Which slots of the (n_groups * width) padded layout hold a row."""
    index, n_groups, _ = group_index(group_ids)
    real = torch.zeros(n_groups, width, dtype=torch.bool)
    slot = torch.arange(len(group_ids)) - torch.searchsorted(index, index, right=False)
    real[index, slot] = True
    return real.view(-1)
