"""The command line: the only place that prints or exits."""

import signal
import threading


class _Interrupted:
    """Ctrl-C, remembered from the moment this module loads: an interrupt raised where Python swallows it
    (during an import, or in a garbage-collection callback inside JAX, which prints "Exception ignored")
    still stops the command at the next checkpoint."""

    seen = False
    deferred = False  # while a result is committed: Ctrl-C is remembered, not raised (see uninterrupted)

    @classmethod
    def handler(cls, signum, frame):
        cls.seen = True
        if not cls.deferred:
            raise KeyboardInterrupt


if (
    threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
):
    signal.signal(signal.SIGINT, _Interrupted.handler)  # first, before the heavy imports below


def checkpoint() -> None:
    """Called before anything is written and between chunks of work: stop here if Ctrl-C was pressed."""
    if _Interrupted.seen:
        raise KeyboardInterrupt


class uninterrupted:
    """From the last checkpoint to the end of the command: the result is being put in place and said. A Ctrl-C
    here is too late to keep it from being written; it is not raised, so that the command never says "nothing
    was written" of files it wrote (a report's three files, a run folder, a predictions file)."""

    def __enter__(self):
        checkpoint()  # an interrupt before this point still stops the command, with nothing written
        _Interrupted.deferred = True

    def __exit__(self, *exc) -> None:
        _Interrupted.deferred = False
        _Interrupted.seen = False  # a Ctrl-C that came too late to stop it: the command has done its work


import contextlib
import functools
import json
import math
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from ..errors import DataError, SalarynetError

try:  # Typer 0.2x carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:
    from click import exceptions as click_errors


@contextlib.contextmanager
def _one_line_usage_errors():
    """A mistyped command or option value is one line and exit 2, like every other user error (not a box)."""
    try:
        yield
    except click_errors.NoArgsIsHelpError:
        raise
    except click_errors.UsageError as e:
        where = f"{e.ctx.command_path}: " if e.ctx else ""
        hint = f" (see {e.ctx.command_path} --help)" if e.ctx else ""
        if isinstance(e, click_errors.NoSuchOption) and (setting := _recipe_key(e.option_name, e.ctx)):
            hint = f" (a recipe value is set with --set: --set {setting}=...; see {e.ctx.command_path} --help)"
        err.print(
            f"[bold red]error:[/] {escape(where + e.format_message().rstrip('.'))}{escape(hint)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


def _recipe_key(option: str, ctx) -> str | None:
    """`--epochs` -> 'fit.epochs': the recipe key an unknown option names, where the command takes --set."""
    if ctx is None or not any(p.name == "set_" or "--set" in getattr(p, "opts", ()) for p in ctx.command.params):
        return None
    from ..recipe import recipe_keys

    wanted = option.lstrip("-").replace("-", "_").lower()
    found = [key for key in recipe_keys() if key.rpartition(".")[2] == wanted or key.replace(".", "_") == wanted]
    return found[0] if len(found) == 1 else None


class _Commands(TyperGroup):
    """Typer's group, with usage errors as one line (they are raised while parsing: make_context/invoke)."""

    def make_context(self, *args, **kwargs):
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    help="Deep learning on the Ask A Manager salary surveys (2021 and 2023).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_Commands,
)
data_app = typer.Typer(
    help="The survey file: import a local copy, show what a file holds.", no_args_is_help=True, cls=_Commands
)
app.add_typer(data_app, name="data")


class _Console(Console):
    """Rich's console, as wide as its output needs where it writes to no terminal (a pipe, a file, CI): a table
    cell is never wrapped to 80 columns (`0.6994 ± 0.0053` over two lines). On a terminal: the terminal's width."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, value) -> None:
        Console.size.fset(self, value)


PIPED_WIDTH = 1000  # columns where no terminal sets them: wider than any table here
err = _Console(stderr=True, soft_wrap=True)  # one message, one line: greppable, never wrapped mid-path
out = _Console()


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"salarynet {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Deep learning on the Ask A Manager salary surveys (2021 and 2023)."""


