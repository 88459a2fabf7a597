"""KV-cache row selection in rlvr's sampler: copying only the filled positions vs the whole preallocated buffer.

    OMP_NUM_THREADS=1 python benchmarks/cache_select.py --model WARM_START_DIR [--batch 256] [--rounds 6]

`rlvr.decoding._PreallocLayer.batch_select_indices` runs after the deduplicated prefill (copying each prompt's rows
to its G completions), when finished rows are dropped, and at every tree fork. It used to gather the whole
(B, H, max_len, D) buffer, unfilled positions included (`before` below); it now copies the filled positions only
(`rlvr.decoding._gather_rows`). Both are pure copies, so the sampled tokens, log-probs and entropies must be equal
bit for bit: the script checks that on every round, then prints the seconds spent in the selection and in whole
`sample` calls for each, alternating the order per round. GRPO-shaped rollouts: 3-digit addition prompts, batch/8
distinct prompts x 8.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results  # noqa: E402

import rlvr.decoding as decoding  # noqa: E402
from rlvr.sampling import sample  # noqa: E402


def before(self, indices: torch.Tensor) -> None:
    """The selection as it was: every position of the buffer copied."""
    if self.is_initialized:
        self.k_buf, self.v_buf = self.k_buf[indices], self.v_buf[indices]
        self.keys, self.values = self.k_buf[:, :, : self.n], self.v_buf[:, :, : self.n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a warm-start dir (e.g. ~/.cache/rlvr/warm_start/sft_addition-*)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from rlvr.models import load_model
    from rlvr.tasks import build_task

    model, tok = load_model(args.model)
    model.eval()
    task = build_task("addition", min_digits=3, max_digits=3)
    prompts = [tok(p)["input_ids"] for p in task.dataset("train", args.batch // 8)["prompt"] for _ in range(8)]
    kw = dict(max_new_tokens=48, eos_token_ids=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    kw.update(return_logprobs=True, return_entropy=True)
    impls = {"before": before, "filled_only": decoding._PreallocLayer.batch_select_indices}
    select_s, total_s = dict.fromkeys(impls, 0.0), dict.fromkeys(impls, 0.0)

    def timed(name):
        def wrapper(self, indices):
            t0 = time.perf_counter()
            impls[name](self, indices)
            select_s[name] += time.perf_counter() - t0

        return wrapper

    try:
        for r in range(args.rounds):
            outs = {}
            for name in list(impls)[:: 1 if r % 2 else -1]:
                decoding._PreallocLayer.batch_select_indices = timed(name)
                t0 = time.perf_counter()
                outs[name] = sample(model, prompts, generator=torch.Generator().manual_seed(r), **kw)
                total_s[name] += time.perf_counter() - t0
            a, b = outs["before"], outs["filled_only"]
            same = (a.completion_ids, a.logprobs, a.entropies) == (b.completion_ids, b.logprobs, b.entropies)
            if not same:
                raise SystemExit(f"round {r}: the two selections sampled different outputs")
    finally:
        decoding._PreallocLayer.batch_select_indices = impls["filled_only"]
    print(f"{args.rounds} rollouts of {len(prompts)} rows each, outputs bit-identical in every round")
    for name in impls:
        print(f"{name:>12}: selection {select_s[name]:.3f} s, sample calls {total_s[name]:.3f} s")
    info = {**machine_info(1), "args": vars(args)}
    write_results("cache_select", {"machine": info, "select_seconds": select_s, "sample_seconds": total_s}, args.out)


if __name__ == "__main__":
    main()
