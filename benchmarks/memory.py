"""Peak resident memory (RSS) of a short `rlvr train` run per recipe, each in its own process.

    OMP_NUM_THREADS=1 python benchmarks/memory.py [RECIPE ...] [--steps 5] [--keep-warm-start]

Runs `python -m rlvr train RECIPE train.max_steps=5 eval.num_problems=8 output_dir=<tmp> overwrite=true` per recipe
(default: every training recipe in recipes/ that needs no download) and reads the child's own peak RSS from
`os.wait4` (ru_maxrss, KiB on Linux). By default `model.warm_start=null`: the run starts from a random model of the
same size instead of building the SFT warm start, which has the same parameters but takes minutes to train.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_info, write_results

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"sft_addition.yaml", "compare_default.yaml", "gpu_qwen05b.yaml"}  # SFT, comparison and hub-model recipes


def peak_rss_mb(cmd: list[str], env: dict, log: Path) -> tuple[float, int, float]:
    """(peak RSS in MB, exit code, seconds) of one child process."""
    t0 = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's maximum
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipes", nargs="*")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--keep-warm-start", action="store_true", help="build/reuse the recipes' SFT warm start")
    ap.add_argument("--out")
    args = ap.parse_args()
    recipes = args.recipes or [str(p) for p in sorted((ROOT / "recipes").glob("*.yaml")) if p.name not in SKIP]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    info = machine_info(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in recipes:
            name = Path(recipe).stem
            cmd = [sys.executable, "-m", "rlvr", "train", recipe, f"train.max_steps={args.steps}"]
            cmd += ["eval.num_problems=8", f"output_dir={tmp}/{name}", "overwrite=true", "threads=1"]
            cmd += [] if args.keep_warm_start else ["model.warm_start=null"]
            mb, rc, secs = peak_rss_mb(cmd, env, Path(tmp) / f"{name}.log")
            if rc:
                print(
                    f"{name}: exit {rc}; last lines:\n"
                    + "\n".join((Path(tmp) / f"{name}.log").read_text().splitlines()[-5:])
                )
            rows.append({"recipe": name, "peak_rss_mb": round(mb, 1), "exit_code": rc, "seconds": round(secs, 1)})
            print(f"{name:16s} {mb:8.1f} MB  ({secs:.0f} s{'' if rc == 0 else f', FAILED exit {rc}'})")
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("memory", {"machine": info, "args": vars(args), "results": rows}, args.out)


if __name__ == "__main__":
    main()
