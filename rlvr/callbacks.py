"""Trainer callbacks for runs: metrics.jsonl, periodic pass@k evaluation, a progress bar, Ctrl-C.

- `MetricsWriter`: one JSON object per logging step in `output_dir/metrics.jsonl` with `step`,
  `reward`, `entropy`, `frac_reward_zero_std`, TRL's other keys, `explore/*` and `eval/*` when an
  evaluation ran at that step.
- `PeriodicEval`: held-out pass@k (rlvr.evaluation) before training, every `eval.every` steps, at the end
  (before and at the end with `eval.final`'s settings).
- `Progress`: a tqdm bar showing reward, pass@1 and entropy (replaces transformers' bar).
- `GracefulStop`: SIGINT asks the trainer to save a checkpoint and stop after the current step.
- `WallClock`: the run's training wall across resumes (each checkpoint keeps the seconds spent up to it).
"""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

from transformers import TrainerCallback


class MetricsWriter(TrainerCallback):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.pending_eval: dict = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step}
        for k, v in logs.items():
            if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
                row[k] = v
        row.update(self.pending_eval)
        self.pending_eval = {}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def write_eval(self, step: int, metrics: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **{f"eval/{k}": v for k, v in metrics.items()}}) + "\n")


class PeriodicEval(TrainerCallback):
    """Runs `evaluate_fn(model) -> dict` every `every` steps, and its `.final` (when it has one: the larger step-0
    and final evaluation, `eval.final`) at step 0 and at the end of training."""

    def __init__(self, evaluate_fn, every: int, writer: MetricsWriter, progress=None):
        self.evaluate_fn, self.every, self.writer, self.progress = evaluate_fn, every, writer, progress
        self.final_fn = getattr(evaluate_fn, "final", evaluate_fn)
        self.last: dict = {}
        self.history: list[dict] = []

    def _run(self, model, step: int, final: bool = False, initial: bool = False):
        bar = self.progress.bar if self.progress is not None else None
        if bar is None:  # step 0: the training bar does not exist yet
            print(f"evaluating at step {step} (held-out pass@k) ...", flush=True)
        else:
            self.progress.status(f"evaluating at step {step}")
        fn = self.final_fn if final else self.evaluate_fn
        self.last = getattr(self.evaluate_fn, "initial", fn)(model) if initial else fn(model)
        if bar is not None:
            self.progress.status(None)
        self.history.append({"step": step, **self.last})
        self.writer.write_eval(step, self.last)
        if self.progress is not None:
            self.progress.latest["pass@1"] = self.last.get("pass@1")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and state.is_world_process_zero:
            self._run(model, 0, final=True, initial=True)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step % self.every == 0 and state.global_step < state.max_steps:
            if state.is_world_process_zero:
                self._run(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and (not self.history or self.history[-1]["step"] != state.global_step):
            self._run(model, state.global_step, final=True)


class Progress(TrainerCallback):
    """One tqdm bar for a training phase (`desc`), showing the latest logged `keys` (and pass@1 after an eval)."""

    def __init__(self, desc: str = "train", keys: tuple = ("reward", "entropy")):
        self.bar = None
        self.desc, self.keys = desc, keys
        self.latest: dict = {}

    def status(self, text: str | None) -> None:
        """Say what the phase is doing besides stepping (e.g. evaluating); None restores the phase name."""
        if self.bar is not None:
            self.bar.set_description(f"{self.desc} ({text})" if text else self.desc)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs:
            return
        for key in self.keys:
            if key in logs:
                self.latest[key] = logs[key]
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in self.latest.items() if isinstance(v, float)}, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


class GracefulStop(TrainerCallback):
    """First Ctrl-C: checkpoint after the current step and stop. Second Ctrl-C: the default (abort)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def install(self):
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def uninstall(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to abort)", flush=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True


class WallClock(TrainerCallback):
    """Seconds of training (the evaluations inside it included) over the whole run, resumes included.

    Each checkpoint gets `rlvr_wall.json` with the seconds spent up to it; a resumed run starts its clock there, so
    `summary.json`'s `train_seconds` is the cost of the kept steps, not of the last call only (a checkpoint written
    before this file existed counts as 0 s).
    """

    FILE = "rlvr_wall.json"

    def __init__(self, checkpoint: str | None = None):
        path = Path(checkpoint) / self.FILE if checkpoint else None
        self.before = json.loads(path.read_text())["train_seconds"] if path and path.is_file() else 0.0
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / self.FILE).write_text(json.dumps({"train_seconds": self.seconds()}))
