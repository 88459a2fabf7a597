"""How a GRPO step's cost grows with the group size, the completion length and the model, for vanilla TRL and rlvr.

    OMP_NUM_THREADS=1 python benchmarks/step_scaling.py [--steps 5] [--warmup 2] [--kinds vanilla ours_fast]

One factor at a time around `step_time.py`'s step (4 prompts x G = 8, 48 new tokens, char-1m, random weights, so
completions run to the length limit): G in {4, 8, 16, 32} (4 prompts, 4G rows per step), max completion length in
{16, 48, 128}, model in {char-0.2m, char-1m, char-5m}. Each cell is the median of TRL's logged `step_time` over the
steps after the warm-up, the two trainers alternating per configuration. A user predicts a run's cost as steps x the
cell nearest their setting (x the rows / 32 roughly, for other batch shapes).
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from common import char_model_dir, machine_info, median, write_results  # noqa: E402
from step_time import grpo_config, make_trainer  # noqa: E402

from rlvr.tasks import build_task  # noqa: E402

DEFAULT = {"G": 8, "length": 48, "model": "char-1m"}
GRID = {"G": [4, 8, 16, 32], "length": [16, 48, 128], "model": ["char-0.2m", "char-1m", "char-5m"]}


def configs() -> list[dict]:
    """The default and every one-factor change of it, each once."""
    out = [dict(DEFAULT)]
    for factor, values in GRID.items():
        out += [{**DEFAULT, factor: v} for v in values if v != DEFAULT[factor]]
    return out


def step_ms(kind: str, cfg: dict, models: dict, dataset, args, tmp: str) -> float:
    grpo = grpo_config(
        f"{tmp}/{kind}", args.warmup + args.steps, num_generations=cfg["G"], per_device_train_batch_size=4 * cfg["G"],
        max_completion_length=cfg["length"],
    )  # fmt: skip
    trainer = make_trainer(kind, models[cfg["model"]], dataset, grpo, wrap=lambda cls: cls)
    trainer.train()
    steps = [h["step_time"] for h in trainer.state.log_history if "step_time" in h][args.warmup :]
    return 1e3 * median(steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=["vanilla", "ours_fast"])
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    info = machine_info(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {m: char_model_dir(m, f"{tmp}/{m}") for m in GRID["model"]}
        dataset = build_task("addition", min_digits=3, max_digits=3).dataset("train", 2000)
        for i, cfg in enumerate(configs()):
            kinds = args.kinds if i % 2 == 0 else args.kinds[::-1]
            row = {**cfg, **{k: step_ms(k, cfg, models, dataset, args, tmp) for k in kinds}}
            rows.append(row)
            cells = "  ".join(f"{k} {row[k]:7.1f} ms" for k in args.kinds)
            print(f"G {cfg['G']:2d}  length {cfg['length']:3d}  {cfg['model']:9s}  {cells}", flush=True)
    first, last = args.kinds[0], args.kinds[-1]
    print(f"\n| G | completion length | model | {' | '.join(f'{k} ms/step' for k in args.kinds)} | {last}/{first} |")
    print("|---" * (4 + len(args.kinds)) + "|")
    for r in rows:
        cells = " | ".join(f"{r[k]:.0f}" for k in args.kinds)
        print(f"| {r['G']} | {r['length']} | {r['model']} | {cells} | {r[last] / r[first]:.2f} |")
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("step_scaling", {"machine": info, "args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
