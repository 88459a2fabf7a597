"""Row-level operations on TRL's generation batch dict (used by group-selection hooks).

TRL's batch holds tensors whose first dimension is the number of rows B (`prompt_ids` left-padded
(B, P), `completion_ids` right-padded (B, C), `advantages` (B,) or (B, C), ...), 0-dim tensors
(`num_items_in_batch`) and possibly lists of length B. Rows of one prompt are consecutive (G of them)
before TRL shuffles, which is when the exploration hooks run.
"""

from __future__ import annotations

import random

import torch

LEFT_PADDED = ("prompt_ids", "prompt_mask")


def select_rows(batch: dict, index: torch.Tensor | list[int]) -> dict:
    """Keep rows `index` (in that order) of every per-row entry; 0-dim entries are kept as they are."""
    index = torch.as_tensor(index, dtype=torch.long)
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            out[key] = value[index.to(value.device)]
        elif isinstance(value, list):
            out[key] = [value[i] for i in index.tolist()]
        else:
            out[key] = value
    return out


def _pad_to(t: torch.Tensor, width: int, left: bool) -> torch.Tensor:
    if t.dim() < 2 or t.size(1) == width:
        return t
    pad = t.new_zeros(t.size(0), width - t.size(1), *t.shape[2:])
    return torch.cat([pad, t], dim=1) if left else torch.cat([t, pad], dim=1)


def concat_batches(batches: list[dict], pad_token_id: int = 0) -> dict:
    """Concatenate batches row-wise, re-padding prompts on the left and completions on the right."""
    out = {}
    for key in batches[0]:
        values = [b[key] for b in batches]
        first = values[0]
        if isinstance(first, torch.Tensor) and first.dim() > 0:
            width = max(v.size(1) for v in values) if first.dim() > 1 else None
            if width is not None:
                left = key in LEFT_PADDED
                values = [_pad_to(v, width, left) for v in values]
                if key == "prompt_ids" and pad_token_id:  # pad positions must hold the pad id
                    values = [
                        torch.where(m.bool(), v, torch.full_like(v, pad_token_id))
                        for v, m in zip(values, [_pad_to(b["prompt_mask"], width, True) for b in batches])
                    ]
            out[key] = torch.cat(values, dim=0)
        elif isinstance(first, list):
            out[key] = [x for v in values for x in v]
        else:
            out[key] = first
    return out


def group_view(x: torch.Tensor, num_generations: int) -> torch.Tensor:
    """(B, ...) -> (B // G, G, ...): consecutive rows of one prompt."""
    return x.view(-1, num_generations, *x.shape[1:])


def sample_rows(dataset, num: int, seed: str) -> list[dict]:
    """`num` random rows of a datasets.Dataset (with replacement across calls), deterministic for `seed`."""
    rng = random.Random(seed)
    return [dataset[rng.randrange(len(dataset))] for _ in range(num)]
