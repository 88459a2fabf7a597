"""One thread's matmul rate on the shapes of a char-1m GRPO step, float32 against bfloat16.

    OMP_NUM_THREADS=1 python benchmarks/matmul_rate.py [--reps 50]      # results/matmul_rate.json

Shapes (M x K x N): the training forward's projections over 32 rows x 63 tokens (2016 x 128 x 384 q/k/v,
2016 x 128 x 1024 gate/up, 2016 x 512 x 128 down, 2016 x 128 x 128 o), a weight gradient (384 x 2016 x 128) and
a decode step's projections at batch 32 (32 x 128 x 384, 32 x 128 x 1024). GFLOP/s = 2MKN / median time. The
figures bound what any step can reach: see README "Why 0.5 is out of reach".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import machine_info, write_results

SHAPES = [(2016, 128, 384), (2016, 128, 1024), (2016, 512, 128), (2016, 128, 128), (384, 2016, 128),
          (32, 128, 384), (32, 128, 1024)]  # fmt: skip


def rate(m: int, k: int, n: int, dtype: torch.dtype, reps: int) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * m * k * n / statistics.median(times) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    print("| M x K x N | float32 GFLOP/s | bfloat16 GFLOP/s | bf16/fp32 |\n|---|---|---|---|")
    for shape in SHAPES:
        f32, bf16 = (rate(*shape, dt, args.reps) for dt in (torch.float32, torch.bfloat16))
        rows.append({"shape": shape, "float32": f32, "bfloat16": bf16})
        print(f"| {' x '.join(map(str, shape))} | {f32:.0f} | {bf16:.0f} | {bf16 / f32:.2f} |", flush=True)
    write_results("matmul_rate", {"machine": machine_info(1), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
