"""The arithmetic floor of the default GRPO step: its matmuls alone, at their exact shapes, against measured steps.

    OMP_NUM_THREADS=1 python benchmarks/step_floor.py [--steps 10] [--warmup 3] [--rounds 3]

Replays every matmul of step_time.py's default step (char-1m, 4 prompts x G = 8, 48 new tokens, 9-token addition
prompts, a rollout of 64 completions serving 2 steps) back to back in a tight loop, float32, one thread, warm
caches: the decode's projections and single-query attention at batch 64 for each of the 48 positions, the prefill,
and the training forward and backward (each linear's forward, input-gradient and weight-gradient matmul; SDPA
forward and backward). Nothing else runs: no sampling, no softmax over the vocabulary, no norms, no Python. So it is
a lower bound on the step of any implementation of the same arithmetic on this machine, in float32:
- `vanilla`'s shapes: HF generate's prefill of all 64 prompt copies, training on 32 rows of 9 + 48 tokens.
- `ours`' shapes: rlvr's sampler (each distinct prompt prefilled once) and the compact forward (each of the 4
  prompts encoded once, completions trained against its cache).
Then it measures vanilla TRL's and ours' (rlvr's defaults) step as step_time.py does, alternating, and prints each
floor as a fraction of vanilla's measured step. If ours' floor is near 0.5, no overhead cut reaches the issue's
target without changing the arithmetic (fewer FLOPs, or lower precision). Writes results/step_floor.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TASKS, char_model_dir, machine_info, median, write_results  # noqa: E402
from step_time import run  # noqa: E402

from rlvr.models.zoo import MODEL_ZOO  # noqa: E402
from rlvr.tasks import build_task  # noqa: E402

G, ROWS, NEW, PROMPT, ROLLOUT = 8, 32, 48, 9, 64  # step_time.py's default step (9-token addition prompts)


def best_ms(fn, reps: int = 5, inner: int = 5) -> float:
    """The fastest of `reps` timings of `inner` calls, per call (warm caches: a lower bound)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best * 1e3


def linear_shapes(cfg: dict) -> list[tuple[int, int]]:
    """(in, out) of one layer's projections, q/k/v and gate/up packed as rlvr's decoder packs them."""
    d, i = cfg["hidden_size"], cfg["intermediate_size"]
    return [(d, 3 * d), (d, d), (d, 2 * i), (i, d)]


def dims(cfg: dict) -> tuple[int, int, int, int]:
    """(hidden, heads, layers, vocab)."""
    return cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["vocab_size"]


def linear_ms(n: int, a: int, b: int, backward: bool = False) -> float:
    """y = x W^T on n rows (n, a) -> (n, b); with `backward` also dX = dY W and dW = dY^T x."""
    x, w, dy = torch.randn(n, a), torch.randn(b, a), torch.randn(n, b)
    ms = best_ms(lambda: F.linear(x, w))
    return ms + (best_ms(lambda: dy @ w) + best_ms(lambda: dy.t() @ x) if backward else 0.0)


def decode_ms(cfg: dict, batch: int, first_len: int, steps: int) -> float:
    """One rollout's decode matmuls, replayed in order: per position, each layer's projections (its own weights)
    and single-query attention over its own (batch, heads, max_len, head_dim) cache buffers, so weights and caches
    come from memory as often as in a real decode (a loop over one cached tensor would hide that)."""
    d, heads, layers, vocab = dims(cfg)
    dh, max_len = d // heads, first_len + steps + 1
    ws = [[torch.randn(b, a) for a, b in linear_shapes(cfg)] for _ in range(layers)]
    kvs = [(torch.randn(batch, heads, max_len, dh), torch.randn(batch, heads, max_len, dh)) for _ in range(layers)]
    head, xs = torch.randn(vocab, d), {a: torch.randn(batch, a) for a, _ in linear_shapes(cfg)}
    q, total = torch.randn(batch, heads, 1, dh), 0.0
    for t in range(steps):
        s = first_len + t + 1
        p = torch.randn(batch, heads, 1, s)

        def position(s=s, p=p):
            for w, (k, v) in zip(ws, kvs):
                for (a, _), wi in zip(linear_shapes(cfg), w):
                    F.linear(xs[a], wi)
                torch.matmul(q, k[:, :, :s].transpose(-1, -2))
                torch.matmul(p, v[:, :, :s])
            F.linear(xs[d], head)

        total += best_ms(position, reps=3, inner=3)
    return total


def prefill_ms(cfg: dict, rows: int, length: int) -> float:
    """The prompt forward: every projection on rows x length tokens and causal SDPA."""
    d, heads, layers, _ = dims(cfg)
    proj = sum(linear_ms(rows * length, a, b) for a, b in linear_shapes(cfg))
    q = torch.randn(rows, heads, length, d // heads)
    return (proj + best_ms(lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True))) * layers


