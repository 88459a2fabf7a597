"""The claims table of docs/results.md from the committed comparisons (records) and docs/claims.yaml.

    python docs/scripts/claims_table.py easy=results/easy rare=results/rare collapse=results/collapse

One row per technique and testbed: the paper's claim, paired Δ pass@1 and Δ pass@kmax to the testbed's `grpo` with
the Holm-level interval (bold: survives Holm over that testbed's comparisons of that metric), the verdict and its
reason (rlvr/claims.py). Testbeds whose directory has no finished runs are skipped with a note.
"""

import argparse
from pathlib import Path

import yaml

from rlvr.claims import check_claims, claims_rows
from rlvr.report import ks_of, load_runs, rows

HEADER = "| technique | paper's claim | testbed | Δ pass@1 [Holm CI] | Δ pass@k [Holm CI] | verdict | reason |"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("testbeds", nargs="+", help="name=comparison directory")
    p.add_argument("--claims", type=Path, default=Path(__file__).resolve().parents[1] / "claims.yaml")
    p.add_argument("--base", default="grpo")
    args = p.parse_args()
    claims = yaml.safe_load(args.claims.read_text())
    check_claims(claims)
    lines = [HEADER, "|---" * 7 + "|"]
    for spec in args.testbeds:
        name, _, path = spec.partition("=")
        runs = load_runs(Path(path))
        if not runs:
            print(f"(no finished runs under {path}: testbed {name} skipped)")
            continue
        kmax = max(ks_of(runs))
        for cells in claims_rows(rows(runs), name, args.base, claims, kmax):
            lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
