"""Step time of RLVRTrainer (exploration `none`) vs a plain trl.GRPOTrainer: the cost of rlvr's seam.

    OMP_NUM_THREADS=1 python benchmarks/step_time.py [--model DIR] [--steps 15] [--rounds 5]
    OMP_NUM_THREADS=1 python benchmarks/step_time.py --model WARM_START_DIR --task countdown \
        --config num_iterations=4 max_completion_length=72 learning_rate=1e-4 \
        --out benchmarks/results/step_time_collapse.json           # the collapse testbed's step

Four trainers on the same model, GRPOConfig and seed: `vanilla` (trl.GRPOTrainer), `ours_trl` (RLVRTrainer with
TRL's generation and forward: the seam alone, target <= 1.05x vanilla), `ours_fast` (rlvr's defaults: the KV-cache
sampler and the compact training forward; target <= 0.5x vanilla) and `ours_fast_full` (the fast sampler with
TRL's full training forward). They run interleaved, in alternating order (A B C D, D C B A, ...), so load from
other processes on a shared machine hits all of them; each run's first `--warmup` steps are dropped and the median
of TRL's logged `step_time` is kept, plus the share of the step spent sampling (timed around `sample` or
`_generate_single_turn`). Ratios are the median over rounds of the per-round ratio (paired runs, minutes apart at
most): slow load drifts cancel.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from common import TASKS, char_model_dir, key_value, machine_info, median, write_results  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from rlvr.tasks import build_task  # noqa: E402
from rlvr.trainer import RLVRTrainer  # noqa: E402


def digits(prompts, completions, **kwargs):
    """Fraction of digits: varied rewards on a random model, so the loss and its backward are not trivially zero."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


def timed(cls):
    """`cls` with the wall time of every rollout's sampling recorded in `self.gen_seconds`."""

    class Timed(cls):
        gen_seconds: list

        def _generate_single_turn(self, *args, **kwargs):  # TRL's sampler (vanilla, ours_trl)
            t0 = time.perf_counter()
            out = super()._generate_single_turn(*args, **kwargs)
            self.gen_seconds.append(time.perf_counter() - t0)
            return out

        def sample(self, *args, **kwargs):  # rlvr's fast sampler
            t0 = time.perf_counter()
            out = super().sample(*args, **kwargs)
            self.gen_seconds.append(time.perf_counter() - t0)
            return out

    return Timed


KINDS = ("vanilla", "ours_trl", "ours_fast", "ours_fast_full")
"""ours_fast: rlvr's sampler and the compact training forward (the defaults); ours_fast_full: the same with
TRL's full training forward (compact_forward=False), to show what each part saves."""


def grpo_config(out_dir: str, max_steps: int, **overrides) -> GRPOConfig:
    """The benchmark's GRPO step: 4 prompts x G = 8, 48 new tokens, one rollout per step."""
    cfg = dict(
        output_dir=out_dir, use_cpu=True, bf16=False, report_to="none", disable_tqdm=True, save_strategy="no",
        dataloader_num_workers=0, dataloader_pin_memory=False, gradient_checkpointing=False, logging_steps=1,
        num_generations=8, per_device_train_batch_size=32, max_completion_length=48, learning_rate=1e-5,
        max_steps=max_steps, seed=0,
    )  # fmt: skip
    cfg.update(overrides)
    return GRPOConfig(**cfg)


def make_trainer(kind: str, model_dir: str, dataset, cfg: GRPOConfig, wrap=timed):
    """A trainer of `kind` (see KINDS) on `model_dir`, its class passed through `wrap` (timers)."""
    extra = {}
    if kind != "vanilla":
        extra = {"sampler": "trl" if kind == "ours_trl" else "fast", "compact_forward": kind == "ours_fast"}
    cls = wrap(GRPOTrainer if kind == "vanilla" else RLVRTrainer)
    trainer = cls(
        model=AutoModelForCausalLM.from_pretrained(model_dir), reward_funcs=[digits], args=cfg,
        train_dataset=dataset, processing_class=AutoTokenizer.from_pretrained(model_dir), **extra,
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # disable_tqdm adds it: one printed dict per step
    return trainer


def run(kind: str, model_dir: str, dataset, args: argparse.Namespace, out_dir: str) -> dict:
    trainer = make_trainer(
        kind, model_dir, dataset, grpo_config(out_dir, args.warmup + args.steps, **dict(args.config))
    )
    trainer.gen_seconds = []
    trainer.train()
    steps = [h["step_time"] for h in trainer.state.log_history if "step_time" in h][args.warmup :]
    every = trainer.args.steps_per_generation * trainer.num_iterations  # steps per rollout
    gen = trainer.gen_seconds[-(-args.warmup // every) :]  # the rollouts of the kept steps
    per_step = sum(gen) / (len(gen) * every)  # sampling time per step (a rollout serves `every` steps)
    return {"step_s": median(steps), "gen_s": per_step, "gen_share": per_step / median(steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: a random char-1m saved to a temporary directory)")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--task", default="addition", choices=sorted(TASKS))
    ap.add_argument("--config", nargs="*", type=key_value, default=[], help="GRPOConfig overrides, KEY=VALUE")
    ap.add_argument("--compile", action="store_true", help="compile_sampler for the ours_fast runs (one compile)")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    kinds = list(KINDS)
    per_run = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or char_model_dir("char-1m", f"{tmp}/model")
        dataset = build_task(args.task, **TASKS[args.task]).dataset("train", 2000)
        if args.compile:  # process-wide: every rlvr sampler from here on (vanilla and ours_trl do not use it)
            from rlvr.decoding import use_compiled_step

            use_compiled_step(AutoModelForCausalLM.from_pretrained(model_dir))
        for r in range(args.rounds):
            for k in kinds if r % 2 == 0 else kinds[::-1]:
                res = run(k, model_dir, dataset, args, f"{tmp}/{k}")
                per_run[k].append(res)
                print(f"round {r} {k:10s} step {res['step_s'] * 1e3:7.1f} ms  generation {res['gen_share']:.0%}")
    summary = {k: {m: median([x[m] for x in v]) for m in ("step_s", "gen_s", "gen_share")} for k, v in per_run.items()}

    def paired(k: str) -> float:
        return median([a["step_s"] / b["step_s"] for a, b in zip(per_run[k], per_run["vanilla"])])

    ratios = {f"{k}/vanilla": paired(k) for k in kinds[1:]}
    print(f"\nmedian over {args.rounds} rounds x {args.steps} steps (load at start {info['load_avg_1_5_15']})")
    for k, v in summary.items():
        gen = f"generation {v['gen_s'] * 1e3:7.1f} ms ({v['gen_share']:.0%})"
        print(f"  {k:10s} {v['step_s'] * 1e3:7.1f} ms/step   {gen}")
    for name, value in ratios.items():
        print(f"  {name:18s} {value:.3f}")
    for name, target in (("ours_trl/vanilla", 1.05), ("ours_fast/vanilla", 0.5)):
        print(f"  target {name} <= {target}: {'met' if ratios[name] <= target else 'MISSED'}")
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload = {"machine": info, "args": vars(args), "summary": summary, "ratios": ratios, "runs": per_run}
    write_results("step_time", payload, args.out)


if __name__ == "__main__":
    main()
