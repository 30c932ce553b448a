"""Coverage of the salary ranges on held-out rows: the network's plain 10-90% outputs, the split-conformal
correction, and the Mondrian (per-group) correction, overall and per gender, age band and race.

    uv run python benchmarks/conformal.py              # 5 folds, a table (about 5 min on 2 cores)
    uv run python benchmarks/conformal.py --only-fold 1
    uv run python benchmarks/conformal.py --record     # + benchmarks/results/conformal.json

The recipe (default recommended-range) on `salarynet compare`'s folds of the survey snapshot, each fold's model
trained as `train` trains the saved model (its own split, early stopping, the refit on every row of the fold
but its calibration rows, calibrated again on them). On the fold's held-out rows, three variants of the same
network differ only in the correction: none, the recipe's conformal one, and a Mondrian one (per answer of
--by, from the same calibration rows). Coverage: the share of rows whose true salary lies inside the range;
width: the median range in dollars. Pooled over the folds, every row is measured once.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
GROUPS = ("gender", "age", "race")
MIN_ROWS = 100  # groups the target is judged on


def measure(recipe_name: str, overrides: list[str], by: str, folds: int, only: int | None) -> dict:
    from salarynet import conformal, training
    from salarynet import rows as survey_rows
    from salarynet.apps.report import _group_values
    from salarynet.data.source import open_survey, use_compile_cache
    from salarynet.predictor import Predictor
    from salarynet.recipe import load_recipe
    from salarynet.rows import calibration_rows, select_rows, split_rows

    use_compile_cache()
    recipe = load_recipe(recipe_name, overrides)
    if recipe.conformal is None:
        raise SystemExit(f"recipe {recipe.name} has no [conformal] section")
    survey, _ = open_survey(None)
    sel = select_rows(survey, recipe)
    low, high = recipe.features.quantiles
    names = ["plain (the network's quantiles)", "conformal", f"Mondrian by {by}"]
    inside = {name: np.zeros(len(sel.labels), bool) for name in names}
    width = {name: np.full(len(sel.labels), np.nan) for name in names}
    measured = np.zeros(len(sel.labels), bool)
    for k, (train_idx, test_idx) in enumerate(survey_rows.folds(sel, recipe, folds)):
        if only is not None and k + 1 != only:
            continue
        fold = survey_rows.subset(sel, train_idx)
        # as `train` fits the saved model: the refit and its calibration too
        net = Predictor(training.train(recipe, fold, "fold")[0])
        calibration = calibration_rows(fold, recipe, split_rows(fold, recipe, "fold")[0], "fold")[1]
        x_cal, _ = net.encode(fold.frame.iloc[calibration])
        target = net.task_.targets(fold.labels[calibration], net.spec_.answers)[:, 0]
        mondrian = conformal.calibrate(
            net.raw(x_cal),
            target,
            fold.frame.iloc[calibration],
            high - low,
            net.features_.spread,
            by,
            recipe.conformal.min_rows,
        )
        test = sel.frame.iloc[test_idx]
        raw = net.raw(net.encode(test)[0])
        for name, state in zip(names, (None, net.conformal_, mondrian)):
            outputs = raw if state is None else conformal.apply(state, raw, test, net.features_.spread)
            salary_low, salary_high = (np.exp(net.features_.unscale(outputs[:, j])) for j in (1, 2))
            inside[name][test_idx] = (salary_low <= sel.salary[test_idx]) & (sel.salary[test_idx] <= salary_high)
            width[name][test_idx] = salary_high - salary_low
        measured[test_idx] = True
        print(
            f"fold {k + 1}/{folds}: " + ", ".join(f"{n} {inside[n][test_idx].mean():.3f}" for n in names),
            file=sys.stderr,
            flush=True,
        )
    cells = {"overall": measured}
    for column in GROUPS:
        groups = _group_values(sel.frame, column)
        for g in sorted(set(groups[measured]), key=lambda v: -np.sum(groups[measured] == v)):
            cells[f"{column}: {g}"] = measured & (groups == g)
    return {
        "recipe": recipe.name,
        "overrides": overrides,
        "folds": folds,
        "only_fold": only,
        "rows": int(measured.sum()),
        "by": by,
        "variants": {
            name: {
                key: {
                    "rows": int(m.sum()),
                    "coverage": float(inside[name][m].mean()),
                    "median_width": float(np.median(width[name][m])),
                }
                for key, m in cells.items()
            }
            for name in names
        },
    }


def table(result: dict) -> str:
    names = list(result["variants"])
    head = "| rows (test) | n | " + " | ".join(f"{v}: coverage | width" for v in names) + " |"
    lines = [
        f"Recipe {result['recipe']}: {result['rows']:,} out-of-fold rows ({result['folds']} folds)",
        "",
        head,
        "|---|---:|" + "---:|---:|" * len(names),
    ]
    first = result["variants"][names[0]]
    for key, cell in first.items():
        if key != "overall" and cell["rows"] < MIN_ROWS:
            continue
        values = " | ".join(
            f"{result['variants'][v][key]['coverage']:.3f} | ${result['variants'][v][key]['median_width']:,.0f}"
            for v in names
        )
        lines.append(f"| {key} | {cell['rows']:,} | {values} |")
    lines.append(f"\nGroups with fewer than {MIN_ROWS} test rows are left out of this table (the json keeps them).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recommended-range")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--by", default="gender", help="the Mondrian variant's question (default gender)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None, help="Run this fold alone (1-based): a quick look.")
    parser.add_argument("--record", action="store_true", help="Write benchmarks/results/conformal.json.")
    args = parser.parse_args()
    result = measure(args.recipe, args.overrides, args.by, args.folds, args.only_fold)
    print(table(result))
    if args.record:
        out = RESULTS / "conformal.json"
        if out.exists() and "variants" not in json.loads(out.read_text()):
            raise SystemExit(f"{out}: exists and is not this script's; not replacing it")
        RESULTS.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
