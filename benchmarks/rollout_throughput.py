"""Rollout throughput: `rlvr.sampling.sample` vs HF `generate` (sampling mode, same temperature) on tiny Llamas.

    OMP_NUM_THREADS=1 python benchmarks/rollout_throughput.py                       # random 0.5M model
    OMP_NUM_THREADS=1 python benchmarks/rollout_throughput.py --model WARM_START_DIR --group-size 8 --new-tokens 48

Without `--model`: a random-init Llama (no downloads) on random prompts, EOS an arbitrary mid-vocab id, so nearly
every row runs to `--new-tokens`: the two decode loops compared step for step. With `--model` (a warm start, e.g.
`rlvr sft recipes/sft_addition.yaml`): 3-digit addition prompts and the model's own EOS, so completions end at
different lengths as in real rollouts. `--group-size G` builds each batch from batch/G distinct prompts repeated
G times, the shape of a GRPO rollout (`num_generations`). Tokens/s counts generated tokens up to and including
EOS (tokens HF computes for rows that already finished are not credited). Each round times both samplers, in
alternating order; the ratio reported is the median of the per-round ratios (steadier than a ratio of medians on
a shared machine). Prints a table and writes JSON with machine info.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, median, write_results  # noqa: E402

from rlvr.sampling import hf_generate, sample  # noqa: E402


def random_model(hidden: int, layers: int, vocab: int) -> transformers.LlamaForCausalLM:
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


def random_prompts(n: int, lens: tuple[int, int], vocab: int, g: torch.Generator) -> list[list[int]]:
    sizes = torch.randint(lens[0], lens[1] + 1, (n,), generator=g).tolist()
    return [torch.randint(1, vocab, (k,), generator=g).tolist() for k in sizes]


def task_prompts(tok, n: int) -> list[list[int]]:
    from rlvr.tasks import build_task

    task = build_task("addition", min_digits=3, max_digits=3)
    return [tok(p)["input_ids"] for p in task.dataset("train", n)["prompt"]]


def measure(model, prompts: list[list[int]], rounds: int, kw: dict) -> dict:
    """Per round: both samplers once (order alternating); the first round warms up and is dropped."""
    runs = {"ours": [], "hf": []}
    for r in range(rounds + 1):
        order = [("ours", sample), ("hf", hf_generate)][:: 1 if r % 2 else -1]
        for name, fn in order:
            t0 = time.perf_counter()
            out = fn(model, prompts, generator=torch.Generator().manual_seed(r), **kw)
            runs[name].append((time.perf_counter() - t0, out.num_generated_tokens))
    ours, hf = runs["ours"][1:], runs["hf"][1:]
    return {
        "ours_tok_s": median([n / t for t, n in ours]),
        "hf_tok_s": median([n / t for t, n in hf]),
        "ratio": median([(no / to) / (nh / th) for (to, no), (th, nh) in zip(ours, hf)]),
        "ratio_min": min((no / to) / (nh / th) for (to, no), (th, nh) in zip(ours, hf)),
        "tokens_per_row": median([n for _, n in ours]) / len(prompts),
    }


def profile_sampler(model, prompts: list[list[int]], kw: dict, calls: int = 3) -> None:
    """Torch profile of `sample` on `prompts`: the top ops, and prefill vs decode-step time per call."""
    from torch.profiler import profile, record_function

    from rlvr.decoding import Decoder

    prefill, step = Decoder.prefill, Decoder.step

    def labelled(fn, label):
        def wrapper(*a, **k):
            with record_function(label):
                return fn(*a, **k)

        return wrapper

    Decoder.prefill, Decoder.step = labelled(prefill, "rlvr.prefill"), labelled(step, "rlvr.step")
    try:
        with profile() as prof:
            for r in range(calls):
                sample(model, prompts, generator=torch.Generator().manual_seed(r), **kw)
    finally:
        Decoder.prefill, Decoder.step = prefill, step
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=12))
    total = sum(e.self_cpu_time_total for e in events) / calls / 1e3
    spans = {e.key: e.cpu_time_total / calls / 1e3 for e in events if e.key.startswith("rlvr.")}
    print(f"per call (profiled): {total:.1f} ms, prefill {spans.get('rlvr.prefill', 0):.1f} ms, "
          f"decode steps {spans.get('rlvr.step', 0):.1f} ms")  # fmt: skip


def compile_decode_step(model, kw: dict) -> float:
    """Turn on `compile_sampler` (rlvr.decoding.use_compiled_step) and time the first, compiling, call."""
    from rlvr.decoding import use_compiled_step

    use_compiled_step(model)
    t0 = time.perf_counter()
    sample(model, [[1, 2, 3]] * 4, generator=torch.Generator().manual_seed(0), **kw)
    seconds = time.perf_counter() - t0
    print(f"compile_sampler: first call (the compile) {seconds:.1f} s")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model dir or built-in name (default: a random Llama, --hidden/--layers)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--group-size", type=int, default=1, help="completions per distinct prompt (GRPO's G)")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=100)
    ap.add_argument("--prompt-len", type=int, nargs=2, default=[8, 24], help="random prompts: min/max length")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/rollout_throughput.json)")
    ap.add_argument("--profile", action="store_true", help="print a torch profile of our sampler, largest batch")
    ap.add_argument("--compile", action="store_true", help="compile_sampler: our decode step through torch.compile")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.model:
        from rlvr.models import load_model

        model, tok = load_model(args.model)
        model.eval()
        eos, pad = tok.eos_token_id, tok.pad_token_id
    else:
        model, tok, eos, pad = random_model(args.hidden, args.layers, args.vocab), None, args.vocab // 2, 0
    kw = dict(max_new_tokens=args.new_tokens, eos_token_ids=eos, pad_token_id=pad, temperature=args.temperature)
    n_params = sum(p.numel() for p in model.parameters())
    compile_s = compile_decode_step(model, kw) if args.compile else None
    print(f"model: {args.model or 'random Llama'} ({n_params / 1e6:.2f}M params), threads={args.threads}, "
          f"group size {args.group_size}, {args.new_tokens} new tokens max, {args.rounds} rounds")  # fmt: skip
    print(f"{'batch':>6} {'ours tok/s':>11} {'hf tok/s':>10} {'ratio':>6} {'min':>5} {'tokens/row':>11}")
    rows = []
    for bs in args.batch_sizes:
        n_distinct = max(1, bs // args.group_size)
        g = torch.Generator().manual_seed(bs)
        distinct = task_prompts(tok, n_distinct) if tok else random_prompts(n_distinct, args.prompt_len, args.vocab, g)
        prompts = [p for p in distinct for _ in range(args.group_size)]
        r = {"batch_size": len(prompts), **measure(model, prompts, args.rounds, kw)}
        rows.append(r)
        print(f"{r['batch_size']:>6} {r['ours_tok_s']:>11.0f} {r['hf_tok_s']:>10.0f} {r['ratio']:>6.2f} "
              f"{r['ratio_min']:>5.2f} {r['tokens_per_row']:>11.1f}")  # fmt: skip
    if args.profile:
        profile_sampler(model, prompts, kw)
    info = {**machine_info(args.threads), "params": n_params, "args": vars(args), "compile_seconds": compile_s}
    write_results("rollout_throughput", {"machine": info, "results": rows}, args.out)


if __name__ == "__main__":
    main()
