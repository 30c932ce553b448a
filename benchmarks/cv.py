"""A recipe in k-fold cross-validation, each fold's rows trained on exactly as `salarynet train` trains the saved
model on a file (its own test split, validation split, early stopping and, with fit.refit, the refit on all of
the fold's rows), on the
folds `salarynet compare` and benchmarks/peers.py use. Out-of-fold probabilities make paired comparisons.

    uv run python benchmarks/cv.py --recipe recommended                        # 5 folds, a table
    uv run python benchmarks/cv.py --recipe recommended --set fit.refit=false  # without the refit
    uv run python benchmarks/cv.py --recipe recommended --record               # + benchmarks/results/cv-recommended.json
    uv run python benchmarks/cv.py --paired results/cv-recommended.json results/peers-autogluon.json

--paired prints the mean difference (first minus second) of accuracy, ROC AUC and log loss over the same
rows, with a 95% paired-bootstrap interval (2,000 resamples of the rows).
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def cross_validate(recipe_name: str, overrides: list[str], folds: int, only: int | None) -> dict:
    from salarynet.apps.compare import _subset, fold_indices
    from salarynet.data.source import open_survey, use_compile_cache
    from salarynet.estimator import SalaryNet
    from salarynet.recipe import load_recipe
    from salarynet.rows import select_rows
    from salarynet.tasks import task_of

    use_compile_cache()
    recipe = load_recipe(recipe_name, overrides)
    survey, provenance = open_survey(None)
    sel = select_rows(survey, recipe)
    task = task_of(recipe.features)
    oof = np.full((len(sel.labels), task.output_width()), np.nan)
    per_fold = []
    for k, (train_idx, test_idx) in enumerate(fold_indices(sel, recipe, folds)):
        if only is not None and k + 1 != only:
            continue
        started = time.perf_counter()
        net = SalaryNet(recipe).fit(_subset(sel, train_idx))
        seconds = time.perf_counter() - started
        test_rows = sel.frame.iloc[test_idx]
        outputs = net.outputs(net.encode(test_rows)[0], test_rows)
        oof[test_idx] = outputs
        m = task.fold_metrics(outputs, sel.labels[test_idx], sel.salary[test_idx], task.majority(sel.labels[train_idx]))
        m |= {"seconds": round(seconds, 1), "epochs": net.record_.get("kept_epoch") or net.record_.get("epochs_run")}
        per_fold.append(m)
        print(f"fold {k + 1}/{folds}: " + ", ".join(f"{n} {v:.4f}" for n, v in m.items() if isinstance(v, float)),
              file=sys.stderr, flush=True)
    return {"recipe": recipe.name, "overrides": overrides, "folds": folds, "task": task.name, "per_fold": per_fold,
            "labels": (np.round(sel.labels.astype(float), 5) if sel.labels.dtype.kind == "f" else sel.labels).tolist(), "oof": np.round(oof, 5).tolist(), "data_sha256": provenance.get("sha256"),
            "machine": f"{platform.machine()}, {platform.python_version()}"}


def table(result: dict) -> str:
    names = [n for n, v in result["per_fold"][0].items() if isinstance(v, (int, float))]
    lines = ["| " + " | ".join(["fold", *names]) + " |", "|---|" + "---:|" * len(names)]
    for k, m in enumerate(result["per_fold"], 1):
        lines.append(f"| {k} | " + " | ".join(f"{m[n]:.4f}" if isinstance(m[n], float) else str(m[n]) for n in names) + " |")
    values = {n: np.array([m[n] for m in result["per_fold"]], float) for n in names}
    lines.append("| mean ± sd | " + " | ".join(f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f}"
                                               for v in values.values()) + " |")
    return "\n".join(lines)


def _binary_metrics(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(accuracy, ROC AUC, log loss) of P(class 1) p: float[rows]."""
    from salarynet.nn.metrics import mann_whitney_auc

    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.array([np.mean((p > 0.5) == labels), mann_whitney_auc(labels, p),
                     -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))])


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
    draws = np.array([_binary_metrics(labels[i], a[i]) - _binary_metrics(labels[i], b[i])
                      for i in (rng.integers(0, len(labels), len(labels)) for _ in range(resamples))])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    lines = [f"{len(labels):,} rows; first minus second, 95% paired-bootstrap interval ({resamples} resamples):",
             "| metric | difference | 95% interval |", "|---|---:|---|"]
    lines += [f"| {n} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |"
              for n, d, lo, hi in zip(("accuracy", "ROC AUC", "log loss"), diff, low, high)]
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
        first, second = (json.loads((p if p.is_absolute() or p.exists() else Path(__file__).parent / p).read_text())
                         for p in args.paired)
        print(paired(first, second))
        return
    result = cross_validate(args.recipe, args.overrides, args.folds, args.only_fold)
    print(table(result))
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"{args.name or 'cv-' + args.recipe}.json"
        if out.exists() and json.loads(out.read_text()).get("oof") is None:
            raise SystemExit(f"{out}: exists and is not a cv result; choose another --name")
        out.write_text(json.dumps(result) + "\n")
        print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
