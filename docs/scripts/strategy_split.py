"""Split a model's sampled completions by strategy: direct answer (`#...`) vs chain of thought.

    python docs/scripts/strategy_split.py MODEL_DIR [--problems 128 --samples 16 --seed 0]

Samples `--samples` completions at T = 1 for each of the first `--problems` held-out addition problems
(3-digit, the default difficulty) and prints the share and accuracy of each strategy. Used in
docs/warm_start.md and docs/baseline.md to show what GRPO changes in the toy.
"""

import argparse

import torch

from rlvr.models import load_model
from rlvr.sampling import sample
from rlvr.tasks import build_task


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--problems", type=int, default=128)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    model, tok = load_model(args.model)
    task = build_task("addition")
    rows = [task.item(i, "eval") for i in range(args.problems)]
    ids = [tok(r["prompt"])["input_ids"] for r in rows for _ in range(args.samples)]
    out = sample(model, ids, max_new_tokens=48, eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id,
                 generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
    texts = tok.batch_decode(out.completion_ids, skip_special_tokens=True)
    owners = [rows[i // args.samples] for i in range(len(texts))]
    scored = [(t.startswith("#"), task.verify(t, r["answer"], r["metadata"])) for t, r in zip(texts, owners)]
    for name, want in (("direct answer", True), ("chain of thought", False)):
        acc = [c for d, c in scored if d == want]
        print(f"{name:17s} share {len(acc) / len(scored):.3f}  accuracy {sum(acc) / max(len(acc), 1):.3f}")


if __name__ == "__main__":
    main()