def train_ms(cfg: dict, tokens: int, rows: int, q_len: int, kv_len: int) -> float:
    """Training forward + backward matmuls on `tokens` tokens: per linear y = x W^T, dX = dY W, dW = dY^T x; SDPA
    forward and backward over rows x heads x q_len queries against kv_len keys; the LM head on the completions."""
    d, heads, layers, vocab = dims(cfg)
    total = layers * sum(linear_ms(tokens, a, b, backward=True) for a, b in linear_shapes(cfg))
    total += linear_ms(rows * NEW, d, vocab, backward=True)
    q = torch.randn(rows, heads, q_len, d // heads, requires_grad=True)
    kv = torch.randn(rows, heads, kv_len, d // heads, requires_grad=True)
    mask = torch.ones(q_len, kv_len, dtype=torch.bool).tril(kv_len - q_len)  # causal, queries at the end

    def sdpa():
        F.scaled_dot_product_attention(q, kv, kv, attn_mask=mask).sum().backward()

    return total + layers * best_ms(sdpa)


def check_shapes(cfg: dict) -> None:
    """The replayed projections must be the model's: their weights plus the tied embedding and the norms' gains
    are every parameter of char-1m."""
    from rlvr.models import build_model
    from rlvr.models.zoo import count_parameters

    d, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    replayed = layers * (sum(a * b for a, b in linear_shapes(cfg)) + 2 * d) + cfg["vocab_size"] * d + d
    actual = count_parameters(build_model("char-1m", seed=0)[0])
    if replayed != actual:
        raise SystemExit(f"step_floor: the replayed shapes hold {replayed} parameters, char-1m has {actual}")


def floors(cfg: dict) -> dict:
    """Milliseconds per step of each implementation's matmuls (a rollout serves ROLLOUT / ROWS steps)."""
    per_rollout = ROLLOUT // ROWS
    prompts = ROWS // G
    decode = decode_ms(cfg, ROLLOUT, PROMPT, NEW - 1)  # the first token comes from the prefill
    vanilla = {
        "sampling": (prefill_ms(cfg, ROLLOUT, PROMPT) + decode) / per_rollout,
        "training": train_ms(cfg, ROWS * (PROMPT + NEW), ROWS, PROMPT + NEW, PROMPT + NEW),
    }
    ours = {
        "sampling": (prefill_ms(cfg, ROLLOUT // G, PROMPT) + decode) / per_rollout,
        "training": prefill_ms(cfg, prompts, PROMPT) * 3 + train_ms(cfg, ROWS * NEW, ROWS, NEW, PROMPT + NEW),
    }  # the prompt encode is trained too: forward + two backward matmuls, ~3x its forward
    for f in (vanilla, ours):
        f["step"] = f["sampling"] + f["training"]
    return {"vanilla": vanilla, "ours": ours}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.threads, args.config, args.model, args.task = 1, [], None, "addition"
    info = machine_info(1)
    cfg = {k: v for k, v in MODEL_ZOO["char-1m"].items() if isinstance(v, int)}
    check_shapes(cfg)
    floor = floors(cfg)
    measured = {"vanilla": [], "ours_fast": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = char_model_dir("char-1m", f"{tmp}/model")
        dataset = build_task("addition", **TASKS["addition"]).dataset("train", 2000)
        for r in range(args.rounds):
            for k in ("vanilla", "ours_fast")[:: 1 if r % 2 == 0 else -1]:
                measured[k].append(run(k, model_dir, dataset, args, f"{tmp}/{k}"))
    step = {k: median([x["step_s"] * 1e3 for x in v]) for k, v in measured.items()}
    step["ours_fast/vanilla"] = median(
        [o["step_s"] / v["step_s"] for o, v in zip(measured["ours_fast"], measured["vanilla"])]
    )
    van = step["vanilla"]
    print(f"matmul floor, ms/step (sampling + training) and as a fraction of vanilla's measured {van:.0f} ms:")
    for k, f in floor.items():
        print(f"  {k:8s} {f['sampling']:6.1f} + {f['training']:6.1f} = {f['step']:6.1f} ms   {f['step'] / van:.3f}")
    print(f"measured: ours_fast {step['ours_fast']:.0f} ms, paired ratio {step['ours_fast/vanilla']:.3f} of vanilla; "
          f"its floor is {floor['ours']['step'] / step['ours_fast']:.0%} of it")  # fmt: skip
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload = {"machine": info, "args": vars(args), "floor_ms": floor, "measured_ms": step, "runs": measured}
    write_results("step_floor", payload, args.out)


if __name__ == "__main__":
    main()
