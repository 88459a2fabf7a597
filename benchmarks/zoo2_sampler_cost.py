"""Wall time per completion of the zoo-2 samplers (EAD, CURE, ...) vs i.i.d. sampling of as many completions.

    OMP_NUM_THREADS=1 python benchmarks/zoo2_sampler_cost.py [--model WARM_START_DIR] [--prompts 8 32] [--repeats 3]
    OMP_NUM_THREADS=1 python benchmarks/zoo2_sampler_cost.py --samplers ead cure

Default model: the warm start of recipes/grpo.yaml (built on first use). For each prompt count P, P addition
prompts x G = 8 completions: `rlvr.sampling.sample` on every prompt repeated G times vs each sampler of SAMPLERS,
called on the same prompts. Calls alternate (iid, a, b, iid, a, b, ...), the first round warms up and is dropped,
and each round's sampler / iid wall ratio is paired; medians are reported. Target: sampler / iid <= 1.5.
Results: benchmarks/results/zoo2_sampler_cost_<samplers>.json (one file per --samplers set, so runs of
different samplers do not overwrite each other).

A sampler is one entry of SAMPLERS: name -> fn(model, tok, prompt_ids, g, kw, generator) -> (completion_ids,
generated_tokens), returning G completions per prompt (prompt-major). `kw` holds the i.i.d. settings
(max_new_tokens, eos/pad ids, temperature 1). Add a sampler (DARS, ...) with one entry there.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from common import machine_info, median, write_results  # noqa: E402

from rlvr.models import load_model  # noqa: E402
from rlvr.sampling import sample  # noqa: E402
from rlvr.tasks import build_task  # noqa: E402

G, MAX_NEW = 8, 48
ROOT = Path(__file__).resolve().parent.parent


def iid(model, tok, prompts, g, kw, gen):
    out = sample(model, [p for p in prompts for _ in range(g)], generator=gen, **kw)
    return out.completion_ids, out.num_generated_tokens


def ead(model, tok, prompts, g, kw, gen):
    """recipes/ead.yaml's schedule at step 0, one temperature per position; log-probs kept (TIS needs them)."""
    from rlvr.exploration.ead import temperature_schedule

    cfg = recipe_config("ead")
    temps = temperature_schedule(cfg, step=0, length=kw["max_new_tokens"], base=kw["temperature"])
    out = sample(model, [p for p in prompts for _ in range(g)], generator=gen, return_logprobs=True,
                 **{**kw, "temperature": temps})  # fmt: skip
    return out.completion_ids, out.num_generated_tokens


def cure(model, tok, prompts, g, kw, gen):
    """recipes/cure.yaml's two passes (first samples, entropy-ranked cut, branches) as the module runs them."""
    from rlvr.exploration.cure import cure_sample

    cfg = recipe_config("cure")

    def sample_ids(prompt_ids, **over):
        return sample(model, prompt_ids, generator=gen, **{**kw, **over})

    ids, _, generated, _ = cure_sample(cfg, sample_ids, tok, prompts, g, kw["max_new_tokens"], random.Random(0))
    return ids, generated


@functools.cache
def _ettrl_config():
    return recipe_config("ettrl_tree")  # read once: not part of the sampler's cost


def ettrl_tree(model, tok, prompts, g, kw, gen):
    """recipes/ettrl_tree.yaml's entropy-fork trees (M roots, top-N fork points, B branches in one KV cache)."""
    from rlvr.fork_sampler import fork_sample

    cfg = _ettrl_config()
    per_tree = 1 + cfg.forks_per_tree * cfg.branches_per_fork
    tree = dict(trees=cfg.trees or g // per_tree, forks=cfg.forks_per_tree, branches=cfg.branches_per_fork)
    tree.update(resample_fork_token=cfg.resample_fork_token, min_fork_gap=cfg.min_fork_gap)
    out = fork_sample(model, prompts, special_token_ids=tok.all_special_ids, generator=gen, **tree, **kw)
    return [c for grp in out.completion_ids for c in grp], out.generated_tokens


SAMPLERS = {"ead": ead, "cure": cure, "ettrl_tree": ettrl_tree}
"""name -> fn(model, tok, prompt_ids, g, kw, generator) -> (G completions per prompt, generated tokens)."""


def recipe_config(name: str):
    """The module config of recipes/<name>.yaml (validated, as a run would build it)."""
    from rlvr.recipe import load_recipe

    return load_recipe(ROOT / "recipes" / f"{name}.yaml").exploration.config


def default_model() -> str:
    from rlvr.sft import ensure_warm_start

    return str(ensure_warm_start(str(ROOT / "recipes" / "sft_addition.yaml")))


def measure(model, tok, n_prompts: int, repeats: int, names: list[str]) -> dict:
    task = build_task("addition", min_digits=3, max_digits=3)
    prompts = [tok(p)["input_ids"] for p in task.dataset("train", n_prompts)["prompt"]]
    kw = dict(max_new_tokens=MAX_NEW, eos_token_ids=tok.eos_token_id, pad_token_id=tok.pad_token_id, temperature=1.0)
    runs = {k: [] for k in ("iid", *names)}
    for r in range(repeats + 1):  # the first round warms up and is dropped
        for name in runs:
            fn = iid if name == "iid" else SAMPLERS[name]
            gen = torch.Generator().manual_seed(r)
            t0 = time.perf_counter()
            ids, tokens = fn(model, tok, prompts, G, kw, gen)
            runs[name].append((time.perf_counter() - t0, tokens, len(ids)))
    n = n_prompts * G
    res = {}
    for name, rows in runs.items():
        rows = rows[1:]
        assert all(k == n for _, _, k in rows), f"{name} returned a wrong number of completions"
        res[name] = {
            "ms_per_completion": 1e3 * median([dt for dt, _, _ in rows]) / n,
            "tokens_per_completion": median([t for _, t, _ in rows]) / n,
        }
        if name != "iid":
            paired = [a[0] / b[0] for a, b in zip(rows, runs["iid"][1:])]
            res[name].update(cost_ratio=median(paired), paired_ratios=[round(x, 3) for x in paired])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory; default: the warm start of recipes/grpo.yaml")
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    ap.add_argument("--prompts", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    info["model"] = args.model or default_model()
    model, tok = load_model(info["model"])
    print(f"model: {info['model']}  ({G} completions per prompt, {MAX_NEW} new tokens max)")
    print(f"{'prompts':>7} {'sampler':>8} {'ms/compl':>9} {'tok/compl':>9} {'ratio':>6}  paired")
    results = {}
    for p in args.prompts:
        res = results[p] = measure(model, tok, p, args.repeats, args.samplers)
        for name, r in res.items():
            ratio = f"{r['cost_ratio']:.2f}" if "cost_ratio" in r else "1.00"
            row = f"{p:>7} {name:>8} {r['ms_per_completion']:>9.2f} {r['tokens_per_completion']:>9.1f} {ratio:>6}"
            print(row + f"  {r.get('paired_ratios', '')}")
    for name in args.samplers:
        worst = max(r[name]["cost_ratio"] for r in results.values())
        print(f"{name}: target sampler/iid <= 1.5 per completion: {'met' if worst <= 1.5 else 'MISSED'} ({worst:.2f})")
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload = {"machine": info, "args": vars(args), "max_new_tokens": MAX_NEW, "group": G, "results": results}
    write_results("zoo2_sampler_cost_" + "_".join(args.samplers), payload, args.out)  # one file per sampler set


if __name__ == "__main__":
    main()
