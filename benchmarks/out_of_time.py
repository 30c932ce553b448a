"""Out-of-time numbers: how a model trained on the 2021 survey alone, and one trained on both years, answer for
rows of each year they never saw. The rows are the recipe's rows of both shipped snapshots (salary > $100,000 in
each survey year's own dollars: a 2023 row's label is its 2023 salary), in k stratified folds (rows.folds, the
recipe's seed). In each fold two models of each recipe are trained exactly as `salarynet train` trains (its own
test and validation split, early stopping, the blend, the refit): one on the fold's training rows of 2021 only,
one on all of them; both are scored on the fold's held-out rows of 2021, of 2023, and of 2023 in US dollars
(the rows of the issue's targets: USD answers, $10,000-$1,000,000). Peers (compare's tuned logistic regression;
LightGBM where installed, as benchmarks/peers.py runs it) are trained on the same rows.

    uv run python benchmarks/out_of_time.py                               # 5 folds, recommended and its peer
    uv run python benchmarks/out_of_time.py --recipes recommended,recommended-bands,recommended-range --record
    uv run python benchmarks/out_of_time.py --only-fold 1                 # one fold: a quick look
    uv run python benchmarks/out_of_time.py --table [--record]            # the recorded table again

--record writes benchmarks/results/out_of_time.json and out_of_time.md (the table docs/benchmarks.md shows); a file
there that this script did not write is never replaced.
"""

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
MARK = "benchmarks/out_of_time.py"
PARTS = {"2021": "2021 rows", "2023": "2023 rows", "2023-usd": "2023 rows, USD"}


def _metrics(task, outputs: np.ndarray, sel, rows: np.ndarray, majority: int) -> dict:
    return {k: v for k, v in task.fold_metrics(outputs, sel.labels[rows], sel.salary[rows], majority).items()}


def _held_out(sel, test_idx: np.ndarray) -> dict[str, np.ndarray]:
    year = sel.frame["survey_year"].to_numpy()[test_idx]
    usd = sel.frame["currency"].fillna("").str.upper().to_numpy()[test_idx] == "USD"
    return {
        "2021": test_idx[year == "2021"],
        "2023": test_idx[year == "2023"],
        "2023-usd": test_idx[(year == "2023") & usd],
    }


def run(
    recipe_names: list[str],
    peers: list[str],
    k: int,
    only: int | None,
    say,
    overrides: list[str] | None = None,
    trained_on: tuple[str, ...] = ("2021", "both"),
    keep=None,
) -> dict:
    from salarynet import evaluation
    from salarynet.apps import compare
    from salarynet.data.source import open_survey, use_compile_cache
    from salarynet.predictor import Predictor
    from salarynet.recipe import load_recipe
    from salarynet.rows import folds, select_rows, subset
    from salarynet.tasks import task_of
    from salarynet.training import train

    use_compile_cache()
    survey, provenance = open_survey(None)
    results = []
    for name in recipe_names:
        recipe = load_recipe(name, overrides)
        sel = select_rows(survey, recipe)
        task = task_of(recipe.features)
        year = sel.frame["survey_year"].to_numpy()
        # LightGBM (benchmarks/peers.py) learns classes: no peer row of it for the salary itself
        usable = [p for p in peers if task.classes or p != "lightgbm"]
        models = {f"salarynet {name}": None} | {f"{p} ({name}'s rows)": p for p in usable}
        for label, peer in models.items():
            for years in trained_on:
                runs = []
                for fold, (train_idx, test_idx) in enumerate(folds(sel, recipe, k), 1):
                    if only is not None and fold != only:
                        continue
                    rows = train_idx[year[train_idx] == "2021"] if years == "2021" else train_idx
                    train_sel = subset(sel, rows)
                    majority = task.majority(train_sel.labels)
                    started = time.perf_counter()
                    if peer is None:
                        model = Predictor(train(recipe, train_sel, "fold")[0])
                        outputs = evaluation.score(model, sel, test_idx, majority).outputs
                    else:
                        predict = compare.logistic_cv(recipe) if peer == "logistic-cv" else _lightgbm(recipe)
                        outputs = predict(train_sel, sel.frame.iloc[test_idx])
                    seconds = time.perf_counter() - started
                    where = {int(i): j for j, i in enumerate(test_idx)}
                    parts = {
                        part: _metrics(task, outputs[[where[int(i)] for i in idx]], sel, idx, majority)
                        | {"rows": len(idx)}
                        for part, idx in _held_out(sel, test_idx).items()
                    }
                    runs.append(
                        {"fold": fold, "seconds": round(seconds, 1), "training_rows": len(rows), "parts": parts}
                    )
                    say(
                        f"{label}, trained on {years}: fold {fold}/{k} in {seconds:.0f} s; "
                        + "; ".join(f"{PARTS[p]}: " + _line(m) for p, m in parts.items())
                    )
                results.append({"recipe": name, "task": task.name, "model": label, "trained_on": years, "runs": runs})
                if keep is not None:  # what is done so far survives a crash or Ctrl-C in a later model
                    keep(results)
    return {
        "script": MARK,
        "folds": k,
        "only_fold": only,
        "overrides": overrides or [],
        "data_sha256": provenance.get("sha256"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "results": results,
    }


def _write_table(summary: dict) -> None:
    recipes = ",".join(dict.fromkeys(r["recipe"] for r in summary["results"]))
    head = f"<!-- {MARK} --recipes {recipes} --folds {summary['folds']} -->\n"
    (RESULTS / "out_of_time.md").write_text(head + markdown(summary))


def _write(path: Path, summary: dict) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(summary, indent=1) + "\n")


