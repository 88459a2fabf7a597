"""Where a GRPO step's milliseconds go: sampling, scoring, log-prob forwards, loss, backward, optimizer, logging, rest.

    OMP_NUM_THREADS=1 python benchmarks/profile_step.py [--kinds vanilla ours_fast_full ours_fast] [--steps 12]
        [--model DIR] [--task addition|countdown] [--task-kwargs YAML] [--config KEY=VALUE ...] [--rounds 2] [--ops]

The trainers and GRPOConfig of `step_time.py` (4 prompts x 8 completions, 48 new tokens, char-1m), each method
timed exclusively (a phase's time excludes the phases nested in it):

    sampling         `sample` (rlvr's sampler) or `_generate_single_turn` (TRL's)
    scoring          `_calculate_rewards`: decoding completions to text and the reward functions
    rollout, rest    `_generate_and_score_completions` less the above and its no-grad forwards: padding, advantages,
                     metrics of the rollout batch
    log-prob fwd     `_get_per_token_logps_and_entropies` with grad (the training forward)
    no-grad fwd      the same without grad (old / reference log-probs; none at num_iterations 1 and beta 0)
    loss, rest       `compute_loss` less its forward: surrogate, masks, loss metrics
    backward         `accelerator.backward`
    optimizer        between the `on_pre_optimizer_step` and `on_optimizer_step` callbacks: clipping is before,
                     so this is `optimizer.step` (AdamW)
    logging          `log`: metric reduction and the log callbacks
    rest             the step's wall (step begin to the next step begin) less all of the above: data loader,
                     scheduler, zero_grad, callbacks, the Trainer loop's Python

Means over the steps after `--warmup`, then the median over rounds (runs alternate in order). The sum of the phases
is the step wall by construction. Written for this project: torch.profiler shows kernels, not these phases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
import yaml  # noqa: E402
from common import char_model_dir, key_value, machine_info, write_results  # noqa: E402
from step_time import grpo_config, make_trainer  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from rlvr.tasks import build_task  # noqa: E402

PHASES = ("sampling", "scoring", "rollout, rest", "log-prob fwd", "no-grad fwd", "loss, rest", "backward", "optimizer",
          "logging", "rest")  # fmt: skip


class Clock:
    """Exclusive phase times of the current step: a stack of open phases, each charged its own time only."""

    def __init__(self):
        self.step, self.stack = defaultdict(float), []

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.step[outer] += now - since
        self.stack.append((phase, now))

    def leave(self) -> None:
        now = time.perf_counter()
        phase, since = self.stack.pop()
        self.step[phase] += now - since
        if self.stack:
            self.stack[-1] = (self.stack[-1][0], now)


def timed_phases(cls):
    """`cls` with every phase of PHASES charged to `self.clock`."""

    def wrap(name: str, phase):
        def method(self, *args, **kwargs):
            p = phase(self) if callable(phase) else phase
            self.clock.enter(p)
            try:
                return getattr(super(Timed, self), name)(*args, **kwargs)
            finally:
                self.clock.leave()

        return method

    grad_phase = lambda self: "log-prob fwd" if torch.is_grad_enabled() else "no-grad fwd"  # noqa: E731
    members = {
        "_generate_single_turn": wrap("_generate_single_turn", "sampling"),
        "_calculate_rewards": wrap("_calculate_rewards", "scoring"),
        "_generate_and_score_completions": wrap("_generate_and_score_completions", "rollout, rest"),
        "_get_per_token_logps_and_entropies": wrap("_get_per_token_logps_and_entropies", grad_phase),
        "compute_loss": wrap("compute_loss", "loss, rest"),
        "log": wrap("log", "logging"),
    }
    if hasattr(cls, "sample"):
        members["sample"] = wrap("sample", "sampling")
    Timed = type(f"Timed{cls.__name__}", (cls,), members)
    return Timed


class StepClock(TrainerCallback):
    """Closes each step (step begin to the next step begin), the optimizer phase, and wraps backward."""

    def __init__(self, trainer):
        self.trainer, self.steps, self.t0 = trainer, [], None
        backward = trainer.accelerator.backward

        def timed_backward(*args, **kwargs):
            trainer.clock.enter("backward")
            try:
                return backward(*args, **kwargs)
            finally:
                trainer.clock.leave()

        trainer.accelerator.backward = timed_backward

    def on_step_begin(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.t0 is not None:
            self._close(now)
        self.t0 = now

    def on_train_end(self, args, state, control, **kwargs):
        self._close(time.perf_counter())

    def _close(self, now: float) -> None:
        phases = dict(self.trainer.clock.step)
        phases["rest"] = (now - self.t0) - sum(phases.values())
        self.steps.append(phases)
        self.trainer.clock.step = defaultdict(float)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.trainer.clock.enter("optimizer")

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.trainer.clock.leave()


MATMUL_OPS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::_scaled_dot_product_flash_attention_for_cpu_backward")  # fmt: skip


class OpShare(TrainerCallback):
    """torch.profiler over the steps after the warm-up: the share of CPU time in matmul and attention kernels."""

    def __init__(self, warmup: int):
        self.warmup, self.prof, self.share = warmup, None, None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.warmup and self.prof is None:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof.__enter__()

    def on_train_end(self, args, state, control, **kwargs):
        if self.prof is not None:
            self.prof.__exit__(None, None, None)
            ops = self.prof.key_averages()
            total = sum(e.self_cpu_time_total for e in ops)
            self.share = sum(e.self_cpu_time_total for e in ops if e.key in MATMUL_OPS) / total


def profile(kind: str, model_dir: str, dataset, args, out_dir: str) -> dict[str, float]:
    """Mean ms per phase over the steps after the warm-up (with --ops: the matmul share of CPU time instead)."""
    grpo = grpo_config(out_dir, args.warmup + args.steps, **dict(args.config))
    trainer = make_trainer(kind, model_dir, dataset, grpo, wrap=timed_phases)
    trainer.clock = Clock()
    clock = StepClock(trainer)
    trainer.add_callback(clock)
    ops = OpShare(args.warmup) if args.ops else None
    if ops:
        trainer.add_callback(ops)
    trainer.train()
    steps = clock.steps[args.warmup :]
    out = {p: 1e3 * statistics.fmean(s.get(p, 0.0) for s in steps) for p in PHASES}
    out["step"] = sum(out[p] for p in PHASES)
    if ops:
        out["matmul_share"] = ops.share
    return out


def table(results: dict[str, dict[str, float]]) -> list[str]:
    kinds = list(results)
    lines = ["| phase | " + " | ".join(f"{k} ms" for k in kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for p in (*PHASES, "step"):
        cells = [f"{results[k][p]:.1f} ({results[k][p] / results[k]['step']:.0%})" for k in kinds]
        lines.append(f"| {'**step**' if p == 'step' else p} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="+", default=["vanilla", "ours_fast_full", "ours_fast"])
    ap.add_argument("--model", help="model directory (default: a random char-1m saved to a temporary directory)")
    ap.add_argument("--task", default="addition", choices=["addition", "countdown"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--task-kwargs", type=yaml.safe_load, default=None, help="task settings, e.g. '{num_numbers: 4}'")
    ap.add_argument("--config", nargs="*", type=key_value, default=[], help="GRPOConfig overrides, KEY=VALUE")
    ap.add_argument("--ops", action="store_true", help="profile kernels: the share of matmul/attention CPU time")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    info = machine_info(1)
    per_round = defaultdict(list)
    task = (
        args.task_kwargs or {"addition": dict(min_digits=3, max_digits=3), "countdown": dict(num_numbers=4)}[args.task]
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or char_model_dir("char-1m", f"{tmp}/model")
        dataset = build_task(args.task, **task).dataset("train", 2000)
        for r in range(args.rounds):
            for kind in args.kinds if r % 2 == 0 else args.kinds[::-1]:
                per_round[kind].append(profile(kind, model_dir, dataset, args, f"{tmp}/{kind}"))
                print(f"round {r} {kind:15s} {per_round[kind][-1]['step']:7.1f} ms/step", flush=True)
    keys = (*PHASES, "step", *(("matmul_share",) if args.ops else ()))
    results = {k: {p: statistics.median(x[p] for x in v) for p in keys} for k, v in per_round.items()}
    print(f"\nmedian over {args.rounds} rounds of the mean over {args.steps} steps, task {args.task}")
    print("\n".join(table(results)))
    if args.ops:  # profiler times are inflated by the profiler itself; the share is what matters
        print("matmul + attention kernels, share of CPU time: " + ", ".join(
            f"{k} {v['matmul_share']:.0%}" for k, v in results.items()))  # fmt: skip
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(f"profile_step_{args.task}", {"machine": info, "args": vars(args), "results": results}, args.out)


if __name__ == "__main__":
    main()
