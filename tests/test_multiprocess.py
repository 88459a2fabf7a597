"""Two processes through `accelerate launch`: the multi-GPU code path (torchrun + DDP), on CPU with gloo.

`accelerate launch --cpu --num_processes 2` silently starts one process; `--multi_gpu` on a machine without a
GPU starts two CPU processes. The run must finish end to end with one run directory written by rank 0.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

LAUNCH = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
LAUNCH += ["--mixed_precision", "no", "--dynamo_backend", "no"]


def free_port() -> int:
    with socket.socket() as s:  # parallel test runs must not share the rendezvous port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        textwrap.dedent(
            """\
            model: {name: char-0.2m}
            task: {name: addition, train_size: 200}
            exploration: {name: none}
            train: {max_steps: 2, num_generations: 4, per_device_train_batch_size: 8, max_completion_length: 16}
            eval: {num_problems: 4, n_samples: 4, ks: [1, 2, 4]}
            """
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    cmd = [sys.executable, *LAUNCH, "--main_process_port", str(free_port()), "-m", "rlvr", "train", str(recipe)]
    cmd += [f"output_dir={tmp_path / 'run'}", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)


def test_two_processes_run_end_to_end(tmp_path):
    proc = launch(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]  # one row per step: only rank 0 writes
    assert [r["step"] for r in rows if "eval/pass@1" in r] == [0, 2]
    assert (run / "config.yaml").is_file() and (run / "final" / "config.json").is_file()
    assert "find_unused_parameters=True" not in proc.stderr  # ddp_find_unused_parameters=False was applied


def test_split_groups_are_refused(tmp_path):
    # 6 rows per process: 12 in all divide into groups of 4, but a group would straddle the two processes
    proc = launch(tmp_path, "train.per_device_train_batch_size=6")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors and all("must be a multiple of num_generations (4)" in line for line in errors)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_two_processes_with_the_compiled_sampler(tmp_path):
    """compile_sampler under DDP: each process compiles its own decode step and the run finishes as without it."""
    proc = launch(tmp_path, "compile_sampler=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
