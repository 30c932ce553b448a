"""Peers of salarynet on `salarynet compare`'s folds: AutoGluon, CatBoost, LightGBM, tuned logistic regression.

    UV_PROJECT_ENVIRONMENT=$HOME/.venvs/salarynet-peers uv run --no-dev --group peers python benchmarks/peers.py \\
        --models autogluon,catboost,lightgbm,logistic-cv --folds 5 --time-limit 900 --preset best_quality [--record]

The rows, label and folds are compare's: the recipe's rows (default "recommended": salary > $100,000 in USD
at 2021 rates, salaries $10k-$1M) of the survey snapshot shipped with salarynet (or --data FILE), split into
the same stratified folds (the recipe's seed), so the numbers sit beside `salarynet compare`'s. Every model
reads the same answers: each non-text answer as a category, and the job title and its context joined as
one text column. CatBoost and the tuned logistic regression are compare's own (salarynet.apps.compare).
Prints a markdown table (mean ± sd over the folds run); --record also writes each model's per-fold
metrics to benchmarks/results/peers-<model>.json and its out-of-fold probabilities to benchmarks/oof/ (ignored by git) (whole runs only, not
--only-fold; a file there that this script did not write is never replaced).

The `peers` dependency group (AutoGluon, LightGBM, CatBoost; several GB with PyTorch) is never installed by
`uv sync`, and cannot share an environment with the dev group (AutoGluon needs pandas < 2.4): the command
above installs the locked versions into an environment of its own (outside the clone: the project's .venv
stays as it is) on its first run. A smoke run, one fold in about two minutes on 2 cores:

    UV_PROJECT_ENVIRONMENT=$HOME/.venvs/salarynet-peers uv run --no-dev --group peers python benchmarks/peers.py \\
        --models autogluon,lightgbm,logistic-cv,catboost --only-fold 1 --time-limit 60 --preset medium_quality
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from salarynet import rows as survey_rows
from salarynet.apps import compare
from salarynet.data.source import open_survey
from salarynet.errors import SalarynetError
from salarynet.nn.metrics import mean_sd
from salarynet.recipe import Recipe, load_recipe
from salarynet.rows import Selection, select_rows
from salarynet.tasks import task_of

RESULTS = Path(__file__).parent / "results"  # summaries, committed
OOF = Path(__file__).parent / "oof"  # the per-row test outputs (benchmarks/cv.py --paired reads them), ignored by git
MARK = "benchmarks/peers.py"  # every results file this script writes says so; it replaces no other
LABEL = "salarynet_label"  # AutoGluon's label column (no survey column is called that)
NEEDS = {"autogluon": "autogluon.tabular", "catboost": "catboost", "lightgbm": "lightgbm", "logistic-cv": "sklearn"}
METRICS = {"accuracy": "accuracy", "auc": "ROC AUC", "log_loss": "log loss"}
# LightGBM's defaults but a smaller step, row and column subsampling; one thread: its OpenMP threads spin-wait,
# and on a busy 2-core machine two took 421 s where one took 3 s (the first fold, the same 246 rounds).
LIGHTGBM = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "num_threads": 1,
    "verbose": -1,
}
EARLY_STOPPING = {"max_rounds": 3000, "patience": 100, "holdout": 0.1}  # on a stratified 10% of the training rows


# ---------------------------------------------------------------- the models: (training rows, test rows) -> P(class)


def autogluon_model(
    recipe: Recipe, preset: str, time_limit: float, metric: str, verbosity: int, details: list[dict]
) -> compare.Predictor:
    """TabularPredictor on the answers as categories and the joined title text as a text feature (its n-gram
    and text-statistics features); each fold's models in a temporary folder that is removed afterwards."""
    from autogluon.common.features.feature_metadata import FeatureMetadata
    from autogluon.tabular import TabularPredictor

    task = task_of(recipe.features)
    cats = [c.column for c in recipe.features.columns]

    def table(frame: pd.DataFrame) -> pd.DataFrame:
        x = compare._answers(recipe, frame)
        return x.astype({c: "category" for c in cats})  # never guessed as text (city has thousands of answers)

    def predict(train: Selection, test_rows: pd.DataFrame) -> np.ndarray:
        data = table(train.frame)
        metadata = FeatureMetadata.from_df(data)
        if "text" in data:
            metadata = metadata.add_special_types({"text": ["text"]})
        data[LABEL] = train.labels
        with tempfile.TemporaryDirectory(prefix="peers-autogluon-") as folder:
            kind = "binary" if task.output_width() == 2 else "multiclass"
            predictor = TabularPredictor(
                label=LABEL,
                problem_type=kind,
                eval_metric=metric,
                path=str(Path(folder) / "model"),
                verbosity=verbosity,
            )
            started = time.perf_counter()
            predictor.fit(data, presets=preset, time_limit=time_limit, feature_metadata=metadata)
            fit_seconds = time.perf_counter() - started
            proba = predictor.predict_proba(table(test_rows))
            generated = getattr(predictor.feature_metadata, "type_group_map_special", {})  # the features it made
            details.append(
                {
                    "fit_seconds": round(fit_seconds, 1),
                    "best_model": predictor.model_best,
                    "models_trained": len(predictor.model_names()),
                    "text_ngram_features": len(generated.get("text_ngram", [])),
                    "text_special_features": len(generated.get("text_special", [])),
                }
            )
        return compare._every_class(proba.to_numpy(), proba.columns, task.output_width())

    return predict


