"""Row operations on TRL's generation batch: select, concatenate with re-padding, group view, row sampling."""

from __future__ import annotations

import torch

from rlvr.batch import concat_batches, group_view, sample_rows, select_rows

PAD = 9


def make_batch(prompts: list[list[int]], completions: list[list[int]], tag: str) -> dict:
    """A TRL-shaped batch: prompts left-padded with PAD, completions right-padded with 0."""
    p_width = max(map(len, prompts))
    c_width = max(map(len, completions))
    prompt_ids = torch.tensor([[PAD] * (p_width - len(p)) + p for p in prompts])
    prompt_mask = torch.tensor([[0] * (p_width - len(p)) + [1] * len(p) for p in prompts])
    completion_ids = torch.tensor([c + [0] * (c_width - len(c)) for c in completions])
    completion_mask = torch.tensor([[1] * len(c) + [0] * (c_width - len(c)) for c in completions])
    n = len(prompts)
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": torch.arange(n, dtype=torch.float32),
        "num_items_in_batch": completion_mask.sum(),
        "rows": [f"{tag}{i}" for i in range(n)],
    }


def test_select_rows_reorders_every_per_row_entry():
    batch = make_batch([[1], [2, 2], [3, 3, 3]], [[4], [5, 5], [6]], "a")
    out = select_rows(batch, [2, 0])
    assert out["prompt_ids"].tolist() == [[3, 3, 3], [PAD, PAD, 1]]
    assert out["completion_mask"].tolist() == [[1, 0], [1, 0]]
    assert out["advantages"].tolist() == [2.0, 0.0]
    assert out["rows"] == ["a2", "a0"]
    assert out["num_items_in_batch"] is batch["num_items_in_batch"] and out["num_items_in_batch"].dim() == 0
    out = select_rows(batch, torch.tensor([1, 1]))  # a tensor index, with repeats
    assert out["rows"] == ["a1", "a1"] and out["completion_ids"].tolist() == [[5, 5], [5, 5]]


def test_concat_repads_prompts_left_and_completions_right():
    a = make_batch([[1, 1], [2]], [[3, 3, 3, 3], [4]], "a")  # P=2, C=4
    b = make_batch([[5, 5, 5, 5]], [[6]], "b")  # P=4, C=1
    out = concat_batches([a, b], pad_token_id=PAD)
    assert out["prompt_ids"].tolist() == [[PAD, PAD, 1, 1], [PAD, PAD, PAD, 2], [5, 5, 5, 5]]
    assert out["prompt_mask"].tolist() == [[0, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]]
    assert out["completion_ids"].tolist() == [[3, 3, 3, 3], [4, 0, 0, 0], [6, 0, 0, 0]]
    assert out["completion_mask"].tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0]]
    assert out["advantages"].tolist() == [0.0, 1.0, 0.0]
    assert out["rows"] == ["a0", "a1", "b0"]
    # 0-dim entries are not concatenated: the first batch's value is kept as is
    assert out["num_items_in_batch"].dim() == 0 and out["num_items_in_batch"].item() == 5


def test_concat_pads_per_token_tensors_right_and_keeps_trailing_dims():
    a = {"prompt_ids": torch.ones(1, 2, dtype=torch.long), "prompt_mask": torch.ones(1, 2, dtype=torch.long)}
    b = {"prompt_ids": torch.ones(1, 3, dtype=torch.long), "prompt_mask": torch.ones(1, 3, dtype=torch.long)}
    a["per_token"] = torch.full((1, 2, 3), 7.0)
    b["per_token"] = torch.full((1, 1, 3), 8.0)
    out = concat_batches([a, b], pad_token_id=0)
    assert out["per_token"].shape == (2, 2, 3)
    assert out["per_token"][1, 1].tolist() == [0.0, 0.0, 0.0] and out["per_token"][1, 0].tolist() == [8.0] * 3
    assert out["prompt_ids"].tolist() == [[0, 1, 1], [1, 1, 1]]  # pad id 0: zeros on the left


def test_concat_then_select_is_consistent():
    a = make_batch([[1], [2, 2]], [[3], [4, 4]], "a")
    b = make_batch([[5, 5, 5]], [[6, 6, 6]], "b")
    out = select_rows(concat_batches([a, b], pad_token_id=PAD), [2, 1])
    assert out["rows"] == ["b0", "a1"]
    assert out["prompt_ids"].tolist() == [[5, 5, 5], [PAD, 2, 2]]
    assert out["completion_ids"].tolist() == [[6, 6, 6], [4, 4, 0]]


def test_group_view_groups_consecutive_rows():
    x = torch.arange(12).view(6, 2)
    g = group_view(x, 3)
    assert g.shape == (2, 3, 2)
    assert g[1, 0].tolist() == x[3].tolist() and g[0, 2].tolist() == x[2].tolist()
    assert group_view(torch.arange(6.0), 2).shape == (3, 2)


def test_sample_rows_is_deterministic_per_seed():
    data = [{"i": i} for i in range(1000)]
    first = sample_rows(data, 20, seed="0-3-0")
    assert first == sample_rows(data, 20, seed="0-3-0")
    assert first != sample_rows(data, 20, seed="0-3-1")
    assert len(first) == 20 and all(row in data for row in first)