SHIPPED = sorted(p.name[:-5] for p in resources.files("salarynet.recipes").iterdir() if p.name.endswith(".toml"))
RecipeOpt = Annotated[
    str,
    typer.Option(
        "--recipe",
        "-r",
        help=f"A shipped recipe ({', '.join(SHIPPED)}) or a "
        ".toml/.json path (a run's recipe.json, a sweep's best.toml).",
    ),
]
DataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        "-d",
        help="Survey file (.csv, .csv.gz, .xlsx; any header schema, any year's form); repeat it to read "
        "several as one; 'live': the public 2021 sheet, downloaded once; default: the snapshots shipped with "
        "salarynet, 2021 (23,783 responses) and 2023 (13,711), or embedded:2021 / embedded:2023 alone.",
    ),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a recipe value: --set fit.epochs=20 (repeatable).")
]


def user_errors(command):
    """A SalarynetError becomes one line on stderr and exit code 2; Ctrl-C, exit 130 with nothing written."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        # Ctrl-C is remembered (not when the parent made us ignore it, as a shell does for a background job).
        main_thread = threading.current_thread() is threading.main_thread()
        main_thread = main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        previous = signal.signal(signal.SIGINT, _Interrupted.handler) if main_thread else None
        try:
            checkpoint()  # Ctrl-C while Python was still loading the program
            return command(*args, **kwargs)
        except SalarynetError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing was written")
            raise typer.Exit(130) from None
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)

    return wrapper


class _Lines:
    """Progress where stderr is no terminal (CI, a pipe, `!` in Jupyter): a plain line per step, not nothing."""

    def __init__(self, label: str, unit: str = ""):
        self.label, self.unit, self.total = label, unit, None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: int | None = None) -> int:
        self.total = total  # the description ("compiling ...") is for a live display; a line comes per step
        return 0

    def update(self, task: int, completed: int | None = None, description: str = "") -> None:
        done = f"{completed}/{self.total} {self.unit} ".replace("  ", " ") if completed is not None else ""
        err.print(f"… {self.label}: {done}{description}".rstrip(), highlight=False, markup=False)


def _progress(label: str, unit: str = "", bar: bool = True):
    """A live display on a terminal (gone when done); elsewhere, one line per step (_Lines)."""
    if not err.is_terminal:
        return _Lines(label, unit)
    columns = [TextColumn(f"[bold]{label}")] + ([BarColumn(), MofNCompleteColumn(), TextColumn(unit)] if bar else [])
    return Progress(*columns, TimeElapsedColumn(), TextColumn("{task.description}"), console=err, transient=True)


def _status(text: str):
    """A spinner on a terminal; elsewhere the one line, so a long silent step is never a mystery."""
    if err.is_terminal:
        return err.status(escape(text))
    err.print(f"… {text}", highlight=False, markup=False)
    return contextlib.nullcontext()


def _prefetch(*modules: str) -> None:
    """Import modules in a thread while the main thread waits on compiled work, which releases the GIL: the
    plots' library (matplotlib, 0.7 s here) loads during the fit, not after it. A module the main thread asks
    for meanwhile waits for the thread's import (Python's per-module lock)."""
    import importlib

    def load() -> None:
        with contextlib.suppress(Exception):  # the main thread's own import will say what is wrong
            for module in modules:
                importlib.import_module(module)

    threading.Thread(target=load, name="prefetch", daemon=True).start()


def _open(data, years=None):
    """--data's surveys as one (source.open_survey); `years`: a recipe's data.years, for the default snapshots."""
    from ..data import source

    downloading = source.LIVE in source.expand(data) and source.cached() is None
    # A spinner while it downloads, gone when done: an offline error stays one line.
    spinner = (
        err.status(f"downloading the live survey into {escape(str(source.cache_dir()))} (once) ...")
        if downloading and err.is_terminal
        else contextlib.nullcontext()
    )
    with spinner:
        return source.open_survey(data, years)


def _checked_run(run: Path, data: list[str] | None):
    """A run folder read and checked, and --data's file checked, before the heavy imports: a wrong path is one
    line at once (artifacts.RunFiles: estimator.load takes it without reading the folder again)."""
    from .. import artifacts
    from ..data import source

    files = artifacts.load_run(run)
    source.check_data(data)
    return files


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
    from ..rows import parse_fold

    if (parsed := parse_fold(fold)) is None:
        raise DataError(f"--fold {fold!r}: expected K/N, a fold K of N folds (2 <= N <= 20, 1 <= K <= N), e.g. 1/5")
    return parsed


def _rows_line(rows: dict[str, Any]) -> str:
    from ..data.survey import rows_text

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
    from ..data import source

    source.check_data(data)  # the refusals here come before JAX, pandas and scikit-learn load, the cheapest first
    from .. import artifacts
    from ..recipe import load_recipe

    folded = _fold_option(fold)
    spec = load_recipe(recipe, set_, seed)
    # Claimed before the work (a lock beside it): a refusal after the fit would waste it, and two commands started
    # together never write the same folder
    with artifacts.claim_run(out_dir, Path("runs") / spec.name, overwrite) as claim:
        _train(claim.path, spec, data, folded, seeds)


def _train(target: Path, spec, data, folded, seeds: int) -> None:
    from ..data import source
    from ..estimator import SalaryNet

    survey, provenance = _open(data, spec.data.years)
    rows, held = survey, None
    if folded:
        from .. import evaluation
        from ..rows import fold_of, select_rows

        sel = select_rows(survey, spec)
        rows, held = fold_of(sel, spec, *folded)
        provenance = provenance | {"fold": f"{folded[0]}/{folded[1]}"}
    source.use_compile_cache()
    fine = "band_" if spec.features.label_bands else ""  # the fit's accuracy is over the label bands, not the answer
    hit = "coverage" if spec.compile.loss == "mse_quantiles" else "accuracy"  # a range's "accuracy": the rows inside it

    def named(key: str) -> str:
        return key.replace("accuracy", hit)

    plotting = []
    several = f"seeds {spec.seed}..{spec.seed + seeds - 1}" if seeds > 1 else ""  # each line says which model
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

        net = SalaryNet(spec).fit(rows, on_chunk=on_chunk, seeds=seeds, provenance=provenance, on_refit=on_refit)
    if folded:
        scored = evaluation.score(net, sel, held, net.task_.majority(rows.labels))
        net.record_["fold"] = {"fold": folded[0], "folds": folded[1], "rows": len(held), "test": scored.metrics}
    with uninterrupted():  # from here the run is written, and said: a late Ctrl-C does not unsay it
        written = net.save(target)
        m = net.record_
        _warn(survey)
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
        err.print(
            f"fit{saved}: {m['epochs_run']} epochs in {m['fit_seconds']:.2f} s; last epoch {last}", highlight=False
        )
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
        out.print(f"saved {written}/ (metrics.json, curves.png, model.safetensors)", highlight=False)
        err.print(f"report (plots, groups, model card): salarynet report {written}", highlight=False)


@app.command()
@user_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")],
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Evaluate a saved run: on its test rows (same file) or on every usable row of another file."""
    from ..data import source

    files = _checked_run(run, data)
    from ..estimator import NEW_FILE_ROWS, load

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
    from ..estimator import HELDOUT_ROWS, NEW_FILE_ROWS, OWN_TEST_ROWS

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


