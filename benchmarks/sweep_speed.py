"""Sweep throughput: trials/minute on a local Dask cluster of 1 and 2 workers, batched and one by one.

    uv run python benchmarks/sweep_speed.py [--data FILE] [--record]

The grid: the tutorial recipe (100 epochs at batch size 5), 4 learning rates x 2 optimizers = 8 trials,
5 folds x 2 seeds each (80 fits). Batched: the 4 rates x 2 seeds of one optimizer train in one vmapped
call per fold; one by one: every fit alone. Wall time includes starting the cluster.
The survey: the snapshot shipped with salarynet unless --data names a file. Prints a markdown table;
--record also writes it to benchmarks/results/sweep_speed.{md,json}.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from salarynet.apps import sweep
from salarynet.data.source import open_survey
from salarynet.errors import SalarynetError

RESULTS = Path(__file__).parent / "results"
GRID = '[grid]\n"compile.learning_rate" = [0.003, 0.01, 0.03, 0.1]\n"compile.optimizer" = ["adagrad", "adam"]\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="survey file (default: the snapshot shipped with salarynet)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/sweep_speed.{md,json}")
    args = parser.parse_args()
    try:
        survey, provenance = open_survey(args.data)
    except SalarynetError as e:
        sys.exit(f"error: {e}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        grid = Path(tmp) / "grid.toml"
        grid.write_text(GRID)
        the_plan = sweep.plan(
            "tutorial", grid, args.folds, args.seeds, provenance["sha256"], [f"fit.epochs={args.epochs}"]
        )
        for workers, batch in [(1, True), (2, True), (1, False), (2, False)]:
            out = Path(tmp) / f"w{workers}-{batch}"
            outcome = sweep.sweep(survey, the_plan, out, args.folds, args.seeds, workers=workers, batch=batch)
            best = sweep.best(the_plan, outcome.results)
            rows.append(
                {
                    "workers": workers,
                    "batched": batch,
                    "trials": outcome.ran,
                    "fits": outcome.ran * args.folds * args.seeds,
                    "seconds": round(outcome.seconds, 1),
                    "trials_per_minute": round(outcome.ran / outcome.seconds * 60, 2),
                    "best": best["values"],
                    "best_auc": round(best["summary"]["auc"]["mean"], 4),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"# sweep throughput\n\n{machine}; tutorial recipe, {args.epochs} epochs at batch size 5, 8 trials "
        f"(4 learning rates x 2 optimizers) x {args.folds} folds x {args.seeds} seeds; wall time includes "
        "starting the local cluster.\n",
        "| workers | batched | trials | fits | seconds | trials/min | best (AUC) |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['workers']} | {'yes' if r['batched'] else 'one by one'} | {r['trials']} | {r['fits']} | {r['seconds']} | "
        f"{r['trials_per_minute']} | {json.dumps(r['best'])} ({r['best_auc']}) |"
        for r in rows
    ]
    print("\n".join(lines))
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sweep_speed.json").write_text(
            json.dumps(
                {
                    "machine": machine,
                    "grid": GRID,
                    "folds": args.folds,
                    "seeds": args.seeds,
                    "epochs": args.epochs,
                    "runs": rows,
                },
                indent=2,
            )
            + "\n"
        )
        (RESULTS / "sweep_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
