"""What a person waits for: whole `salarynet` commands, each a fresh process, timed several times (min and median).

    uv run python benchmarks/wall_time.py [--repeat 5] [--before SRC] [--runs DIR] [--record]   # uv run vs bare
    uv run python benchmarks/wall_time.py --readme      # the table of docs/benchmarks.md, from the recorded results

Each version of the code trains the two runs it needs (tutorial and recommended) into --runs (default: a
temporary folder) unless they are there already, then every command runs --repeat times after one untimed
warm-up (which also writes the bytecode caches). --before SRC times another checkout's code as well
(PYTHONPATH=SRC, the same environment), alternating the two run by run so that a machine's drift (a shared
2-core machine's speed moves by a third within minutes) falls on both alike. The load average is printed
beside the table. --record writes it with the raw times to benchmarks/results/wall_time.{md,json}.
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROGRAM = [sys.executable, "-m", "salarynet"]  # --before: both checkouts through the same interpreter
# What the docs type, and the entry point uv installed (no uv in between): the default comparison.
UV_RUN = ["uv", "run", "--locked", "salarynet"]
BARE = [str(Path(sys.executable).parent / "salarynet")]
PERSON = ["--age", "25-34", "--experience", "5-7 years", "--education", "Master's degree", "--gender", "Woman"]
BASE = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
}


def commands(runs: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """(what a person waits for, arguments, extra environment)."""
    tutorial, recommended = runs / "tutorial", runs / "recommended"
    installed = {"PYTHONDONTWRITEBYTECODE": "1"}  # only the bytecode the install compiled (as in many Docker images)
    nothing = installed | {"PYTHONPYCACHEPREFIX": str(runs / "no-bytecode")}  # an empty cache: no bytecode at all
    return [
        ("--version", ["--version"], {}),
        ("predict, one person (tutorial run)", ["predict", str(tutorial), *PERSON], {}),
        ("the same, PYTHONDONTWRITEBYTECODE=1 (bytecode as installed)", ["predict", str(tutorial), *PERSON], installed),
        ("the same, PYTHONDONTWRITEBYTECODE=1 and no bytecode at all", ["predict", str(tutorial), *PERSON], nothing),
        (
            "predict, one person (recommended run)",
            [
                "predict",
                str(recommended),
                *PERSON,
                "--title",
                "Data Scientist",
                "--country",
                "USA",
                "--state",
                "California",
            ],
            {},
        ),
        ("a user error: train --data /no/such.csv", ["train", "--data", "/no/such.csv"], {}),
        ("train (tutorial, whole command)", ["train", "--out", str(runs / "tutorial-timed"), "--overwrite"], {}),
        ("report (recommended run)", ["report", str(recommended)], {}),
    ]


def timed(args: list[str], env: dict[str, str], program: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(program + args, env=BASE | env, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - started, proc.returncode


def ensure_runs(runs: Path, env: dict[str, str]) -> None:
    for name, extra in (("tutorial", []), ("recommended", ["--recipe", "recommended"])):
        if not (runs / name / "model.json").is_file():
            print(f"training {runs / name} ...", file=sys.stderr, flush=True)
            subprocess.run(
                PROGRAM + ["train", "--out", str(runs / name), *extra], env=BASE | env, check=True, capture_output=True
            )


def fit_rate(runs: Path) -> dict[str, float]:
    """The recommended recipe's fit in training rows per second (rows x epochs run / the fit's seconds)."""
    record = json.loads((runs / "recommended" / "metrics.json").read_text())
    rows, epochs, seconds = record["rows"]["fit"], record["epochs_run"], record["fit_seconds"]
    return {"rows": rows, "epochs": epochs, "fit_seconds": seconds, "rows_per_second": rows * epochs / seconds}


def measure(versions: dict[str, tuple[Path, dict[str, str], list[str]]], repeat: int) -> dict[str, list[dict]]:
    """{version: [a row per command]}: each command's runs alternate between the versions."""
    found: dict[str, list[dict]] = {name: [] for name in versions}
    plans = {name: commands(runs) for name, (runs, _, _) in versions.items()}
    for i, (label, _, _) in enumerate(next(iter(plans.values()))):
        times: dict[str, list[tuple[float, int]]] = {name: [] for name in versions}
        for name, (_, env, program) in versions.items():  # warm-up: bytecode, the compile cache, the page cache
            timed(plans[name][i][1], env | plans[name][i][2], program)
        for _ in range(repeat):
            for name, (_, env, program) in versions.items():
                times[name].append(timed(plans[name][i][1], env | plans[name][i][2], program))
        for name, pairs in times.items():
            seconds, codes = zip(*pairs)
            found[name].append(
                {
                    "command": label,
                    "argv": plans[name][i][1],
                    "seconds": list(seconds),
                    "min": min(seconds),
                    "median": statistics.median(seconds),
                    "exit_codes": sorted(set(codes)),
                }
            )
            print(
                f"  {name}: {label}: min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s",
                file=sys.stderr,
                flush=True,
            )
    return found


def table(report: dict) -> str:
    """Whole commands, min / median per version (tests/test_docs.py holds docs/benchmarks.md to the record)."""
    names = list(report["versions"])
    lines = [
        "| what a person waits for | " + " | ".join(f"{n}: min / median s" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    rows = zip(*(report["versions"][n]["commands"] for n in names))
    lines += [
        f"| {row[0]['command']} | " + " | ".join(f"{r['min']:.2f} / {r['median']:.2f}" for r in row) + " |"
        for row in rows
    ]
    lines.append(
        "| recommended recipe's fit, training rows/s | "
        + " | ".join(f"{report['versions'][n]['recommended_fit']['rows_per_second']:,.0f}" for n in names)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout's src/ folder, timed alternately")
    parser.add_argument("--runs", type=Path, help="a folder for the runs each version trains (kept between calls)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/wall_time.md/.json")
    parser.add_argument(
        "--readme", action="store_true", help="print the table of docs/benchmarks.md from the recorded results"
    )
    args = parser.parse_args()
    if args.readme:
        return print(table(json.loads((RESULTS / "wall_time.json").read_text())))
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.runs or Path(scratch)
        versions = {
            "uv run salarynet": (folder / "after", {}, UV_RUN),
            "salarynet (bare)": (folder / "after", {}, BARE),
        }
        if args.before:
            versions = {
                "before": (folder / "before", {"PYTHONPATH": str(args.before.resolve())}, PROGRAM),
                "after": (folder / "after", {}, PROGRAM),
            }
        for runs, env, _ in versions.values():
            ensure_runs(runs, env)
        found = measure(versions, args.repeat)
        load = os.getloadavg()
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": load,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "repeat": args.repeat,
            "before_src": str(args.before) if args.before else None,
            "versions": {
                name: {"commands": found[name], "recommended_fit": fit_rate(runs)}
                for name, (runs, _, _) in versions.items()
            },
        }
    text = (
        "\n".join(
            [
                f"# Whole commands ({report['when']}, {report['cpus']} CPUs, load average {load[0]:.2f} "
                f"{load[1]:.2f} {load[2]:.2f}, Python {report['python']})",
                "",
                f"Each command {args.repeat} times per version after one warm-up, a fresh process each, the "
                "versions alternating: "
                + ", ".join(
                    f"{n} = `{' '.join(Path(a).name if a.startswith('/') else a for a in v[2])} ...`"
                    for n, v in versions.items()
                )
                + ".",
                "",
                table(report),
            ]
        )
        + "\n"
    )
    print(text)
    if args.record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "wall_time.md").write_text(text)
        (RESULTS / "wall_time.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