FLAGS = {
    "age": "age",
    "experience": "experience_overall",
    "experience_field": "experience_field",
    "education": "education",
    "gender": "gender",
    "industry": "industry",
    "title": "job_title",
    "country": "country",
    "state": "state",
    "city": "city",
    "race": "race",
}
FLAG_OF = {column: f"--{flag.replace('_', '-')}" for flag, column in FLAGS.items()}  # column -> its flag


@app.command()
@user_errors
def predict(
    run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")],
    input_: Annotated[
        Path | None, typer.Option("--input", "-i", help="CSV/XLSX of raw survey answers (any schema).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the predictions CSV (default: stdout).")
    ] = None,
    age: Annotated[str | None, typer.Option(help="One person's age band, e.g. 25-34.")] = None,
    experience: Annotated[
        str | None, typer.Option(help="Years of professional experience overall, e.g. '5-7 years'.")
    ] = None,
    experience_field: Annotated[
        str | None, typer.Option(help="Years of experience in the field, e.g. '2 - 4 years'.")
    ] = None,
    education: Annotated[str | None, typer.Option(help='Highest education, e.g. "Master\'s degree".')] = None,
    gender: Annotated[str | None, typer.Option(help="Gender, e.g. Woman.")] = None,
    industry: Annotated[str | None, typer.Option(help="Industry, e.g. 'Computing or Tech'.")] = None,
    title: Annotated[str | None, typer.Option(help="Job title, e.g. 'Data Scientist'.")] = None,
    country: Annotated[str | None, typer.Option(help="Country, e.g. USA.")] = None,
    state: Annotated[str | None, typer.Option(help="US state(s), e.g. California.")] = None,
    city: Annotated[str | None, typer.Option(help="City, e.g. Boston.")] = None,
    race: Annotated[str | None, typer.Option(help="Race (comma-separated if several), e.g. White.")] = None,
    answer: Annotated[list[str] | None, typer.Option(help="Any other answer as COLUMN=VALUE (repeatable).")] = None,
    year: Annotated[
        int | None,
        typer.Option(
            help="The year whose dollars the answer is in (default: the latest survey year the model learned); "
            "a salary-range model carries its answer to any year of the wage index by it (2019-2025)."
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="For one person: which answers move it most, and what would change it.")
    ] = True,
    json_: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON: for one person, what POST /predict answers; for --input, one object per row."
        ),
    ] = False,
) -> None:
    """Predict for a file of survey answers, or for one person given by flags (`salarynet answers RUN` lists the
    answers the model requires and accepts; the others may be left out)."""
    given = {
        FLAGS[k]: v
        for k, v in dict(
            age=age,
            experience=experience,
            experience_field=experience_field,
            education=education,
            gender=gender,
            industry=industry,
            title=title,
            country=country,
            state=state,
            city=city,
            race=race,
        ).items()
        if v is not None
    }
    others = {}
    for item in answer or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise DataError(f"--answer {item!r}: expected COLUMN=VALUE")
        others[key.strip()] = value.strip()
    if input_ is not None:
        if given or others:
            raise DataError("--input predicts a file; one person's answers (--age, --title, ...) go without it")
        from ..estimator import load

        if json_ and output is not None:
            raise DataError("--json prints the predictions; --output writes them as CSV: give one of them")
        return _predict_file(load(run), input_, output, year, json_)
    if output is not None:
        raise DataError("--output writes the predictions of an --input file; give --input too")
    from ..predictor import load_predictor

    # numpy only: no JAX, pandas or scikit-learn to import
    _predict_one(load_predictor(run), given, others, run, explain, year, json_)