def lightgbm_model(recipe: Recipe, details: list[dict]) -> compare.Predictor:
    """LightGBM on compare's dense features (the answers as categories, the title as its 30 main TF-IDF
    directions), early stopping on a stratified holdout of the fold's training rows."""
    import lightgbm
    from sklearn.model_selection import train_test_split

    task = task_of(recipe.features)
    cats = list(range(len(recipe.features.columns)))  # the OrdinalEncoder's columns come first

    def predict(train: Selection, test_rows: pd.DataFrame) -> np.ndarray:
        answers = compare._answers(recipe, train.frame)
        encode = compare._dense_features(recipe).fit(answers)
        x, x_test = encode.transform(answers), encode.transform(compare._answers(recipe, test_rows))
        fit_rows, stop_rows = train_test_split(
            np.arange(len(train.labels)),
            test_size=EARLY_STOPPING["holdout"],
            stratify=task.strata(train.labels),
            random_state=recipe.seed,
        )
        width = task.output_width()
        objective = {"objective": "binary"} if width == 2 else {"objective": "multiclass", "num_class": width}

        def rows(part: np.ndarray):
            return lightgbm.Dataset(x[part], train.labels[part], categorical_feature=cats, free_raw_data=False)

        booster = lightgbm.train(
            LIGHTGBM | objective | {"seed": recipe.seed},
            rows(fit_rows),
            EARLY_STOPPING["max_rounds"],
            valid_sets=[rows(stop_rows)],
            callbacks=[lightgbm.early_stopping(EARLY_STOPPING["patience"], verbose=False)],
        )
        details.append({"best_iteration": int(booster.best_iteration)})
        p = booster.predict(x_test, num_iteration=booster.best_iteration)
        return np.stack([1 - p, p], axis=1) if width == 2 else p

    return predict


def build(name: str, recipe: Recipe, args, details: list[dict]) -> tuple[str, compare.Predictor, dict]:
    """A model by its --models name -> (the table's label, the predictor, its settings)."""
    if name == "autogluon":
        label = f"AutoGluon ({args.preset}, {args.time_limit:g} s a fold)"
        return (
            label,
            autogluon_model(recipe, args.preset, args.time_limit, args.metric, args.verbosity, details),
            {"preset": args.preset, "time_limit": args.time_limit, "eval_metric": args.metric},
        )
    if name == "catboost":
        return "CatBoost", compare.catboost_model(recipe), {**compare.CATBOOST, **compare.CATBOOST_TEXT}
    if name == "lightgbm":
        return (
            "LightGBM (answers + 30 title TF-IDF directions)",
            lightgbm_model(recipe, details),
            {**LIGHTGBM, "early_stopping": EARLY_STOPPING},
        )
    chosen: list[float] = []
    tuned = compare.logistic_cv(recipe, chosen)

    def predict(train: Selection, test_rows: pd.DataFrame) -> np.ndarray:
        outputs = tuned(train, test_rows)
        details.append({"chosen_C": chosen[-1]})
        return outputs

    return (
        "logistic regression, C by inner CV",
        predict,
        {"C_grid": compare.C_GRID, "inner_folds": compare.INNER_FOLDS, "scoring": "neg_log_loss"},
    )


