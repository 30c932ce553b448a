"""`salarynet serve`, `sweep`, `report`, `compare` and `data`: the commands over a run or a survey."""

import json
import os
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
    _progress,
    _status,
    app,
    checkpoint,
    data_app,
    err,
    out,
    uninterrupted,
    user_errors,
)
from .training import _rows_line, _warn


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, quieter: one line per request on stderr (time, client, request, status), and of its own
    messages only warnings (the `serving ...` line above says where it listens)."""
    from uvicorn.config import LOGGING_CONFIG

    config = json.loads(json.dumps(LOGGING_CONFIG))  # a copy
    config["formatters"]["access"]["fmt"] = '%(asctime)s %(client_addr)s "%(request_line)s" %(status_code)s'
    config["formatters"]["access"]["datefmt"] = "%Y-%m-%d %H:%M:%S"
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO"
    return config


def _loopback(host: str) -> bool:
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: what it resolves to
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


@app.command()
@user_errors
def serve(
    run: RunArg,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes, each with the model loaded once.")] = 1,
) -> None:
    """Serve a run: the page at /, POST /predict, GET /model and /health (FastAPI + uvicorn)."""
    import socket

    import uvicorn

    from ..serve import RUN_VARIABLE, create_app

    app_ = create_app(run)  # loads and checks the run: a bad model stops here, before listening
    try:  # a port in use is the user's to fix: say so in one line, before uvicorn logs it
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET):
            pass
    except OSError as e:
        raise DataError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    if not _loopback(host):
        err.print(
            f"warning: --host {host} makes the server reachable from the network, not only this machine; "
            "it has no authentication",
            highlight=False,
        )
    err.print(
        f"serving {run} at http://{host}:{port}/ with {workers} process{'es' if workers > 1 else ''} "
        "(the API's schema at /openapi.json; Ctrl-C stops)",
        highlight=False,
    )
    if workers > 1:  # uvicorn starts the processes; each builds its app from the environment
        os.environ[RUN_VARIABLE] = str(run.resolve())
        app_ = "salarynet.apps.serve:app_from_environment"
    try:
        uvicorn.run(app_, host=host, port=port, log_config=_log_config(), workers=workers, factory=workers > 1)
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind
        raise DataError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)") from (
            None if e.code else e
        )


GridOpt = Annotated[
    Path,
    typer.Option(
        "--grid",
        "-g",
        help='GRID.toml: a \\[grid] table of "section.key" = \\[values, ...], and '
        'optionally \\[search] kind = "random", trials, seed, metric (see examples/grid.toml).',
    ),
]
SweepOutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Folder for results.csv/.json, best.toml, sweep.png, trials/.")
]
FoldsOpt = Annotated[int, typer.Option(min=2, max=20, help="Stratified folds; every trial sees the same ones.")]
SeedsOpt = Annotated[int, typer.Option(min=1, max=64, help="Seeds per fold (the recipe's seed, +1, ...).")]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, max=256, help="Processes of the local cluster (default: one per core).")
]
BatchOpt = Annotated[
    bool, typer.Option(help="Train trials that differ only in learning rate, and the seeds, in one vmapped call.")
]
ResumeOpt = Annotated[bool, typer.Option(help="Continue a sweep in --out: skip the trials already finished.")]


@app.command()
@user_errors
def sweep(
    grid: GridOpt,
    out_dir: SweepOutOpt,
    recipe: RecipeOpt = "tutorial",
    data: DataOpt = None,
    folds: FoldsOpt = 5,
    seeds: SeedsOpt = 1,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    batch: BatchOpt = True,
    resume: ResumeOpt = False,
    set_: SetOpt = None,
) -> None:
    """Train every combination of the grid on the same folds and seeds, on Dask; keep each result as it finishes."""
    from .. import sweep as sweeping

    if scheduler and workers:
        raise DataError("--workers sizes the local cluster; with --scheduler the cluster's own workers run the trials")
    sweeping.check_out(out_dir, resume)  # before the work: refusals cost nothing
    if scheduler:
        sweeping.reachable(scheduler)
    from ...recipe import load_recipe

    survey, provenance = _open(data, load_recipe(recipe, set_).data.years)
    the_plan = sweeping.plan(recipe, grid, folds, seeds, provenance.get("sha256"), set_)
    err.print(
        f"sweep: {len(the_plan.trials)} trials x {folds} folds x {seeds} seed(s) of {the_plan.base_name}, "
        f"best by {the_plan.metric}; on {scheduler or f'a local Dask cluster ({workers or os.cpu_count()} workers)'}",
        highlight=False,
    )
    with _progress("trials") as progress:
        task = progress.add_task(
            "starting the cluster ..." if not scheduler else "connecting ...", total=len(the_plan.trials)
        )

        def on_trial(result, done, total):
            checkpoint()
            stat = result["summary"].get(the_plan.metric, {})
            progress.update(
                task, completed=done, description=f"last: {the_plan.metric} {stat.get('mean', float('nan')):.4f}"
            )

        outcome = sweeping.sweep(
            survey, the_plan, out_dir, folds, seeds, scheduler, workers, batch, resume, on_trial=on_trial
        )
    _warn(survey)
    _print_sweep(outcome, the_plan, out_dir)


def _print_sweep(outcome, the_plan, out_dir: Path) -> None:
    """A sweep's outcome: what ran, on how many workers, the best trial and where the results are."""
    from .. import sweep as sweeping

    for path in outcome.damaged:
        err.print(f"warning: {path} was not a finished trial's result; trained that trial again", highlight=False)
    minutes = outcome.seconds / 60
    rate = f"{outcome.ran / minutes:.1f} trials/min" if outcome.ran and minutes > 0 else "nothing to train"
    err.print(
        f"{outcome.ran} trained, {outcome.skipped} already done, in {outcome.seconds:.1f} s ({rate}) "
        f"on {outcome.workers} worker(s)",
        highlight=False,
    )
    if outcome.interrupted:
        err.print(
            f"interrupted: {len(outcome.results)} of {len(the_plan.trials)} trials are saved in {out_dir}; "
            "--resume continues",
            highlight=False,
        )
        raise typer.Exit(130)
    top = sweeping.best(the_plan, outcome.results)
    if top:
        stat = top["summary"][the_plan.metric]
        out.print(
            f"best: {json.dumps(top['values'])}  {the_plan.metric} {stat['mean']:.4f} ± {stat['sd']:.4f}",
            highlight=False,
        )
    err.print(
        f"saved {out_dir}/ (results.csv, results.json, best.toml, sweep.png); "
        f"train it: salarynet train --recipe {out_dir / 'best.toml'}",
        highlight=False,
    )


ReportDataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        "-d",
        help="Survey file (repeatable), or 'live' (default: the run's own data, else the embedded snapshots).",
    ),
]
ReportOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="The HTML file (default: RUN/report.html); the model card (.md) and numbers (.json) go beside it.",
    ),
]
AgainstOpt = Annotated[Path | None, typer.Option(help="Another run to set beside this one: accuracy against fairness.")]


@app.command()
@user_errors
def report(
    run: RunArg,
    data: ReportDataOpt = None,
    out_path: ReportOutOpt = None,
    against: AgainstOpt = None,
) -> None:
    """One self-contained HTML report and a Markdown model card: metrics with intervals, curves, ROC/PR,
    calibration, results per gender, age band and race, importance, caveats."""
    import time

    from ...data import source

    started = time.perf_counter()
    files = _checked_run(run, data)
    others = _checked_run(against, None) if against else None
    from ..report_files import check_targets, write

    target = out_path or run / "report.html"
    check_targets(target)  # before the work: refuse to replace what is not an earlier report
    from ...estimator import load

    net = load(files)
    other = load(others) if others else None
    if data is None:  # default: the data the run was trained on
        data = source.training_data(net.data_)
    survey, provenance = _open(data)
    from .. import report as reporting

    with _status("report: the test rows, bootstrap intervals, curves, groups, importance ..."):
        result = reporting.analyse(net, survey, provenance)
    _warn(survey)
    beside = None
    if other is not None:
        beside = reporting.comparison(
            result, reporting.analyse(other, survey, provenance, importance_repeats=1), run.name, against.name
        )
    html, card_text = reporting.render_html(net, result, beside), reporting.render_card(net, result, beside)
    with uninterrupted():
        try:
            page, card, numbers = write(target, html, card_text, result.numbers)
        except OSError as e:
            raise DataError(f"{target}: cannot write the report ({e.strerror or e}); nothing was written") from None
        test = result.numbers["test"]
        headline = net.task_.summary(test)
        for column, p in result.numbers["parity"].items():
            headline += f"; {column} DP diff {p['demographic_parity_difference']:.3f}"
        err.print(f"{headline} ({result.numbers['rows_used']})", highlight=False)
        out.print(
            f"wrote {page}, {card} (model card), {numbers} in {time.perf_counter() - started:.1f} s", highlight=False
        )


