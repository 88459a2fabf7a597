"""Rollout throughput: `rlvr.sampling.sample` vs HF `generate` (sampling mode, same temperature) on a tiny Llama.

    OMP_NUM_THREADS=1 python benchmarks/rollout_throughput.py --batch-sizes 32 64 128 256 --new-tokens 32

Random-init model (no downloads); tokens/s counts generated tokens up to and including EOS, so early stopping
is credited the same way for both. Prints a table and writes JSON with machine info to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import transformers

from rlvr.sampling import hf_generate, sample


def build_model(hidden: int, layers: int, vocab: int) -> transformers.LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


def time_fn(fn, model, prompts, repeats: int, **kw) -> tuple[float, int]:
    """Best-of-`repeats` seconds (after one warm-up) and generated tokens of the timed calls."""
    fn(model, prompts, generator=torch.Generator().manual_seed(123), **kw)  # warm-up
    best, tokens = float("inf"), 0
    for r in range(repeats):
        t0 = time.perf_counter()
        out = fn(model, prompts, generator=torch.Generator().manual_seed(r), **kw)
        dt = time.perf_counter() - t0
        if dt < best:
            best, tokens = dt, out.num_generated_tokens
    return best, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=100)
    ap.add_argument("--prompt-len", type=int, nargs=2, default=[8, 24], help="min/max prompt length")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/rollout_throughput.json")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = build_model(args.hidden, args.layers, args.vocab)
    n_params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    # EOS = an arbitrary mid-vocab id: a random model emits it ~1/vocab of the time, so most rows run long.
    kw = dict(
        max_new_tokens=args.new_tokens, eos_token_ids=args.vocab // 2, pad_token_id=0, temperature=args.temperature
    )
    rows = []
    print(f"model: {n_params / 1e6:.2f}M params, threads={args.threads}")
    print(f"{'batch':>6} {'ours tok/s':>11} {'hf tok/s':>10} {'ratio':>6} {'ours ms/step':>13} {'hf ms/step':>11}")
    for bs in args.batch_sizes:
        lens = torch.randint(args.prompt_len[0], args.prompt_len[1] + 1, (bs,), generator=g).tolist()
        prompts = [torch.randint(1, args.vocab, (n,), generator=g).tolist() for n in lens]
        t_ours, n_ours = time_fn(sample, model, prompts, args.repeats, **kw)
        t_hf, n_hf = time_fn(hf_generate, model, prompts, args.repeats, **kw)
        r = {
            "batch_size": bs,
            "ours_tok_s": n_ours / t_ours,
            "hf_tok_s": n_hf / t_hf,
            "ours_s": t_ours,
            "hf_s": t_hf,
            "ours_tokens": n_ours,
            "hf_tokens": n_hf,
        }
        r["ratio"] = r["ours_tok_s"] / r["hf_tok_s"]
        rows.append(r)
        steps = args.new_tokens
        print(
            f"{bs:>6} {r['ours_tok_s']:>11.0f} {r['hf_tok_s']:>10.0f} {r['ratio']:>6.2f} "
            f"{1e3 * t_ours / steps:>13.2f} {1e3 * t_hf / steps:>11.2f}"
        )
    info = {
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": args.threads,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "params": n_params,
        "args": vars(args),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": info, "results": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