# ---------------------------------------------------------------- the driver


def run_model(
    name: str, recipe: Recipe, sel: Selection, folds: list[int], splits, args, say: Callable[[str], None]
) -> dict:
    task = task_of(recipe.features)
    details: list[dict] = []
    label, predict, settings = build(name, recipe, args, details)
    runs = []
    for k in folds:
        train_idx, test_idx = splits[k - 1]
        train, test_rows = survey_rows.subset(sel, train_idx), sel.frame.iloc[test_idx]
        say(f"{label}: fold {k}/{len(splits)} ({len(train_idx)} training rows) ...")
        started = time.perf_counter()
        outputs = predict(train, test_rows)
        seconds = time.perf_counter() - started
        metrics = task.fold_metrics(outputs, sel.labels[test_idx], sel.salary[test_idx], task.majority(train.labels))
        about = details[-1] if len(details) == len(runs) + 1 else {}
        scores = ", ".join(f"{METRICS.get(m, m)} {v:.4f}" for m, v in metrics.items() if v is not None)
        say(f"  {seconds:.1f} s; {scores}" + "".join(f"; {key} {value}" for key, value in about.items()))
        runs.append(
            {
                "fold": k,
                "seconds": round(seconds, 2),
                "metrics": metrics,
                "details": about,
                "test_rows": test_idx.tolist(),
                "probabilities": np.round(outputs, 6).tolist(),
            }
        )
    summary = {m: mean_sd([r["metrics"][m] for r in runs]) for m, v in runs[0]["metrics"].items() if v is not None}
    summary["seconds"] = mean_sd([r["seconds"] for r in runs])
    return {"model": name, "label": label, "settings": settings, "folds_run": runs, "summary": summary}