def _check_output(output: Path) -> None:
    """Before any work: --output goes into an existing folder, and replaces only a predictions file of ours."""
    if not output.parent.is_dir():
        raise DataError(f"{output}: no folder {output.parent}; create it first, or choose another --output")
    if output.exists() or output.is_symlink():
        header = ""
        if output.is_file():  # never open a FIFO or a device: it could block
            try:
                with open(output, encoding="utf-8") as f:
                    header = f.readline(4096).strip()
            except (OSError, UnicodeDecodeError):
                pass
        if not (header.startswith("row,") and header.endswith((",reason", ",reason,flags"))):  # predict's header
            raise DataError(f"{output}: exists and is not a salarynet predictions file; choose another --output")


def _predict_file(net, input_: Path, output: Path | None, year: int | None = None, json_: bool = False) -> None:
    from ..data.survey import read_survey

    if output is not None:
        _check_output(output)
    net.dollars_year(year)  # a year it cannot answer for: refused before the file is read
    survey = read_survey(input_)
    if missing := [f.name for f in net.fields_ if f.required and f.name not in survey.frame.columns]:
        raise DataError(
            f"{input_}: no {', '.join(missing)} column, an answer this model requires; no row could be answered "
            "(`salarynet answers RUN` lists what it reads)"
        )
    result = net.predict_frame(survey, year=year)
    checkpoint()
    if json_:
        sys.stdout.write(result.to_json(orient="records", lines=True, force_ascii=False))
        return
    if output is None:
        sys.stdout.write(result.to_csv(index=False, float_format="%.6g"))
        return
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:  # into a temporary file beside it, then swapped in: Ctrl-C or a full disk leaves the earlier file as it was
        result.to_csv(tmp, index=False, float_format="%.6g")
        with uninterrupted():
            tmp.replace(output)
            err.print(
                f"wrote {len(result)} rows to {output} ({int((result['reason'] != '').sum())} without a prediction)"
            )
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise DataError(f"{output}: cannot write the predictions ({e.strerror or e})") from None
        raise