@app.command()
@user_errors
def compare(
    recipe: RecipeOpt = "recommended",
    data: DataOpt = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Stratified folds; every model sees the same ones.")] = 5,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for compare.md/.json and roc.png (default: runs/compare-<recipe>)."),
    ] = None,
    importance: Annotated[bool, typer.Option(help="Permutation importance per survey question (first fold).")] = True,
    set_: SetOpt = None,
) -> None:
    """Compare majority class, logistic regression (plain and C by inner CV), gradient boosting, CatBoost (when
    installed), the tutorial MLP and a recipe, fold by fold."""
    from ...data import source

    source.check_data(data)
    from ... import artifacts
    from ...recipe import load_recipe

    spec = load_recipe(recipe, set_)
    target = out_dir or Path("runs") / f"compare-{spec.name}"
    artifacts.check_out(target, kind="compare.json")
    from ... import plots
    from ..compare import compare as run_compare
    from ..compare import markdown, roc_points

    survey, provenance = _open(data, spec.data.years)
    source.use_compile_cache()
    with _progress("compare", bar=False) as bar:
        task = bar.add_task("", total=None)

        def on_step(step: str) -> None:
            checkpoint()
            bar.update(task, description=escape(step))

        report = run_compare(survey, spec, folds, on_step, importance)
    _warn(survey)
    text = markdown(report)
    files = {"compare.md": (f"# {spec.name}: {folds}-fold comparison ({report['task']})\n\n{text}\n").encode()}
    public = {k: v for k, v in report.items() if not k.startswith("_")} | {"data": provenance}
    files["compare.json"] = artifacts.to_json_bytes(public)
    task = report["_task"]
    if task.classes and task.width() == 2:  # one positive class: ROC curves
        aucs = {name: r["mean"].get("auc", float("nan")) for name, r in report["models"].items()}
        files["roc.png"] = plots.roc_png(roc_points(report), aucs, f"{spec.name}: pooled out-of-fold ROC")
    if report["importance"]:
        dollars, what = not task.classes, task.importance_measure
        lines = [
            "",
            f"Permutation importance (first fold): the {what} when one question's answers are shuffled.",
            "",
            "| survey question | when shuffled |",
            "|---|---:|",
        ]
        lines += [f"| {q} | {d:,.0f} |" if dollars else f"| {q} | {d:.4f} |" for q, d in report["importance"].items()]
        files["compare.md"] += ("\n".join(lines) + "\n").encode()
    checkpoint()
    target = artifacts.write_run(target, files, kind="compare.json")
    _print_markdown(files["compare.md"].decode())
    out.print(f"saved {target}/ ({', '.join(files)})", highlight=False)


