"""`salarynet predict`, `summary`, `answers` and `runs`: what a run answers, reads and is."""

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ...data.files import write_whole
from ...errors import DataError, SalarynetError
from .console import (
    RunArg,
    app,
    checkpoint,
    err,
    out,
    uninterrupted,
    user_errors,
)

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


def _text(help_: str):
    return Annotated[str | None, typer.Option(help=help_)]


InputOpt = Annotated[Path | None, typer.Option("--input", "-i", help="CSV/XLSX of raw survey answers (any schema).")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Where to write the predictions CSV (default: stdout).")
]
YearOpt = Annotated[
    int | None,
    typer.Option(
        help="The year whose dollars the answer is in (default: the latest survey year the model learned); "
        "a salary-range model carries its answer to any year of the wage index by it (2019-2025)."
    ),
]
ExplainOpt = Annotated[bool, typer.Option(help="For one person: which answers move it most, and what would change it.")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print JSON: for one person, what POST /predict answers; for --input, one object per row."
    ),
]


@app.command()
@user_errors
def predict(
    run: RunArg,
    input_: InputOpt = None,
    output: OutputOpt = None,
    age: _text("One person's age band, e.g. 25-34.") = None,
    experience: _text("Years of professional experience overall, e.g. '5-7 years'.") = None,
    experience_field: _text("Years of experience in the field, e.g. '2 - 4 years'.") = None,
    education: _text('Highest education, e.g. "Master\'s degree".') = None,
    gender: _text("Gender, e.g. Woman.") = None,
    industry: _text("Industry, e.g. 'Computing or Tech'.") = None,
    title: _text("Job title, e.g. 'Data Scientist'.") = None,
    country: _text("Country, e.g. USA.") = None,
    state: _text("US state(s), e.g. California.") = None,
    city: _text("City, e.g. Boston.") = None,
    race: _text("Race (comma-separated if several), e.g. White.") = None,
    answer: Annotated[list[str] | None, typer.Option(help="Any other answer as COLUMN=VALUE (repeatable).")] = None,
    year: YearOpt = None,
    explain: ExplainOpt = True,
    json_: JsonOpt = False,
) -> None:
    """Predict for a file of survey answers, or for one person given by flags (`salarynet answers RUN` lists the
    answers the model requires and accepts; the others may be left out)."""
    flags = dict(age=age, experience=experience, experience_field=experience_field, education=education)
    flags |= dict(gender=gender, industry=industry, title=title, country=country, state=state, city=city, race=race)
    given = {FLAGS[k]: v for k, v in flags.items() if v is not None}
    others = _answer_options(answer or [])
    if input_ is not None:
        if given or others:
            raise DataError("--input predicts a file; one person's answers (--age, --title, ...) go without it")
        from ...estimator import load

        if json_ and output is not None:
            raise DataError("--json prints the predictions; --output writes them as CSV: give one of them")
        return _predict_file(load(run), input_, output, year, json_)
    if output is not None:
        raise DataError("--output writes the predictions of an --input file; give --input too")
    from ...predictor import load_predictor

    # numpy only: no JAX, pandas or scikit-learn to import
    _predict_one(load_predictor(run), given, others, run, explain, year, json_)


def _answer_options(items: list[str]) -> dict[str, str]:
    """--answer COLUMN=VALUE options as {column: value}."""
    others = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise DataError(f"--answer {item!r}: expected COLUMN=VALUE")
        others[key.strip()] = value.strip()
    return others


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
    from ...data.survey import read_survey

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

    @contextlib.contextmanager
    def said():  # the file swapped in and said, with no Ctrl-C between them
        with uninterrupted():
            yield
            without = int((result["reason"] != "").sum())
            err.print(f"wrote {len(result)} rows to {output} ({without} without a prediction)")

    try:  # whole or not at all: Ctrl-C or a full disk leaves the earlier file as it was
        write_whole(output, lambda tmp: result.to_csv(tmp, index=False, float_format="%.6g"), said)
    except OSError as e:
        raise DataError(f"{output}: cannot write the predictions ({e.strerror or e})") from None


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
    from ...answerset import Refusal, canonical_names, check
    from ...predictor import person

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
        from ...explain import explain as explained

        why = explained(net, net.at_year(answers, net.dollars_year(year)[1]))
    if json_:  # what POST /predict answers for the same answers
        body = net.task_.answer(row) | {"year": int(row["year"]), "flags": [f.to_json() for f in flags]}
        sys.stdout.write(json.dumps(body | ({"explanation": why} if why else {}), ensure_ascii=False) + "\n")
        return
    out.print(net.task_.sentence(row), highlight=False)
    for flag in flags:
        err.print(f"note: {flag.message}", highlight=False, soft_wrap=True)
    if why:
        out.print(f"why: {why['sentence']}", highlight=False, soft_wrap=True)
        out.print(f"to change it: {why['counterfactual_sentence']}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def summary(run: RunArg) -> None:
    """The model as Keras's model.summary() shows it: layers, output shapes, parameters (the total is the weights
    in model.safetensors), and the answers it reads."""
    from ...predictor import load_predictor, summary_text

    out.print(summary_text(load_predictor(run)), highlight=False, markup=False, soft_wrap=True)


@app.command()
@user_errors
def answers(
    run: RunArg,
    json_: Annotated[bool, typer.Option("--json", help="As JSON: GET /model's `fields`.")] = False,
) -> None:
    """Each question the model reads, whether it may be blank, and every answer it accepts (the same for
    predict's flags, the Python API and the HTTP API)."""
    from ...predictor import load_predictor

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

    from ...recipe import validate_recipe
    from ...tasks import task_of

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