def _predict_one(
    net,
    given: dict[str, str],
    others: dict[str, str],
    run: Path,
    explain: bool = True,
    year: int | None = None,
    json_: bool = False,
) -> None:
    """One person's answers (flags, and --answer NAME=VALUE under any survey header) by the answer-set contract."""
    from ..answerset import Refusal, canonical_names, check
    from ..predictor import person

    try:
        named = canonical_names(others, reads=[f.name for f in net.fields_])
    except Refusal as e:
        raise DataError(f"--answer: {e}") from None
    if twice := sorted(set(named) & set(given)):
        raise DataError(f"--answer: {', '.join(twice)} is given by a flag too; keep one")
    given = given | named
    answers, before = person(given)
    refused = check(net.fields_, answers.row())[1]  # the contract's refusal, for every refused answer
    if refused:
        e = refused[0]
        more = f" (and {len(refused) - 1} more: {', '.join(r.field for r in refused[1:])})" if len(refused) > 1 else ""
        raise DataError(f"{run}: {e}{more}; give it with {FLAG_OF.get(e.field, f'--answer {e.field}=...')}")
    row = net.predict_one(answers, year)
    if row["reason"]:
        raise DataError(f"{run}: {row['reason']}")
    flags = net.flags_one(answers, before)
    why = None
    if explain:
        from ..explain import explain as explained

        why = explained(net, net.at_year(answers, net.dollars_year(year)[1]))
    if json_:  # what POST /predict answers for the same answers
        body = net.task_.answer(row) | {"year": int(row["year"]), "flags": flags}
        sys.stdout.write(json.dumps(body | ({"explanation": why} if why else {}), ensure_ascii=False) + "\n")
        return
    out.print(net.task_.sentence(row), highlight=False)
    for flag in flags:
        err.print(f"note: {flag['message']}", highlight=False, soft_wrap=True)
    if why:
        out.print(f"why: {why['sentence']}", highlight=False, soft_wrap=True)
        out.print(f"to change it: {why['counterfactual_sentence']}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def summary(run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")]) -> None:
    """The model as Keras's model.summary() shows it: layers, output shapes, parameters (the total is the weights
    in model.safetensors), and the answers it reads."""
    from ..predictor import load_predictor, summary_text

    out.print(summary_text(load_predictor(run)), highlight=False, markup=False, soft_wrap=True)