def _lightgbm(recipe):
    sys.path.insert(0, str(Path(__file__).parent))
    from peers import lightgbm_model

    return lightgbm_model(recipe, [])


def _line(m: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float))


def _mean(runs: list[dict], part: str, metric: str) -> str:
    values = np.array([r["parts"][part][metric] for r in runs if r["parts"][part].get(metric) is not None], float)
    if not len(values):
        return "-"
    if "error" in metric or "width" in metric:  # dollars
        return f"${values.mean():,.0f}"
    return f"{values.mean():.4f}" + (f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else "")


def markdown(summary: dict) -> str:
    lines = []
    for task in dict.fromkeys(r["task"] for r in summary["results"]):
        rows = [r for r in summary["results"] if r["task"] == task]
        metrics = [m for m, v in rows[0]["runs"][0]["parts"]["2023"].items() if isinstance(v, float)]
        head = [f"{PARTS[p]}: {m}" for p in PARTS for m in metrics]
        lines += ["", f"**{task}** (mean ± sd over {len(rows[0]['runs'])} fold(s))", ""]
        lines += ["| model | trained on | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(head)]
        for r in rows:
            cells = [_mean(r["runs"], p, m) for p in PARTS for m in metrics]
            peer = (
                "ridge regression, alpha by inner CV" if task == "regression" else "logistic regression, C by inner CV"
            )
            model = r["model"].replace("logistic-cv", peer).replace("lightgbm", "LightGBM")
            lines.append(f"| {model} | {r['trained_on']} | " + " | ".join(cells) + " |")
    return "\n".join(lines).strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="recommended")
    parser.add_argument("--peers", default=None, help="logistic-cv, lightgbm (default: those installed)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--trained-on", default="2021,both", help="2021 (its rows alone), both, or both of them")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the recorded results' table again, and stop")
    args = parser.parse_args()
    if args.table:  # the recorded json's table again (with --record: out_of_time.md written anew from it)
        summary = json.loads((RESULTS / "out_of_time.json").read_text())
        print(markdown(summary), end="")
        if args.record:
            _write_table(summary)
        return
    peers = (
        args.peers.split(",")
        if args.peers is not None
        else ["logistic-cv"] + (["lightgbm"] if importlib.util.find_spec("lightgbm") else [])
    )
    targets = [RESULTS / "out_of_time.json", RESULTS / "out_of_time.md"]
    if args.record:
        for path in targets:
            if path.exists() and MARK not in path.read_text():
                raise SystemExit(f"{path}: exists and was not written by {MARK}; not replaced")
    summary = run(
        [r.strip() for r in args.recipes.split(",") if r.strip()],
        [p for p in peers if p],
        args.folds,
        args.only_fold,
        lambda line: print(line, file=sys.stderr, flush=True),
        args.overrides,
        tuple(args.trained_on.split(",")),
        keep=(lambda done: _write(targets[0], {"script": MARK, "complete": False, "results": done}))
        if args.record
        else None,
    )
    text = markdown(summary)
    print(text)
    if args.record:
        _write(targets[0], summary | {"complete": True})
        _write_table(summary)


if __name__ == "__main__":
    main()
