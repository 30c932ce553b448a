"""A recipe in k-fold cross-validation, each fold's rows trained on exactly as `salarynet train` trains the saved
model on a file (its own test split, validation split, early stopping and, with fit.refit, the refit on all of
the fold's rows), on the
folds `salarynet compare` and benchmarks/peers.py use. Out-of-fold probabilities make paired comparisons.

    uv run python benchmarks/cv.py --recipe recommended                        # 5 folds, a table
    uv run python benchmarks/cv.py --recipe recommended --set fit.refit=false  # without the refit
    uv run python benchmarks/cv.py --recipe recommended --record               # + benchmarks/results/cv-recommended.json
    uv run python benchmarks/cv.py --paired cv-recommended.json peers-autogluon.json   # from benchmarks/oof/

--paired prints the mean difference (first minus second) of accuracy, ROC AUC and log loss over the same
rows, with a 95% paired-bootstrap interval (2,000 resamples of the rows).
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"  # summaries, committed
OOF = Path(__file__).parent / "oof"  # per-row out-of-fold outputs (--record), ignored by git: regenerate when needed


def cross_validate(recipe_name: str, overrides: list[str], folds: int, only: int | None) -> dict:
    from salarynet import evaluation
    from salarynet.data.source import open_survey, use_compile_cache
    from salarynet.recipe import load_recipe
    from salarynet.rows import select_rows
    from salarynet.tasks import task_of

    use_compile_cache()
    recipe = load_recipe(recipe_name, overrides)
    survey, provenance = open_survey(None)
    sel = select_rows(survey, recipe)
    task = task_of(recipe.features)
    headline = list(
        task.fold_metrics(np.full((2, task.output_width()), 0.5), np.zeros(2, sel.labels.dtype), np.ones(2), 0)
    )

    def on_fold(fold: int, runs: list[dict]) -> None:
        print(
            f"fold {fold}/{folds}: "
            + ", ".join(f"{n} {runs[0][n]:.4f}" for n in headline if isinstance(runs[0][n], float)),
            file=sys.stderr,
            flush=True,
        )

    cv = evaluation.cross_validate(recipe, sel, folds, only=None if only is None else [only], on_fold=on_fold)
    per_fold = [{n: r[n] for n in headline} | {"seconds": r["seconds"], "epochs": r["epochs"]} for r in cv.runs[0]]
    return {
        "recipe": recipe.name,
        "overrides": overrides,
        "folds": folds,
        "task": task.name,
        "per_fold": per_fold,
        "labels": (np.round(sel.labels.astype(float), 5) if sel.labels.dtype.kind == "f" else sel.labels).tolist(),
        "oof": np.round(cv.oof[0], 5).tolist(),
        "data_sha256": provenance.get("sha256"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }


def table(result: dict) -> str:
    names = [n for n, v in result["per_fold"][0].items() if isinstance(v, (int, float))]
    lines = ["| " + " | ".join(["fold", *names]) + " |", "|---|" + "---:|" * len(names)]
    for k, m in enumerate(result["per_fold"], 1):
        lines.append(
            f"| {k} | " + " | ".join(f"{m[n]:.4f}" if isinstance(m[n], float) else str(m[n]) for n in names) + " |"
        )
    values = {n: np.array([m[n] for m in result["per_fold"]], float) for n in names}
    lines.append(
        "| mean ± sd | "
        + " | ".join(f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f}" for v in values.values())
        + " |"
    )
    return "\n".join(lines)


def _binary_metrics(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(accuracy, ROC AUC, log loss) of P(class 1) p: float[rows]."""
    from salarynet.nn.metrics import mann_whitney_auc

    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.array(
        [
            np.mean((p > 0.5) == labels),
            mann_whitney_auc(labels, p),
            -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)),
        ]
    )


def _oof(result: dict, rows: int) -> np.ndarray:
    """P(class 1) per row: a cv result's "oof", or benchmarks/peers.py's per-fold test rows and probabilities."""
    if "oof" in result:
        return np.asarray(result["oof"], float)[:, 1]
    out = np.full(rows, np.nan)
    for fold in result["folds_run"]:
        out[fold["test_rows"]] = np.asarray(fold["probabilities"], float)[:, 1]
    return out


def paired(first: dict, second: dict, resamples: int = 2000, seed: int = 0) -> str:
    """first: a cv result (its labels are the rows'); second: a cv result or a peers.py result on the same folds."""
    labels = np.asarray(first["labels"])
    if "labels" in second and labels.tolist() != list(second["labels"]):
        raise SystemExit("the two results are not on the same rows (labels differ)")
    a, b = (_oof(r, len(labels)) for r in (first, second))
    ok = np.isfinite(a) & np.isfinite(b)
    labels, a, b = labels[ok], a[ok], b[ok]
    diff = _binary_metrics(labels, a) - _binary_metrics(labels, b)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            _binary_metrics(labels[i], a[i]) - _binary_metrics(labels[i], b[i])
            for i in (rng.integers(0, len(labels), len(labels)) for _ in range(resamples))
        ]
    )
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    lines = [
        f"{len(labels):,} rows; first minus second, 95% paired-bootstrap interval ({resamples} resamples):",
        "| metric | difference | 95% interval |",
        "|---|---:|---|",
    ]
    lines += [
        f"| {n} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |"
        for n, d, lo, hi in zip(("accuracy", "ROC AUC", "log loss"), diff, low, high)
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recommended")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None, help="Run this fold alone (1-based): a quick look.")
    parser.add_argument("--record", action="store_true", help="Write benchmarks/results/cv-<recipe>.json.")
    parser.add_argument("--name", default=None, help="The results file's name (default: cv-<recipe>).")
    parser.add_argument("--paired", nargs=2, type=Path, metavar=("FIRST.json", "SECOND.json"))
    args = parser.parse_args()
    if args.paired:
        first, second = (
            json.loads((p if p.is_absolute() or p.exists() else OOF / p.name).read_text()) for p in args.paired
        )
        print(paired(first, second))
        return
    result = cross_validate(args.recipe, args.overrides, args.folds, args.only_fold)
    print(table(result))
    if args.record:
        name = f"{args.name or 'cv-' + args.recipe}.json"
        summary, rows = RESULTS / name, OOF / name
        for path in (summary, rows):
            if path.exists() and "per_fold" not in json.loads(path.read_text()):
                raise SystemExit(f"{path}: exists and is not a cv result; choose another --name")
        RESULTS.mkdir(exist_ok=True)
        OOF.mkdir(exist_ok=True)
        rows.write_text(json.dumps(result) + "\n")
        short = {k: v for k, v in result.items() if k not in ("labels", "oof")} | {"table": table(result)}
        summary.write_text(json.dumps(short, indent=1) + "\n")
        print(f"wrote {summary} (and the out-of-fold outputs to {rows})", file=sys.stderr)


if __name__ == "__main__":
    main()