@app.command()
@user_errors
def answers(
    run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")],
    json_: Annotated[bool, typer.Option("--json", help="As JSON: GET /model's `fields`.")] = False,
) -> None:
    """Each question the model reads, whether it may be blank, and every answer it accepts (the same for
    predict's flags, the Python API and the HTTP API)."""
    from ..predictor import load_predictor

    fields = load_predictor(run).fields_
    if json_:
        sys.stdout.write(json.dumps([f.to_json() for f in fields], indent=2, ensure_ascii=False) + "\n")
        return
    for f in fields:
        how = {"choice": "one of", "multi": "any of (comma-separated)", "text": "free text"}[f.kind]
        how += "" if f.strict or f.kind == "text" else " (any other answer counts as a rare one)"
        given = FLAG_OF.get(f.name, f"--answer {f.name}=...")
        out.print(
            f"{f.name} ({f.question}; {given}): {'required' if f.required else 'may be blank'}, {how}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if f.kind != "text":
            for answer in f.allowed:
                out.print(f"  {answer}", highlight=False, markup=False, soft_wrap=True)
        elif f.allowed:
            out.print(f"  {len(f.allowed)} answers learned; any other counts as a rare one", highlight=False)


@app.command()
@user_errors
def runs(
    folder: Annotated[Path, typer.Argument(help="Where the runs are (default: runs).")] = Path("runs"),
) -> None:
    """Every run under a folder: its recipe, task, when it was trained, its data and its headline test metric."""
    import datetime

    from ..recipe import validate_recipe
    from ..tasks import task_of

    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; `salarynet train` writes its runs under runs/")
    found = sorted(p.parent for p in folder.rglob("model.json") if (p.parent / "metrics.json").is_file())
    if not found:
        err.print(f"no runs under {folder}", highlight=False)
        return
    table = Table(title=f"runs under {folder}")
    for column in ("run", "recipe", "task", "trained", "data", "test rows"):
        table.add_column(column)
    for run in found:
        trained = datetime.datetime.fromtimestamp((run / "model.json").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        try:
            recipe = validate_recipe(json.loads((run / "recipe.json").read_text()), str(run / "recipe.json"))
            test = json.loads((run / "metrics.json").read_text())["test"]
            data = json.loads((run / "data.json").read_text())
            task = task_of(recipe.features)
            described = task.describe()
            what = task.name + (
                f" > ${described['threshold']:,.0f}" if described.get("threshold") and task.classes else ""
            )
            source = data.get("file") or data.get("source", "?")
            table.add_row(
                escape(str(run)),
                escape(recipe.name),
                escape(what),
                trained,
                escape(str(source)),
                escape(f"{task.summary(test)} ({test.get('rows', '?')} rows)"),
            )
        except (OSError, ValueError, KeyError, TypeError, SalarynetError) as e:
            table.add_row(
                escape(str(run)), "?", "?", trained, "?", escape(f"unreadable: {str(e).splitlines()[0][:80]}")
            )
    out.print(table)


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
    run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes, each with the model loaded once.")] = 1,
) -> None:
    """Serve a run: the page at /, POST /predict, GET /model and /health (FastAPI + uvicorn)."""
    import socket

    import uvicorn

    from .serve import RUN_VARIABLE, create_app

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


@app.command()
@user_errors
def sweep(
    grid: Annotated[
        Path,
        typer.Option(
            "--grid",
            "-g",
            help='GRID.toml: a \\[grid] table of "section.key" = \\[values, ...], and '
            'optionally \\[search] kind = "random", trials, seed, metric (see examples/grid.toml).',
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for results.csv/.json, best.toml, sweep.png, trials/.")
    ],
    recipe: RecipeOpt = "tutorial",
    data: DataOpt = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Stratified folds; every trial sees the same ones.")] = 5,
    seeds: Annotated[int, typer.Option(min=1, max=64, help="Seeds per fold (the recipe's seed, +1, ...).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=256, help="Processes of the local cluster (default: one per core).")
    ] = None,
    batch: Annotated[
        bool, typer.Option(help="Train trials that differ only in learning rate, and the seeds, in one vmapped call.")
    ] = True,
    resume: Annotated[bool, typer.Option(help="Continue a sweep in --out: skip the trials already finished.")] = False,
    set_: SetOpt = None,
) -> None:
    """Train every combination of the grid on the same folds and seeds, on Dask; keep each result as it finishes."""
    from . import sweep as sweeping

    if scheduler and workers:
        raise DataError("--workers sizes the local cluster; with --scheduler the cluster's own workers run the trials")
    sweeping.check_out(out_dir, resume)  # before the work: refusals cost nothing
    if scheduler:
        sweeping.reachable(scheduler)
    from ..recipe import load_recipe

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


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")],
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            help="Survey file (repeatable), or 'live' (default: the run's own data, else the embedded snapshots).",
        ),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The HTML file (default: RUN/report.html); the model card (.md) and numbers (.json) go beside it.",
        ),
    ] = None,
    against: Annotated[
        Path | None, typer.Option(help="Another run to set beside this one: accuracy against fairness.")
    ] = None,
) -> None:
    """One self-contained HTML report and a Markdown model card: metrics with intervals, curves, ROC/PR,
    calibration, results per gender, age band and race, importance, caveats."""
    import time

    from ..data import source

    started = time.perf_counter()
    files = _checked_run(run, data)
    others = _checked_run(against, None) if against else None
    from .report_files import check_targets, write

    target = out_path or run / "report.html"
    check_targets(target)  # before the work: refuse to replace what is not an earlier report
    from ..estimator import load

    net = load(files)
    other = load(others) if others else None
    if data is None:  # default: the data the run was trained on
        data = source.training_data(net.data_)
    survey, provenance = _open(data)
    from . import report as reporting

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
    from ..data import source

    source.check_data(data)
    from .. import artifacts
    from ..recipe import load_recipe

    spec = load_recipe(recipe, set_)
    target = out_dir or Path("runs") / f"compare-{spec.name}"
    artifacts.check_out(target, kind="compare.json")
    from .. import plots
    from .compare import compare as run_compare
    from .compare import markdown, roc_points

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
    from ..data import source

    record = source.import_file(file)
    out.print(
        f"imported {record['rows']} rows ({record['schema']} schema) into {record['file']}; --data live reads it",
        highlight=False,
    )


@data_app.command("update")
@user_errors
def data_update() -> None:
    """Download the live survey sheet again into the cache (what --data live reads)."""
    from ..data import source

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
    from ..recipe import load_recipe
    from ..rows import count_rows

    if run is not None:
        from ..estimator import load

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


def main() -> None:
    """The `salarynet` program. After Ctrl-C it leaves at once with 130: the interpreter's own shutdown, with
    JAX's threads interrupted mid-work, can crash (exit 139) after everything was already said and cleaned up."""
    try:
        app()
    except SystemExit as e:
        if e.code == 130:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise
