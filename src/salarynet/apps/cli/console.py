"""The command line's frame: Ctrl-C handling (installed first, before the heavy imports), one-line usage
errors, the Typer app, the consoles, progress and the shared options; the commands live beside it."""

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
from importlib import resources
from pathlib import Path
from typing import Annotated

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
from typer.core import TyperGroup

from ...errors import SalarynetError

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
    from ...recipe import recipe_keys

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
        from ... import __version__

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
RunArg = Annotated[Path, typer.Argument(help="A run folder written by `salarynet train`.")]
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
    from ...data import source

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
    line at once (the FittedModel it holds: estimator.load takes it without reading the folder again)."""
    from ... import artifacts
    from ...data import source

    files = artifacts.load_run(run)
    source.check_data(data)
    return files