def _print_markdown(text: str) -> None:
    """compare.md on the terminal: its tables as tables, like every other command's, the rest as lines."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            out.print(lines[i].lstrip("# "), highlight=False, markup=False)
            i += 1
            continue
        rows = []
        while i < len(lines) and lines[i].startswith("|"):
            rows.append([cell.strip().replace("**", "") for cell in lines[i].strip("|").split("|")])
            i += 1
        aligns = ["right" if cell.endswith(":") else "left" for cell in rows[1]] if len(rows) > 1 else []
        table = Table()
        for j, name in enumerate(rows[0]):
            table.add_column(escape(name), justify=aligns[j] if j < len(aligns) else "left")
        for row in rows[2:]:
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)


@data_app.command("import")
@user_errors
def data_import(file: Annotated[Path, typer.Argument(help="A survey export (.csv, .csv.gz, .xlsx).")]) -> None:
    """Put a copy of the survey into the cache, as the one --data live reads (for machines without internet)."""
    from ...data import source

    record = source.import_file(file)
    out.print(
        f"imported {record['rows']} rows ({record['schema']} schema) into {record['file']}; --data live reads it",
        highlight=False,
    )


@data_app.command("update")
@user_errors
def data_update() -> None:
    """Download the live survey sheet again into the cache (what --data live reads)."""
    from ...data import source

    err.print(f"downloading the live survey into {source.cache_dir()} ...")
    record = source.download()
    out.print(
        f"downloaded {record['rows']} rows ({record['schema']} schema) from {record['origin']} into {record['file']}",
        highlight=False,
    )


def _source_line(provenance: dict[str, Any]) -> str:
    kind = provenance.get("source")
    if kind == "embedded":
        return "the survey snapshots shipped with salarynet (--data live downloads the current 2021 sheet)"
    if kind == "live":
        return f"live sheet, fetched {provenance.get('fetched_at')} from {provenance.get('origin')}"
    if kind == "files":
        return "several files, read as one survey"
    return str(kind)


def _years_text(years: dict[str, int]) -> str:
    return "; ".join(f"{y}: {n:,} rows" for y, n in years.items())


@data_app.command("info")
@user_errors
def data_info(
    data: DataOpt = None,
    recipe: RecipeOpt = "tutorial",
    set_: SetOpt = None,
    run: Annotated[Path | None, typer.Option(help="A run folder: show the data it was trained on instead.")] = None,
) -> None:
    """Show where the survey comes from (embedded snapshots, live or files), its schema and years, and the rows a
    recipe would keep, by year."""
    from ...recipe import load_recipe
    from ...rows import count_rows

    if run is not None:
        from ...estimator import load

        if data is not None:
            raise DataError("--run shows the data a run was trained on; --data goes without it")
        provenance = load(run).data_
        rows = provenance.get("rows", {})
    else:
        spec = load_recipe(recipe, set_)
        survey, provenance = _open(data)  # all of it: the recipe's years show as rows it excludes
        rows = count_rows(survey, spec)

    def line(key: str, value: Any) -> None:
        out.print(f"{key:>13}: {value}", highlight=False, soft_wrap=True, markup=False)

    line("source", _source_line(provenance))
    for part in provenance.get("parts") or [provenance]:
        what = part.get("description") or part.get("origin")
        line("file", part.get("file") if not what else f"{part.get('file')}: {what}")
        line("sha256", part.get("sha256"))
        if part.get("fetched_at"):
            line("fetched_at", part["fetched_at"])
    line("schema", provenance.get("schema"))
    read = provenance.get("rows")
    line("rows", read.get("read") if isinstance(read, dict) else read)
    if provenance.get("years"):
        line("survey years", _years_text(provenance["years"]))
    for note in provenance.get("notes") or []:
        line("note", note)
    if isinstance(rows, dict) and {"read", "kept", "excluded"} <= rows.keys():
        what = f"run {run.name}" if run is not None else f"recipe {spec.name}"
        line(what, _rows_line(rows))
        for year, counts in (rows.get("by_year") or {}).items():
            line(year, _rows_line(counts))
