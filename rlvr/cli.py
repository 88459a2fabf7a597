"""The `rlvr` command line.

    rlvr list                                   tasks, rewards, exploration modules, models, recipes
    rlvr show RECIPE [key=value ...]            the resolved recipe as YAML
    rlvr data [--out data]                      (re)write the fixed held-out sets
    rlvr sft RECIPE [key=value ...]             build a warm-start checkpoint (cached)
    rlvr train RECIPE [key=value ...]           GRPO training with the recipe's exploration module
    rlvr eval MODEL_OR_RUN [key=value ...]      pass@k etc. on the task's held-out set (a table; --json, --out F)
    rlvr plot RUN [RUN ...] [--out DIR]         a run's curves (pass@1, pass@k, reward, entropy, zero-variance)
    rlvr compare RECIPE [RECIPE ...] --seeds 3 --out DIR [--jobs N] [--set key=value ...] [--add-seeds]
    rlvr compare COMPARISON.yaml                every recipe x seed, then results.csv/.md and figures
    rlvr compare COMPARISON.yaml --only grpo    train only some labels (a testbed's baseline first, say)
    rlvr compare --report-only --out DIR        re-make the tables and figures from finished runs
    rlvr compare COMPARISON.yaml --report-only  the same for a comparison recipe's `out:`, in its order
    rlvr compare COMPARISON.yaml --shard 2/3    this machine's third of the runs (copy OUT/records/ together after)

Imports are lazy so `--help` and `list` stay fast. User errors print one line (`--debug` for a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rlvr.errors import RLVRError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _recipes() -> list[Path]:
    seen = {}
    for root in (Path.cwd() / "recipes", REPO_ROOT / "recipes"):
        for p in sorted(root.glob("*.yaml")):
            seen.setdefault(p.name, p)
    return list(seen.values())


def cmd_list(args) -> None:
    from rlvr.exploration import DESCRIPTIONS, EXPLORERS
    from rlvr.models.sizes import MODEL_SIZES
    from rlvr.rewards import REWARDS
    from rlvr.tasks import ADAPTERS, TASKS

    def first_line(obj):
        return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""

    print("tasks:")
    for name, cls in {**TASKS, **ADAPTERS}.items():  # a task module's docstring opens with what the task is
        print(f"  {name:16s} {first_line(sys.modules[cls.__module__]) or first_line(cls)}")
    print("rewards:")
    for name, fn in REWARDS.items():
        print(f"  {name:16s} {first_line(fn)}")
    print("exploration modules:")
    for name in EXPLORERS:
        print(f"  {name:16s} {DESCRIPTIONS.get(name, '')}")
    print("models:")
    for name, size in MODEL_SIZES.items():
        print(f"  {name:16s} {size}")
    print("recipes:")
    for p in _recipes():
        rel = os.path.relpath(p)
        print(f"  {rel}")


def cmd_show(args) -> None:
    from rlvr.config import dump_yaml
    from rlvr.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    if not getattr(args, "effective", False):
        print(dump_yaml(recipe), end="")
        return
    from rlvr.exploration.stack import as_stack
    from rlvr.train import default_output_dir, effective_config_yaml, grpo_args

    explorer = as_stack(recipe.exploration.build())
    args_ = grpo_args(recipe, explorer, recipe.output_dir or default_output_dir(recipe))
    print(effective_config_yaml(recipe, explorer, args_), end="")


def cmd_data(args) -> None:
    from rlvr.tasks.export import write_eval_sets

    for path in write_eval_sets(args.out, size=args.size):
        print(f"wrote {path}")


def cmd_sft(args) -> None:
    from rlvr.recipe import load_recipe
    from rlvr.sft import run_sft

    path = run_sft(load_recipe(args.recipe, args.overrides, kind="sft"), force=args.force)
    print(f"warm-start checkpoint: {path}")


def cmd_train(args) -> None:
    from rlvr.recipe import load_recipe
    from rlvr.train import run_train

    run_train(load_recipe(args.recipe, args.overrides, kind="train"))


def cmd_eval(args) -> None:
    from rlvr.train import run_eval

    run_eval(args.target, args.overrides, out=args.out, as_json=args.json)


def cmd_plot(args) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RLVRError("rlvr plot needs matplotlib: pip install -c constraints-cpu.txt -e '.[plots]'") from None
    from rlvr.plot import plot_runs

    for path in plot_runs(args.runs, args.out):
        print(f"wrote {path}")


def cmd_compare(args) -> None:
    from rlvr.compare import Comparison, Entry, parse_shard, read_comparison, run_comparison, select_entries
    from rlvr.errors import ConfigError
    from rlvr.report import write_report

    if args.report_only:  # with a comparison recipe: its `out:` and its label order
        comp = read_comparison(args.recipes[0]) if len(args.recipes) == 1 else None
        out = args.out or (comp.out if comp else None)
        if not out:
            raise ConfigError("--report-only needs --out DIR or a comparison recipe (a YAML file with `out:`)")
        for path in write_report(out, labels=[e.label for e in comp.entries] if comp else None):
            print(f"wrote {path}")
        return
    if not args.recipes:
        raise ConfigError("give training recipes or one comparison recipe (a YAML file with `recipes:`)")
    comp = read_comparison(args.recipes[0]) if len(args.recipes) == 1 else None
    if comp is None:
        comp = Comparison([Entry(r, Path(r).stem) for r in args.recipes], list(range(args.seeds or 1)))
    elif args.seeds:  # on the command line, --seeds N wins over the file's seeds
        comp.seeds = list(range(args.seeds))
    comp.overrides += args.set
    comp.jobs = args.jobs or comp.jobs
    if args.only:
        comp.entries = select_entries(comp.entries, args.only)
    out = args.out or comp.out
    if not out:
        raise ConfigError("where should the comparison go? pass --out DIR (or `out:` in a comparison recipe)")
    shard = parse_shard(args.shard) if args.shard else None
    failed = run_comparison(comp, out, add_seeds=args.add_seeds, shard=shard)
    print(f"results in {out}/results.md")
    if failed:
        raise RLVRError(f"{len(failed)} run(s) failed: {', '.join(failed)} (see the FAILED lines above)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rlvr", description="Which exploration technique helps GRPO, and why?")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list tasks, rewards, exploration modules, models and recipes").set_defaults(
        func=cmd_list
    )
    for name, func, helptext in (
        ("show", cmd_show, "print the resolved recipe as YAML"),
        ("sft", cmd_sft, "build (or reuse) a warm-start checkpoint"),
        ("train", cmd_train, "GRPO training with exploration"),
    ):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("recipe", help="recipe YAML file")
        sp.add_argument("overrides", nargs="*", help="dotted key=value overrides (values parsed as YAML)")
        sp.set_defaults(func=func)
        if name == "sft":
            sp.add_argument("--force", action="store_true", help="rebuild even if the cached checkpoint exists")
        if name == "show":
            sp.add_argument(
                "--effective", action="store_true", help="print the effective trl.GRPOConfig (grpo_config.yaml)"
            )
    sp = sub.add_parser("eval", help="pass@k, entropy and diversity on the held-out set")
    sp.add_argument("target", help="a run directory, a model directory or a built-in model name")
    sp.add_argument("overrides", nargs="*", help="key=value overrides (eval.*, task.*, ...)")
    sp.add_argument("--out", default=None, help="write the metrics as JSON here")
    sp.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    sp.set_defaults(func=cmd_eval)
    sp = sub.add_parser("plot", help="pass@1, pass@k, reward, entropy and zero-variance curves of runs")
    sp.add_argument("runs", nargs="+", help="run directories (several: one line each on shared axes)")
    sp.add_argument("--out", default=None, help="where the .png files go (default: RUN/plots of the first run)")
    sp.set_defaults(func=cmd_plot)
    sp = sub.add_parser("compare", help="train several recipes x seeds, then tables and figures")
    sp.add_argument("recipes", nargs="*", help="training recipes, or one comparison recipe (YAML with `recipes:`)")
    sp.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 1, or the comparison recipe's)")
    sp.add_argument("--out", default=None, help="output directory (runs/, results.csv, results.md, *.png)")
    sp.add_argument("--jobs", type=int, default=None, help="runs trained at once, as subprocesses (default 1)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    sp.add_argument("--report-only", action="store_true", help="only re-make the tables and figures from --out")
    sp.add_argument(
        "--add-seeds", action="store_true", help="merge seeds that were not in the seed list when the first run started"
    )
    sp.add_argument(
        "--only", default=None, metavar="LABELS", help="train only these comma-separated labels (the report keeps all)"
    )
    sp.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="train only runs K, K+N, ... of the (label, seed) list: split a comparison over N machines",
    )
    sp.set_defaults(func=cmd_compare)
    sp = sub.add_parser("data", help="write the fixed held-out evaluation sets (JSON lines)")
    sp.add_argument("--out", default=str(REPO_ROOT / "data"))
    sp.add_argument("--size", type=int, default=256)
    sp.set_defaults(func=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops collecting positional overrides at the first option: `rlvr eval RUN --out f.json k=v` leaves
    # `k=v` over; take such leftovers as overrides, anything else is an error as usual.
    if extra and hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command not in ("list", "data"):  # these stay light: no transformers import
        from rlvr.console import quiet_console

        quiet_console()
    try:
        args.func(args)
    except RLVRError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rlvr list | head`: the reader left; say nothing more (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
