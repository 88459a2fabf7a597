"""Write and load the committed eval sets, `data/<task>_eval.jsonl`.

Each built-in task at its DEFAULT difficulty (default config, seed 0) contributes its eval items
0..size-1, one JSON object per line (`prompt`, `answer`, `task`, `metadata` as a dict) with sorted
keys and `\\n` endings, so regenerating gives identical bytes (a test checks the committed files).

    python -m rlvr.tasks.export            # or `rlvr data`; rewrites ./data/*_eval.jsonl
    ds = load_eval_set(default_eval_path("addition"))
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlvr.errors import ConfigError, RLVRError


def write_eval_sets(out_dir: str | Path = "data", size: int = 256) -> list[Path]:
    """Write `<out_dir>/<task>_eval.jsonl` for every built-in task; return the paths written."""
    from rlvr.tasks import TASKS

    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ConfigError(f"eval set size must be a positive int, got {size!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, cls in TASKS.items():
        task = cls()
        lines = []
        for i in range(size):
            item = task.item(i, split="eval")
            row = {"prompt": item["prompt"], "answer": item["answer"], "task": name, "metadata": item["metadata"]}
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=True) + "\n")
        path = out / f"{name}_eval.jsonl"
        with open(path, "w", encoding="utf-8", newline="\n") as fh:  # newline="\n": same bytes on Windows
            fh.writelines(lines)
        paths.append(path)
    return paths


def load_eval_set(path: str | Path):
    """A `datasets.Dataset` with the same schema as `Task.dataset` (metadata as a JSON string)."""
    import datasets

    path = Path(path)
    if not path.is_file():
        raise RLVRError(f"eval set '{path}' does not exist; create it with `rlvr data` or give an existing .jsonl")
    columns = {"prompt": [], "answer": [], "task": [], "metadata": []}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                for key in ("prompt", "answer", "task"):
                    columns[key].append(str(row[key]))
                columns["metadata"].append(json.dumps(row.get("metadata", {}), sort_keys=True))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise RLVRError(f"{path}:{lineno}: not an eval row ({exc}); expected prompt, answer, task") from exc
    return datasets.Dataset.from_dict(columns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write data/<task>_eval.jsonl for every built-in task.")
    parser.add_argument("--out-dir", default="data")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    for path in write_eval_sets(args.out_dir, args.size):
        print(path)


if __name__ == "__main__":
    main()
