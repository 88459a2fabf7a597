"""What a finished run tells its user: the closing table on the console, the run's README.md, `rlvr eval`'s table.

    metric           start -> end
    pass@1           0.490 -> 0.794
    ...

`write_run_card` replaces the model card TRL writes into the run directory ("a fine-tuned version of [None]")
with rlvr's own: the recipe and exploration stack, the warm start, before/after metrics, the command that
reproduces the run and how to load the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.config import dump_yaml, to_dict


def headline_metrics(metrics: dict) -> list[str]:
    """pass@1, the largest pass@k, greedy accuracy and entropy, in that order, where present."""
    ks = sorted(int(k[5:]) for k in metrics if k.startswith("pass@") and k[5:].isdigit())
    keys = [f"pass@{k}" for k in dict.fromkeys([1, ks[-1]] if ks else [])]
    return [k for k in [*keys, "greedy_accuracy", "entropy"] if k in metrics]


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def before_after_rows(summary: dict) -> list[tuple[str, str, str]]:
    start, end = summary.get("initial_eval") or {}, summary.get("final_eval") or {}
    return [(k, _fmt(start.get(k)), _fmt(end.get(k))) for k in headline_metrics(end or start)]


def sampled_tokens_per_rollout(out: Path) -> float | None:
    path = Path(out) / "metrics.jsonl"
    if not path.is_file():
        return None
    values = [r["sampled_tokens"] for r in map(json.loads, path.read_text().splitlines()) if "sampled_tokens" in r]
    return sum(values) / len(values) if values else None


def reproduce_command(recipe, drop: tuple = ()) -> str:
    drop = ("resume=", "overwrite=", *drop)
    overrides = [o for o in getattr(recipe, "overrides", []) if not o.startswith(drop)]
    return " ".join(["rlvr train", str(getattr(recipe, "source", "RECIPE")), *overrides])


def closing_table(summary: dict, out: Path, recipe) -> str:
    rows = before_after_rows(summary)
    width = max([len(r[0]) for r in rows] + [16])
    lines = [f"{'held-out':{width}s}  start -> end"]
    lines += [f"{name:{width}s}  {a:>5s} -> {b}" for name, a, b in rows]
    tokens = sampled_tokens_per_rollout(out)
    resume = reproduce_command(recipe, ("train.max_steps=",))
    lines += [
        f"{'steps':{width}s}  {summary.get('steps')} in {summary.get('train_seconds', 0):.1f} s of training",
        f"{'sampled tokens':{width}s}  {_fmt(tokens if tokens is None else round(tokens))} per rollout batch",
        f"{'run directory':{width}s}  {out}  (README.md, metrics.jsonl, samples.jsonl, final/)",
        f"{'evaluate':{width}s}  rlvr eval {out}",
        f"{'plot':{width}s}  rlvr plot {out}",
        f"{'resume / extend':{width}s}  {resume} resume=true train.max_steps=N",
    ]
    return "\n".join(lines)


def metrics_table(metrics: dict) -> str:
    """`rlvr eval`'s readable table: the headline metrics first, then the rest, one per line."""
    first = headline_metrics(metrics)
    rest = [k for k in metrics if k not in first and k != "model"]
    width = max(len(k) for k in [*first, *rest, "model"])
    lines = [f"{'model':{width}s}  {metrics.get('model', '-')}"]
    return "\n".join(lines + [f"{k:{width}s}  {_fmt(metrics[k])}" for k in [*first, *rest]])


def _markdown_table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| held-out metric | start | end |", "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def card_text(recipe, summary: dict, source: str, out: Path) -> str:
    exploration = dump_yaml({"exploration": to_dict(recipe.exploration)}).rstrip()
    warm = f"`{recipe.model.warm_start}` (checkpoint `{source}`)" if recipe.model.warm_start else "none"
    return f"""# rlvr run: {Path(out).name}

GRPO (rlvr, TRL `GRPOTrainer`) on task `{recipe.task.name}`, model `{recipe.model.name}`, seed {recipe.seed}:
{summary.get("steps")} steps in {summary.get("train_seconds", 0):.0f} s of training.

- recipe: `{getattr(recipe, "source", None)}`, resolved in `config.yaml` (TRL settings in `grpo_config.yaml`)
- warm start: {warm}
- exploration:

```yaml
{exploration}
```

## Held-out evaluation

{_markdown_table(before_after_rows(summary))}

Every evaluation is in `metrics.jsonl` (`eval/*` rows), a few completions with their scores in `samples.jsonl`.

## Reproduce, evaluate, plot

```bash
{reproduce_command(recipe)}
rlvr eval {out}
rlvr plot {out}
```

## Load the model

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{out}/final")
tokenizer = AutoTokenizer.from_pretrained("{out}/final")  # prompts as in training: the task's prompt, e.g. 457+68=
```
"""


def write_run_card(out: Path, recipe, summary: dict, source: str) -> Path:
    path = Path(out) / "README.md"
    path.write_text(card_text(recipe, summary, source, out))
    return path
