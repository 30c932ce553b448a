"""`salarynet train` and `salarynet evaluate`: a run folder from a recipe and a survey, and its scores."""

import functools
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ...errors import DataError
from .console import (
    DataOpt,
    RecipeOpt,
    RunArg,
    SetOpt,
    _checked_run,
    _open,
    _prefetch,
    _progress,
    app,
    checkpoint,
    err,
    out,
    uninterrupted,
    user_errors,
)


def _metrics_table(test: dict[str, Any], baseline: float | None, task, title: str = "test rows") -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in task.metric_rows(test, baseline) + [("rows", str(test["rows"]))]:
        table.add_row(escape(name), escape(value))
    return table


def _seeds_table(seeds: dict[str, Any]) -> Table:
    table = Table(
        title=f"test rows, {len(seeds['seeds'])} seeds ({seeds['seeds'][0]}..{seeds['seeds'][-1]}): "
        f"{seeds['models_per_second']:.2f} models/s"
    )
    for column in ("metric", "mean", "sd", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, s in seeds["test"].items():
        table.add_row(name, f"{s['mean']:.4f}", f"{s['sd']:.4f}", f"{min(s['values']):.4f}", f"{max(s['values']):.4f}")
    return table


def _warn(survey) -> None:
    """What the reader of a result should know about its file (also saved in data.json): said once, on stderr."""
    for note in survey.notes:
        err.print(f"warning: {note}", highlight=False, markup=False)


def _fold_option(fold: str | None) -> tuple[int, int] | None:
    """--fold K/N -> (K, N), or a one-line refusal."""
    if fold is None:
        return None
    from ...rows import parse_fold

    if (parsed := parse_fold(fold)) is None:
        raise DataError(f"--fold {fold!r}: expected K/N, a fold K of N folds (2 <= N <= 20, 1 <= K <= N), e.g. 1/5")
    return parsed


def _rows_line(rows: dict[str, Any]) -> str:
    from ...data.survey import rows_text

    return f"rows: {rows_text(rows)}"


@app.command()
@user_errors
def train(
    recipe: RecipeOpt = "tutorial",
    data: DataOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder to write (default: runs/<recipe name>, or "
            "runs/<recipe name>-2, -3, ... where that exists: never replaced).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (split, initial weights, shuffling).")] = None,
    set_: SetOpt = None,
    seeds: Annotated[
        int,
        typer.Option(
            min=1, max=256, help="Train this many seeds (seed, seed+1, ...) in one compiled call and report mean ± sd."
        ),
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace the run already in --out (a salarynet run only).")] = False,
    fold: Annotated[
        str | None,
        typer.Option(
            metavar="K/N",
            help="Train on fold K of N's training rows (the stratified "
            "folds of sweep and compare) and score the saved model on its held-out "
            "rows, as a sweep's trial or compare's fold does.",
        ),
    ] = None,
) -> None:
    """Train a recipe on the survey and save the run: weights, preprocessing, metrics, curves."""
    from ...data import source

    source.check_data(data)  # the refusals here come before JAX, pandas and scikit-learn load, the cheapest first
    from ... import runlock
    from ...recipe import load_recipe

    folded = _fold_option(fold)
    spec = load_recipe(recipe, set_, seed)
    # Claimed before the work (a lock beside it): a refusal after the fit would waste it, and two commands started
    # together never write the same folder
    with runlock.claim_run(out_dir, Path("runs") / spec.name, overwrite) as claim:
        _train(claim.path, spec, data, folded, seeds)


def _train(target: Path, spec, data, folded, seeds: int) -> None:
    from ...data import source

    survey, provenance = _open(data, spec.data.years)
    rows, held = survey, None
    if folded:
        from ... import evaluation
        from ...rows import fold_of, select_rows

        sel = select_rows(survey, spec)
        rows, held = fold_of(sel, spec, *folded)
        provenance = provenance | {"fold": f"{folded[0]}/{folded[1]}"}
    source.use_compile_cache()
    from ...nn.train import metric_name  # JAX: loaded here for the fit anyway

    hit = metric_name(spec.compile.loss)  # a range's "accuracy" is its coverage: the rows inside it

    def named(key: str) -> str:
        return key.replace("accuracy", hit)

    several = f"seeds {spec.seed}..{spec.seed + seeds - 1}" if seeds > 1 else ""  # each line says which model
    net = _fit(spec, rows, seeds, provenance, several, named)
    if folded:
        scored = evaluation.score(net, sel, held, net.task_.majority(rows.labels))
        net.record_["fold"] = {"fold": folded[0], "folds": folded[1], "rows": len(held), "test": scored.metrics}
    with uninterrupted():  # from here the run is written, and said: a late Ctrl-C does not unsay it
        written = net.save(target)
        _warn(survey)
        _print_run(net, spec, several, named)
        out.print(f"saved {written}/ (metrics.json, curves.png, model.safetensors)", highlight=False)
        err.print(f"report (plots, groups, model card): salarynet report {written}", highlight=False)


def _fit(spec, rows, seeds: int, provenance: dict[str, Any], several: str, named):
    """The fit (and refit) with its progress, a line or a bar per chunk of epochs."""
    from ...estimator import SalaryNet

    fine = "band_" if spec.features.label_bands else ""  # the fit's accuracy is over the label bands, not the answer
    plotting = []
    with _progress(f"fit ({several} together)" if several else "fit", "epochs") as bar:
        task = bar.add_task("compiling ...", total=spec.fit.epochs)

        def on_chunk(done: int, latest: dict[str, float], task=task, before: str = "") -> None:
            checkpoint()
            if not plotting:  # compiled and running: matplotlib (for curves.png) loads beside the compiled epochs
                _prefetch("salarynet.plots")
                plotting.append(done)
            shown = " ".join(f"{fine}{named(k)} {v:.4f}" for k, v in latest.items() if math.isfinite(v))
            bar.update(task, completed=done, description=before + shown)

        def on_refit(epochs: int):
            again = bar.add_task("refit on every kept row", total=epochs)
            return functools.partial(on_chunk, task=again, before="refit on every kept row: ")

        return SalaryNet(spec).fit(rows, on_chunk=on_chunk, seeds=seeds, provenance=provenance, on_refit=on_refit)


def _print_run(net, spec, several: str, named) -> None:
    """What a trained run's metrics.json says, as train prints it: rows, split, fit, test metrics, and what was
    done beside the fit (seeds, a fold, early stopping, conformal calibration, the refit)."""
    m = net.record_
    err.print(_rows_line(m["rows"]), highlight=False)
    calibration = f", calibration {m['rows']['calibration']}" if "calibration" in m["rows"] else ""
    err.print(
        f"split: train {m['rows']['train']} (fit {m['rows']['fit']}, validation {m['rows']['validation']})"
        f"{calibration}, test {m['rows']['test']}",
        highlight=False,
    )
    last = " ".join(f"{named(k)} {v:.4f}" for k, v in m["final_epoch"].items() if v is not None)
    if spec.features.label_bands:
        last += f" (over the {len(spec.features.label_bands) + 1} label bands)"
    saved = f" (seed {spec.seed}, the saved model)" if several else ""
    err.print(f"fit{saved}: {m['epochs_run']} epochs in {m['fit_seconds']:.2f} s; last epoch {last}", highlight=False)
    out.print(_metrics_table(m["test"], m["baseline"]["majority_accuracy"], net.task_, f"test rows{saved}"))
    if "seeds" in m:
        out.print(_seeds_table(m["seeds"]))
    if "fold" in m:
        f = m["fold"]
        out.print(
            _metrics_table(
                f["test"],
                f["test"].get("majority_accuracy"),
                net.task_,
                f"fold {f['fold']}/{f['folds']}'s held-out rows, by the saved model",
            )
        )
    if m.get("epochs_run", spec.fit.epochs) < spec.fit.epochs:
        err.print(
            f"early stopping: {m['epochs_run']} of {spec.fit.epochs} epochs; kept epoch {m['kept_epoch']}'s "
            "weights (the best validation loss)",
            highlight=False,
        )
    if "conformal" in m:
        c, plain = m["conformal"], m["conformal"]["test_before_calibration"]
        err.print(
            f"conformal: ranges calibrated on {c['rows']:,} rows set aside"
            f"{' per ' + c['by'] if c['by'] else ''}; on the test rows {plain['coverage']:.3f} inside before "
            f"(median width ${plain['median_range_width']:,.0f}), {m['test']['coverage']:.3f} after "
            f"(${m['test']['median_range_width']:,.0f})",
            highlight=False,
        )
    if "refit" in m:
        r = m["refit"]
        rows = (
            f"all {r['rows']:,} kept rows"
            if "calibration_rows" not in r
            else f"{r['rows']:,} kept rows (all but "
            f"the {r['calibration_rows']:,} calibration rows, on which it was calibrated again)"
        )
        err.print(
            f"refit: the saved model learned from {rows} ({r['epochs']} epochs in "
            f"{r['fit_seconds']:.2f} s); the test metrics above are the model's before the refit, on rows it "
            "never saw",
            highlight=False,
        )


@app.command()
@user_errors
def evaluate(
    run: RunArg,
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Evaluate a saved run: on its test rows (same file) or on every usable row of another file."""
    from ...data import source

    files = _checked_run(run, data)
    from ...estimator import NEW_FILE_ROWS, load

    net = load(files)
    if data is None:
        data = source.training_data(net.data_)
        if data is None:
            raise DataError(f"{run}: its training file {net.data_.get('file')!r} is gone; pass --data FILE")
    survey, provenance = _open(data)
    result = net.evaluation(survey, provenance)
    training = source.training_data(net.data_) if result["rows_used"] == NEW_FILE_ROWS else None
    if training is not None:  # another file: how far its answers and salaries moved from the training survey's
        moved = net.moved(_open(training)[0], survey)
        result["drift"], result["salary_drift"] = moved["answers"], moved["salaries"]
    if as_json:
        out.print_json(json.dumps(result))
        return
    _warn(survey)
    err.print(_rows_line(result["rows"]) + f"; evaluated on {result['rows_used']}", highlight=False)
    out.print(_metrics_table(result["test"], None, net.task_, _rows_title(result["rows_used"], survey.path)))
    if "drift" in result:
        out.print(_drift_table(result["drift"]))
        if moved := [d["question"] for d in result["drift"] if d["level"] == "moved a lot"]:
            err.print(
                f"warning: the answers to {', '.join(moved)} moved a lot from the training survey's "
                "(PSI > 0.25): the metrics above describe these rows, the run's own test metrics do not",
                highlight=False,
            )
    if "salary_drift" in result:
        s = result["salary_drift"]
        err.print(_salary_line(s), highlight=False)
        if s["level"] == "moved a lot":
            err.print(
                "warning: the salaries moved a lot from the training survey's (PSI over 0.25, or the share above "
                f"${s['threshold']:,.0f} more than 5 points off): the run's test metrics say little about these rows",
                highlight=False,
            )
    elif result["rows_used"] == NEW_FILE_ROWS:
        err.print(
            f"note: the run's training file {net.data_.get('file')!r} is gone: no comparison of answers",
            highlight=False,
        )


def _rows_title(rows_used: str, path: str) -> str:
    """The metrics table's title: which rows it is about (evaluate on another file: every usable row of it)."""
    from ...estimator import HELDOUT_ROWS, NEW_FILE_ROWS, OWN_TEST_ROWS

    if rows_used == NEW_FILE_ROWS:
        return f"every usable row of {Path(path.split(' + ')[0]).name}" + (" + ..." if " + " in path else "")
    return {OWN_TEST_ROWS: "test rows", HELDOUT_ROWS: "test rows (the model before its refit)"}.get(
        rows_used, rows_used
    )


def _salary_line(s: dict) -> str:
    t, n = s["training"], s["new"]
    return (
        f"salaries against the training survey's: above ${s['threshold']:,.0f} {t['share_above']:.1%} -> "
        f"{n['share_above']:.1%}, median ${t['median']:,.0f} -> ${n['median']:,.0f} "
        f"(PSI {s['psi']:.3f}, {s['level']})"
    )


def _drift_table(rows: list[dict]) -> Table:
    table = Table(title="answers against the training survey's (population stability index)", title_justify="left")
    for name, justify in (
        ("question", "left"),
        ("PSI", "right"),
        ("by chance", "right"),
        ("", "left"),
        ("answer moved most", "left"),
    ):
        table.add_column(name, justify=justify)
    for d in rows:
        table.add_row(
            d["question"],
            f"{d['psi']:.3f}",
            f"{d['chance']:.3f}",
            d["level"],
            f"{d['answer']}: {d['training_share']:.1%} -> {d['new_share']:.1%}",
        )
    return table
