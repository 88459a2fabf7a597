"""Do rlvr's sampler and HF `generate` sample the same distribution? Held-out pass@1 of a model over many seeds.

    OMP_NUM_THREADS=1 python benchmarks/sampler_agreement.py --model WARM_START_DIR [--seeds 32]

Both samplers draw 16 completions at T = 1 for each of the first 128 held-out 3-digit addition problems, once per
seed. Their random streams differ, so single seeds disagree; over many seeds the mean pass@1 must agree within
its standard error if both sample the model's distribution. Greedy equality is tested in tests/test_sampling.py;
this is the whole-sequence check for sampling. Prints means, standard errors and their difference in SEs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_results  # noqa: E402

from rlvr.models import load_model  # noqa: E402
from rlvr.sampling import hf_generate, sample, sample_in_batches  # noqa: E402
from rlvr.tasks import build_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a warm-start dir, e.g. from `rlvr sft recipes/sft_addition.yaml`")
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--problems", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = load_model(args.model)
    model.eval()
    task = build_task("addition", min_digits=3, max_digits=3)
    rows = [task.item(i, "eval") for i in range(args.problems)]
    prompts = [tok(r["prompt"])["input_ids"] for r in rows for _ in range(args.samples)]
    kw = dict(max_new_tokens=48, eos_token_ids=tok.eos_token_id, pad_token_id=tok.pad_token_id, batch_size=256)
    acc = {"rlvr": [], "hf": []}
    for seed in range(args.seeds):
        for name, fn in (("rlvr", sample), ("hf", hf_generate)):
            out = sample_in_batches(model, prompts, fn=fn, generator=torch.Generator().manual_seed(seed), **kw)
            texts = [tok.decode(c, skip_special_tokens=True) for c in out.completion_ids]
            row = [rows[i // args.samples] for i in range(len(texts))]
            acc[name].append(
                statistics.fmean(task.verify(t, r["answer"], r.get("metadata")) for t, r in zip(texts, row))
            )
    stats = {k: (statistics.fmean(v), statistics.stdev(v) / len(v) ** 0.5) for k, v in acc.items()}
    for k, (m, se) in stats.items():
        print(f"{k:5s} pass@1 {m:.4f} ± {se:.4f} (s.e., {args.seeds} seeds)")
    diff = stats["rlvr"][0] - stats["hf"][0]
    z = diff / (stats["rlvr"][1] ** 2 + stats["hf"][1] ** 2) ** 0.5
    print(f"difference {diff:+.4f} = {z:+.2f} standard errors")
    payload = {"machine": machine_info(1), "args": vars(args), "per_seed": acc, "difference": diff, "z": z}
    write_results("sampler_agreement", payload, args.out)


if __name__ == "__main__":
    main()
