"""Single-query decode attention on CPU: the formulations tried for `rlvr.decoding`, timed on a cold-ish cache.

    OMP_NUM_THREADS=1 python benchmarks/decode_attention.py [--batch 256] [--seq 40] [--heads 4] [--head-dim 32]

One decode step's attention per layer: a query per (row, head) against the first `--seq` positions of a
preallocated (B, H, L, D) cache, cycling over 3 layers' caches so they do not all sit in cache. Prints us/layer
and writes JSON. `bmm` is what `rlvr.decoding` uses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results  # noqa: E402


def variants(q, bias, scale, S):
    def bmm(k, v, kt):  # rlvr.decoding: two batched matmuls over views of the cache
        s = torch.matmul(q, k[:, :, :S].transpose(-1, -2)).mul_(scale).add_(bias)  # (B, H, 1, S)
        return torch.matmul(s.softmax(-1), v[:, :, :S])  # (B, H, 1, D)

    def bmm_keys_transposed(k, v, kt):  # a second cache layout, (B, H, D, L) for the keys
        s = torch.matmul(q, kt[..., :S]).mul_(scale).add_(bias)  # (B, H, 1, S)
        return torch.matmul(s.softmax(-1), v[:, :, :S])

    def sdpa(k, v, kt):  # torch's CPU flash kernel on the same views
        return F.scaled_dot_product_attention(q, k[:, :, :S], v[:, :, :S], attn_mask=bias, scale=scale)

    def elementwise(k, v, kt):  # multiply-and-sum, no matmul
        s = (q * k[:, :, :S]).sum(-1).unsqueeze(2).mul_(scale).add_(bias)  # (B, H, 1, S)
        return (s.softmax(-1).transpose(-1, -2) * v[:, :, :S]).sum(-2, keepdim=True)

    return {f.__name__: f for f in (bmm, bmm_keys_transposed, sdpa, elementwise)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seq", type=int, default=40)
    ap.add_argument("--max-len", type=int, default=56)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    B, H, S, L, D = args.batch, args.heads, args.seq, args.max_len, args.head_dim
    g = torch.Generator().manual_seed(0)
    caches = [
        (
            torch.randn(B, H, L, D, generator=g),
            torch.randn(B, H, L, D, generator=g),
            torch.randn(B, H, D, L, generator=g),
        )
        for _ in range(3)
    ]
    q = torch.randn(B, H, 1, D, generator=g)  # (B, H, 1, D)
    bias = torch.zeros(B, 1, 1, S)  # (B, 1, 1, S)
    bias[..., : S // 8] = float("-inf")  # some left padding
    res = {}
    for name, fn in variants(q, bias, D**-0.5, S).items():
        for _ in range(3):
            for c in caches:
                fn(*c)
        t0 = time.perf_counter()
        for _ in range(args.iters):
            for c in caches:
                fn(*c)
        res[name] = 1e6 * (time.perf_counter() - t0) / (3 * args.iters)
        print(f"{name:22s} {res[name]:8.0f} us/layer")
    write_results("decode_attention", {"machine": machine_info(), "args": vars(args), "us_per_layer": res}, args.out)


if __name__ == "__main__":
    main()
