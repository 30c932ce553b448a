"""What a person waits for: whole `salarynet` commands, each a fresh process, timed several times (min and median).

    uv run python benchmarks/wall_time.py [--repeat 5] [--runs DIR] [--record TAG]
    uv run python benchmarks/wall_time.py --readme      # the README's table: results wall_time-before/-after

It trains the two runs it needs (tutorial and recommended) into --runs (default: a temporary folder) unless
they are there already, then times every command --repeat times after one untimed warm-up (which also
writes the bytecode caches). The load average is printed beside the table: run it on a quiet machine.
--record TAG writes the table and the raw times to benchmarks/results/wall_time-TAG.{md,json}. The "before"
record timed the code before issue 16's work: PYTHONPATH=<a checkout of b4dec01>/src, the same environment.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROGRAM = [sys.executable, "-m", "salarynet"]
PERSON = ["--age", "25-34", "--experience", "5-7 years", "--education", "Master's degree", "--gender", "Woman"]


def commands(runs: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """(what a person waits for, arguments, extra environment)."""
    tutorial, recommended = runs / "tutorial", runs / "recommended"
    installed = {"PYTHONDONTWRITEBYTECODE": "1"}  # only the bytecode the install compiled (as in many Docker images)
    nothing = installed | {"PYTHONPYCACHEPREFIX": str(runs / "no-bytecode")}  # an empty cache: no bytecode at all
    return [
        ("predict, one person (tutorial run)", ["predict", str(tutorial), *PERSON], {}),
        ("the same, PYTHONDONTWRITEBYTECODE=1 (bytecode as installed)", ["predict", str(tutorial), *PERSON], installed),
        ("the same, PYTHONDONTWRITEBYTECODE=1 and no bytecode at all", ["predict", str(tutorial), *PERSON], nothing),
        ("predict, one person (recommended run)", ["predict", str(recommended), *PERSON, "--title", "Data Scientist",
                                                   "--country", "USA", "--state", "California"], {}),
        ("a user error: train --data /no/such.csv", ["train", "--data", "/no/such.csv"], {}),
        ("train (tutorial, whole command)", ["train", "--out", str(runs / "tutorial-timed"), "--overwrite"], {}),
        ("report (recommended run)", ["report", str(recommended)], {}),
    ]


BASE = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(PROGRAM + args, env=BASE | env, capture_output=True, text=True)
    return time.perf_counter() - started, proc.returncode


def ensure_runs(runs: Path) -> None:
    for name, extra in (("tutorial", []), ("recommended", ["--recipe", "recommended"])):
        if not (runs / name / "model.json").is_file():
            print(f"training {runs / name} ...", file=sys.stderr, flush=True)
            subprocess.run(PROGRAM + ["train", "--out", str(runs / name), *extra], env=BASE, check=True,
                           capture_output=True)


def fit_rate(runs: Path) -> dict[str, float]:
    """The recommended recipe's fit in training rows per second (rows x epochs run / the fit's seconds)."""
    record = json.loads((runs / "recommended" / "metrics.json").read_text())
    rows, epochs, seconds = record["rows"]["fit"], record["epochs_run"], record["fit_seconds"]
    return {"rows": rows, "epochs": epochs, "fit_seconds": seconds, "rows_per_second": rows * epochs / seconds}


def readme_table(before: dict, after: dict) -> str:
    """Whole commands before and after, min and median (tests/test_readme.py holds the README to the records)."""
    lines = ["| what a person waits for | before: min / median s | after: min / median s |", "|---|---:|---:|"]
    old = {r["command"]: r for r in before["commands"]}
    for r in after["commands"]:
        b = old.get(r["command"])
        shown = f"{b['min']:.2f} / {b['median']:.2f}" if b else "-"
        lines.append(f"| {r['command']} | {shown} | {r['min']:.2f} / {r['median']:.2f} |")
    rate = [x["recommended_fit"]["rows_per_second"] for x in (before, after)]
    lines.append(f"| recommended recipe's fit, training rows/s | {rate[0]:,.0f} | {rate[1]:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=Path, help="a folder for the runs it trains (kept between calls)")
    parser.add_argument("--record", metavar="TAG", help="write benchmarks/results/wall_time-TAG.md/.json")
    parser.add_argument("--readme", action="store_true", help="print the README's table from the two records")
    args = parser.parse_args()
    if args.readme:
        before, after = (json.loads((RESULTS / f"wall_time-{tag}.json").read_text()) for tag in ("before", "after"))
        return print(readme_table(before, after))
    with tempfile.TemporaryDirectory() as scratch:
        runs = args.runs or Path(scratch)
        ensure_runs(runs)
        rows = []
        for label, argv, env in commands(runs):
            timed(argv, env)  # warm-up: bytecode, the compile cache, the page cache
            seconds, codes = zip(*(timed(argv, env) for _ in range(args.repeat)))
            rows.append({"command": label, "argv": argv, "env": env, "seconds": list(seconds),
                         "min": min(seconds), "median": statistics.median(seconds), "exit_codes": sorted(set(codes))})
            print(f"  {label}: min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s",
                  file=sys.stderr, flush=True)
        rate = fit_rate(runs)
    load = os.getloadavg()
    lines = [f"# Whole commands ({datetime.now(timezone.utc).isoformat(timespec='seconds')}, {os.cpu_count()} CPUs, "
             f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()})", "",
             f"Each command {args.repeat} times after one warm-up, a fresh process each (`python -m salarynet ...`).", "",
             "| what a person waits for | min s | median s | exit |", "|---|---:|---:|---:|"]
    lines += [f"| {r['command']} | {r['min']:.2f} | {r['median']:.2f} | {','.join(map(str, r['exit_codes']))} |"
              for r in rows]
    lines += ["", f"Recommended recipe's fit: {rate['rows']:,} rows x {rate['epochs']} epochs in "
              f"{rate['fit_seconds']:.2f} s = {rate['rows_per_second']:,.0f} training rows/s"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"wall_time-{args.record}.md").write_text(text)
        (RESULTS / f"wall_time-{args.record}.json").write_text(json.dumps(
            {"load_average": load, "cpus": os.cpu_count(), "repeat": args.repeat, "commands": rows,
             "recommended_fit": rate}, indent=1) + "\n")


if __name__ == "__main__":
    main()