def markdown(results: list[dict]) -> str:
    names = [m for m in METRICS if m in results[0]["summary"]]
    lines = [
        f"| model | {' | '.join(METRICS[m] for m in names)} | seconds a fold (fit + predict) |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for r in results:
        s = r["summary"]
        cells = [f"{s[m]['mean']:.4f} ± {s[m]['sd']:.4f}" for m in names]
        lines.append(f"| {r['label']} | {' | '.join(cells)} | {s['seconds']['mean']:.1f} ± {s['seconds']['sd']:.1f} |")
    return "\n".join(lines)


def result_path(name: str, tag: str = "") -> Path:
    return RESULTS / f"peers-{name}{'-' + tag if tag else ''}.json"


def ours(path: Path) -> bool:
    """Whether a results file is absent, or one this script wrote (and may replace)."""
    if not path.exists():
        return True
    try:
        return json.loads(path.read_text()).get("written_by") == MARK
    except (OSError, ValueError, AttributeError):
        return False


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def versions() -> dict[str, str]:
    found = {}
    for package in ["salarynet", "autogluon.tabular", "catboost", "lightgbm", "scikit-learn", "numpy", "pandas"]:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="autogluon,catboost,lightgbm,logistic-cv", help=f"comma-separated, of {', '.join(NEEDS)}"
    )
    parser.add_argument("--recipe", default="recommended", help="whose rows, label and folds (a classes task)")
    parser.add_argument("--data", help="survey file (default: the snapshot shipped with salarynet)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, metavar="K", help="run fold K (1..folds) alone: a smoke run")
    parser.add_argument("--time-limit", type=float, default=900, help="AutoGluon's fit time limit a fold, seconds")
    parser.add_argument("--preset", default="best_quality", help="AutoGluon's presets (medium_quality for a smoke run)")
    parser.add_argument("--metric", default="log_loss", choices=["log_loss", "roc_auc"], help="AutoGluon's eval_metric")
    parser.add_argument("--verbosity", type=int, default=0, help="AutoGluon's log level (0-4)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/peers-<model>[-TAG].json")
    parser.add_argument("--tag", default="", help="recorded as peers-<model>-TAG.json (keeps runs with other settings)")
    args = parser.parse_args()

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if unknown := [n for n in names if n not in NEEDS]:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(NEEDS)}")
    if missing := [NEEDS[n] for n in names if not installed(NEEDS[n])]:
        sys.exit(
            f"error: {', '.join(missing)} not installed; `uv run --group peers python benchmarks/peers.py ...` "
            "installs the peers group (see this script's docstring for a separate environment)"
        )
    if args.only_fold is not None and not 1 <= args.only_fold <= args.folds:
        parser.error(f"--only-fold must be between 1 and --folds ({args.folds})")
    if not all(c.isalnum() or c in "._" for c in args.tag):
        parser.error(f"--tag {args.tag!r}: letters, digits, '.' and '_' only (it becomes part of a file name)")
    if args.record and args.only_fold is not None:
        parser.error("--record keeps whole runs only; drop --only-fold")
    if args.record and (theirs := [str(result_path(n, args.tag)) for n in names if not ours(result_path(n, args.tag))]):
        sys.exit(f"error: not written by {MARK}, so not replaced: {', '.join(theirs)}")
    try:
        recipe = load_recipe(args.recipe)
        survey, provenance = open_survey(args.data)
        sel = select_rows(survey, recipe)
    except SalarynetError as e:
        sys.exit(f"error: {e}")
    if not task_of(recipe.features).classes:
        sys.exit(f"error: recipe {recipe.name} answers a salary range; peers.py compares classifiers")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    splits = survey_rows.folds(sel, recipe, args.folds)
    folds = [args.only_fold] if args.only_fold else list(range(1, args.folds + 1))
    say(
        f"{recipe.name}: {len(sel.labels)} rows, {args.folds} folds (running {', '.join(map(str, folds))}), "
        f"{os.cpu_count()} CPUs"
    )
    started = time.perf_counter()
    results = [run_model(name, recipe, sel, folds, splits, args, say) for name in names]
    wall = time.perf_counter() - started
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    fold_text = f"fold {args.only_fold} of {args.folds}" if args.only_fold else f"{args.folds} folds"
    print(
        f"# Peers on compare's folds: recipe {recipe.name} ({task_of(recipe.features).name}), "
        f"{len(sel.labels)} rows, {fold_text}\n\n{markdown(results)}\n\n{machine}; {wall:.0f} s in all."
    )
    if args.record:
        common = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "command": " ".join(sys.argv[1:]),
            "recipe": recipe.name,
            "task": task_of(recipe.features).name,
            "data": {k: provenance.get(k) for k in ("source", "file", "sha256", "snapshot_date")},
            "rows": len(sel.labels),
            "folds": args.folds,
            "fold_seed": recipe.seed,
            "versions": versions(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        for result in results:
            path = result_path(result["model"], args.tag)
            if not ours(path):  # appeared while the models ran
                sys.exit(f"error: {path} was not written by {MARK}; not replacing it")
            OOF.mkdir(parents=True, exist_ok=True)
            (OOF / path.name).write_text(json.dumps({"written_by": MARK, **common, **result}) + "\n")
            summary = {
                **result,
                "folds_run": [
                    {k: v for k, v in fold.items() if k not in ("test_rows", "probabilities")}
                    for fold in result["folds_run"]
                ],
            }
            path.write_text(json.dumps({"written_by": MARK, **common, **summary}, indent=1) + "\n")
            say(f"recorded {path} (and the per-row outputs in {OOF / path.name})")


if __name__ == "__main__":
    main()
