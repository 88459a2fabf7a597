"""Cost per completion of LATR's lookahead-tree sampler vs rlvr's i.i.d. sampler, on the same prompts.

    OMP_NUM_THREADS=1 python benchmarks/latr_cost.py --model WARM_START_DIR [--prompts 8 32] [--repeats 3]
    OMP_NUM_THREADS=1 python benchmarks/latr_cost.py --sft-steps 300     # builds a short warm start first

For each prompt count P, P addition prompts x 8 completions: `rlvr.sampling.sample` on every prompt repeated 8
times vs `rlvr.tree_sampler.tree_sample(n_tree=8)`, for the recipe's settings (recipes/latr.yaml: tau_abs 0.1,
tau_rel 0.5, lookahead (4, 8), fill iid) and the authors' (tau_abs 0.25, tau_rel 0.15, fill root). Calls alternate
(iid, recipe, authors, iid, ...) and medians are reported; target: tree / iid <= 1.5 per completion.
A randomly initialised model is nearly uniform (p < 0.1 everywhere) and never forks, so pass a trained model.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from common import char_model_dir, machine_info, median, write_results  # noqa: E402

from rlvr.models import load_model  # noqa: E402
from rlvr.sampling import sample  # noqa: E402
from rlvr.tasks import build_task  # noqa: E402
from rlvr.tree_sampler import tree_sample  # noqa: E402

G, MAX_NEW = 8, 48
SETTINGS = {
    "recipe": dict(tau_abs=0.1, tau_rel=0.5, lookahead=(4, 8), fill="iid", prune="edit"),
    "authors": dict(tau_abs=0.25, tau_rel=0.15, lookahead=(4, 8), fill="root", prune="edit"),
}


def quick_warm_start(steps: int, directory: str) -> str:
    """recipes/sft_addition.yaml cut to `steps` SFT steps, written to `directory` (not the shared cache)."""
    from rlvr.recipe import load_recipe
    from rlvr.sft import run_sft

    recipe = load_recipe("recipes/sft_addition.yaml", [f"sft.max_steps={steps}", f"output_dir={directory}"], "sft")
    return str(run_sft(recipe))


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def measure(model, tok, n_prompts: int, repeats: int) -> dict:
    task = build_task("addition", min_digits=3, max_digits=3)
    prompts = [tok(p)["input_ids"] for p in task.dataset("train", n_prompts)["prompt"]]
    kw = dict(max_new_tokens=MAX_NEW, eos_token_ids=tok.eos_token_id, pad_token_id=tok.pad_token_id, temperature=1.0)
    runs = {k: [] for k in ("iid", *SETTINGS)}
    for r in range(repeats + 1):  # the first round warms up and is dropped
        gen = torch.Generator().manual_seed(r)
        dt, out = timed(sample, model, [p for p in prompts for _ in range(G)], generator=gen, **kw)
        runs["iid"].append((dt, out.num_generated_tokens, {}))
        for name, cfg in SETTINGS.items():
            dt, out = timed(tree_sample, model, prompts, n_tree=G, generator=gen, **kw, **cfg)
            runs[name].append((dt, out.stats["generated_tokens"], out.stats))
    n = n_prompts * G
    res = {}
    for name, rows in runs.items():
        rows = rows[1:]
        res[name] = {
            "ms_per_completion": 1e3 * median([dt for dt, _, _ in rows]) / n,
            "tokens_per_completion": median([t for _, t, _ in rows]) / n,
            "stats": rows[-1][2],
        }
    for name in SETTINGS:
        res[name]["cost_ratio"] = res[name]["ms_per_completion"] / res["iid"]["ms_per_completion"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (a warm start); default: --sft-steps, else a random char-1m")
    ap.add_argument("--sft-steps", type=int, default=0, help="build a short warm start of this many SFT steps")
    ap.add_argument("--prompts", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            source = args.model
        elif args.sft_steps:
            source = quick_warm_start(args.sft_steps, f"{tmp}/sft")
        else:
            source = char_model_dir("char-1m", f"{tmp}/model")
        model, tok = load_model(source)
        info["model"] = args.model or (f"sft_addition, {args.sft_steps} steps" if args.sft_steps else "random char-1m")
        print(f"model: {info['model']}  (forks: granted; branches: surviving tree branches of prompts x {G})")
        head = f"{'prompts':>7} {'sampler':>8} {'ms/compl':>9} {'tok/compl':>9} {'ratio':>6}"
        print(head + f" {'forks':>6} {'pruned':>6} {'branches':>8}")
        for p in args.prompts:
            res = results[p] = measure(model, tok, p, args.repeats)
            for name, r in res.items():
                st = r["stats"]
                forks = st.get("candidates", 0) - st.get("suppressed", 0)
                ratio = f"{r['cost_ratio']:.2f}" if "cost_ratio" in r else "1.00"
                row = f"{p:>7} {name:>8} {r['ms_per_completion']:>9.2f} {r['tokens_per_completion']:>9.1f} {ratio:>6}"
                print(row + (f" {forks:>6} {st['pruned']:>6} {st['branches']:>8}" if st else ""))
    worst = max(r[name]["cost_ratio"] for r in results.values() for name in SETTINGS)
    print(f"target tree/iid <= 1.5 per completion: {'met' if worst <= 1.5 else 'MISSED'} (worst {worst:.2f})")
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload = {"machine": info, "args": vars(args), "settings": SETTINGS, "max_new_tokens": MAX_NEW, "group": G}
    write_results("latr_cost", {**payload, "results": results}, args.out)


if __name__ == "__main__":
    main()
