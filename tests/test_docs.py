"""The documentation is true: the README and every page of the site (docs/, in mkdocs.yml's nav order).

Every `$ uv run salarynet ...` and `$ curl ...` in a ```console block is run as written, the README's first and
then each page's in the order of the site's nav, all in one empty folder (with the clone's tests/ beside it, for
the fixture files the samples name), so that a later sample uses the runs an earlier one trained. What it prints
must match the sample line for line (seconds and models/s are masked, and the plain progress lines
`… fit: 10/100 epochs ...` printed where stderr is no terminal are left out: a terminal shows a live bar that
vanishes; a line `...` stands for lines left out of the sample, matched against any lines up to the next sample
line; a command with no sample lines below it is run, not compared, and must succeed). A stale number fails here.
```bash blocks are not run: they hold commands with placeholders (`<your-survey.csv>`) or that take too long.

On a failure the message shows what the command prints now: paste it into the page it names.

Beside the samples: the site builds with `mkdocs build --strict` (no warning: every link and anchor resolves,
every page is in the nav, the Python API's docstrings render), the README stays a front page, the benchmark
tables are the recorded ones, and the reference pages name every recipe key and column.
"""

import functools
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from salarynet.apps.cli import app

README = ROOT / "README.md"
DOCS = ROOT / "docs"
TIMINGS = re.compile(r"\d+(?:\.\d+)? (s\b|models/s)")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml as plain data: a tag MkDocs resolves (`!!python/name:...`, `!ENV`) is read as its bare value."""


_Loader.add_multi_constructor("", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def _hooks():
    """docs/hooks.py, the MkDocs hooks (not a package): the tutorial page is written from the notebook there."""
    spec = importlib.util.spec_from_file_location("salarynet_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nav_pages() -> list[str]:
    """The site's pages, in the order of mkdocs.yml's nav (paths under docs/)."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)

    def walk(items) -> list[str]:
        found = []
        for item in items:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict):
                for value in item.values():
                    found += walk(value) if isinstance(value, list) else [value] if isinstance(value, str) else []
        return found

    return [page for page in walk(config["nav"]) if not re.match(r"^[a-z]+://", page)]


def page_text(page: str) -> str:
    """A page's Markdown: its file, or for the tutorial, what the hook writes from the notebook."""
    path = DOCS / page
    if path.is_file():
        return path.read_text(encoding="utf-8")
    hooks = _hooks()
    notebook = DOCS / hooks.NOTEBOOK
    if page == hooks.TUTORIAL and notebook.is_file():
        return hooks.notebook_markdown(notebook)
    raise AssertionError(f"mkdocs.yml's nav names docs/{page}, which is neither a file nor written by docs/hooks.py")


def documents() -> list[tuple[str, str]]:
    """(name, Markdown): the README, then every page of the site in nav order."""
    return [("README.md", README.read_text(encoding="utf-8"))] + [(f"docs/{p}", page_text(p)) for p in nav_pages()]


def samples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ ` command of each ```console block, in order."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            while command.endswith("\\") or not complete(command):  # a continued line, or an open quote
                i += 1
                command = command[:-1] + " " + lines[i].strip() if command.endswith("\\") else command + "\n" + lines[i]
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            while output and not output[-1].strip():
                output.pop()
            found.append((command, output))
    return found


def complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # No closing quotation
        return False
    return True


def comparable(line: str) -> str:
    return TIMINGS.sub(r"<n> \1", line.rstrip())


# Figures a trained model prints depend on the CPU's floating-point order (XLA's vector width and fused
# multiply-adds, the BLAS kernel numpy picks): the pages say so in these words, and a figure passes within them.
TOLERANCE_TEXT = "dollar figures within 3% of the salary estimate, and probabilities and metrics within 0.03 (3 points)"
DOLLARS, SHARE = 0.03, 0.03
NUMBER = re.compile(r"[+-]?\$?\d[\d,]*(?:\.\d+)?")
CONFUSION = re.compile(r"\[(\d+) (\d+); (\d+) (\d+)\]")


def _value(token: str) -> float:
    return float(token.replace("$", "").replace(",", ""))


def close(expected: str, printed: str, scale: float | None = None) -> bool:
    """Two figures of a trained model within TOLERANCE_TEXT: dollars within 3% of the answer's salary (`scale`,
    else the larger figure), a decimal (probability, metric) within 0.03, an integer exactly."""
    if expected == printed:
        return True
    if "$" in expected and "$" in printed:
        a, b = _value(expected), _value(printed)
        return abs(a - b) <= DOLLARS * (scale or max(abs(a), abs(b)))
    if "." in expected and "." in printed:
        return abs(_value(expected) - _value(printed)) <= SHARE
    return False


def line_close(expected: str, printed: str, scale: float | None = None) -> bool:
    """The same words, and every figure close(): a count of points or a percentage within 3, a confusion
    matrix's counts within 3% of its rows."""
    if expected == printed:
        return True
    texts = [re.split(NUMBER, l) for l in (expected, printed)]
    if [" ".join(t.split()) for t in texts[0]] != [" ".join(t.split()) for t in texts[1]]:
        return False
    rows = [sum(map(int, m.groups())) for m in CONFUSION.finditer(printed)]
    for a, b, after in zip(NUMBER.findall(expected), NUMBER.findall(printed), texts[0][1:]):
        if close(a, b, scale):
            continue
        whole = "$" not in a and "." not in a
        if whole and after.startswith((" points", "%")) and abs(_value(a) - _value(b)) <= SHARE * 100:
            continue
        if whole and rows and abs(_value(a) - _value(b)) <= SHARE * max(rows):
            continue
        return False
    return True


def headline(lines: list[str]) -> float | None:
    """The answer's salary, the scale of its dollar figures: the first dollar figure of a `salary about` line."""
    for line in lines:
        if line.startswith("salary about"):
            return _value(NUMBER.findall(line[line.index("$") :])[0])
    return None


def matches(expected: list[str], printed: list[str], exact: bool = False) -> bool:
    """Line for line, where a sample line `...` skips any printed lines up to the next sample line; figures within
    TOLERANCE_TEXT unless exact."""
    printed = [comparable(l) for l in printed if not l.startswith("… ")]  # progress: a live bar on a terminal
    expected = [comparable(l) for l in expected]
    scale = headline(expected)
    same = (lambda a, b: a == b) if exact else (lambda a, b: line_close(a, b, scale))

    @functools.cache
    def from_(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(printed)
        if expected[i].strip() == "...":
            return any(from_(i + 1, k) for k in range(j, len(printed) + 1))
        return j < len(printed) and same(expected[i], printed[j]) and from_(i + 1, j + 1)

    return from_(0, 0)


def json_close(expected, printed, scale: float | None = None) -> bool:
    """A served answer against the page's, figures within TOLERANCE_TEXT (a range's salaries: of its salary)."""
    if isinstance(expected, dict) and isinstance(printed, dict):
        scale = scale or (expected.get("salary") if isinstance(expected.get("salary"), (int, float)) else None)
        return expected.keys() == printed.keys() and all(json_close(expected[k], printed[k], scale) for k in expected)
    if isinstance(expected, list) and isinstance(printed, list):
        return len(expected) == len(printed) and all(json_close(a, b, scale) for a, b in zip(expected, printed))
    if isinstance(expected, str) and isinstance(printed, str):
        return line_close(expected, printed, scale)
    if isinstance(expected, float) and isinstance(printed, (int, float)) and not isinstance(printed, bool):
        if abs(expected) <= 1 and abs(printed) <= 1:
            return abs(expected - printed) <= SHARE
        return abs(expected - printed) <= DOLLARS * (scale or max(abs(expected), abs(printed)))
    return expected == printed


def run_curl(command: str, folder: Path, servers: dict) -> list[str]:
    """A page's curl against the app `salarynet serve` would serve, through FastAPI's TestClient."""
    from fastapi.testclient import TestClient

    from salarynet.apps.serve import create_app

    words = shlex.split(command)
    url = next(w for w in words if "/predict" in w or "/model" in w or "/health" in w)
    body = words[words.index("-d") + 1] if "-d" in words else None
    run = servers["run"]
    with TestClient(create_app(folder / run)) as client:
        path = url[url.index("/", url.index(":")) :]
        response = (
            client.post(path, content=body, headers={"content-type": "application/json"}) if body else client.get(path)
        )
    return [response.text]


SAMPLES = [(name, command, expected) for name, text in documents() for command, expected in samples(text)]


def test_the_docs_have_console_samples():
    commands = [c for _, c, _ in SAMPLES]
    assert any(c.startswith("uv run salarynet train") for c in commands)
    assert any(c.startswith("uv run salarynet predict runs/recommended-range") for c in commands)
    assert any(c.startswith("curl ") for c in commands)
    assert {name for name, _, _ in SAMPLES} >= {"README.md", "docs/how-to/train.md", "docs/reference/errors.md"}


def test_every_console_sample_prints_what_the_page_says(tmp_path, monkeypatch):
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()
    servers: dict = {}
    stale = []
    documents_text = {name: " ".join(text.split()) for name, text in documents()}
    for name, command, expected in SAMPLES:
        if command.startswith("uv run salarynet serve "):
            servers["run"] = shlex.split(command)[4]
            continue
        if command.startswith("curl "):
            printed = run_curl(command, tmp_path, servers)
            page = [json.loads(e) for e in expected]
            same = json_close(page, [json.loads(printed[0])])
            loose = same and page != [json.loads(printed[0])]
        elif command.startswith("uv run salarynet "):
            result = runner.invoke(app, shlex.split(command)[3:], prog_name="salarynet")
            assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
                f"{name}: {command}: {result.exception!r}"
            )
            printed = result.output.splitlines()
            if not expected:  # run, not compared: it must succeed
                assert result.exit_code == 0, f"{name}: $ {command}\n{result.output}"
                continue
            same = matches(expected, printed)
            loose = same and not matches(expected, printed, exact=True)
        else:
            pytest.fail(f"{name}: console sample not runnable here: {command}")
        if loose and TOLERANCE_TEXT not in documents_text[name]:
            stale.append(
                f"{name}: $ {command}\nprints other figures than the page: the page must say {TOLERANCE_TEXT!r}"
            )
        if not same:
            stale.append(
                f"{name}: $ {command}\n--- the page:\n" + "\n".join(expected) + "\n--- now:\n" + "\n".join(printed)
            )
    assert not stale, "console samples that differ from what the commands print:\n\n" + "\n\n".join(stale)


def test_sample_matching_masks_timings_and_skips_only_where_told():
    assert matches(
        ["fit: 100 epochs in 0.96 s; loss 0.6025", "...", "saved"],
        ["… fit: 10/100 epochs loss 0.7", "fit: 100 epochs in 2.70 s; loss 0.6025", "a table", "more", "saved"],
    )
    assert not matches(["fit: 100 epochs in 0.96 s; loss 0.6025"], ["fit: 100 epochs in 0.96 s; loss 0.6026"], True)
    assert not matches(["a", "b"], ["a", "extra", "b"])  # no `...`: every line must be there


def test_trained_figures_match_within_the_stated_tolerance_and_nothing_else_moves():
    salary = ["salary about $144,000 a year (80% range $91,100 - $203,400)", "why: title (+$25,468); state (-$10,576)"]
    assert matches(
        salary,
        ["salary about $140,000 a year (80% range $91,000 - $200,000)", "why: title (+$25,062); state (-$7,400)"],
    )
    assert not matches(salary, ["salary about $139,000 a year (80% range $91,000 - $200,000)", salary[1]])  # 3.5%
    assert not matches(salary, [salary[0], "why: title (+$25,468); state (-$15,000)"])  # 3% of $144,000 is $4,320
    assert not matches(salary, [salary[0].replace("a year", "a month"), salary[1]])  # words never move
    assert matches(["│ ROC AUC │ 0.6258 │", "45% (+12 points)"], ["│ ROC AUC │ 0.6470 │", "47% (+10 points)"])
    assert not matches(["│ ROC AUC │ 0.6258 │"], ["│ ROC AUC │ 0.6600 │"])
    assert not matches(["45% (+12 points)"], ["49% (+12 points)"])
    assert not matches(["read 23783, kept 17559"], ["read 23783, kept 17560"])  # counts are exact
    assert matches(["│ confusion │ [3274 312; 1287 395] │"], ["│ confusion │ [3238 348; 1236 446] │"])
    assert not matches(["│ confusion │ [3274 312; 1287 395] │"], ["│ confusion │ [3074 512; 1287 395] │"])
    page = {"probability": 0.918856, "class": 1, "effect_text": "+12 points", "salary": 144000.0, "low": 91100.0}
    assert json_close(page, page | {"probability": 0.917631, "effect_text": "+11 points", "low": 93000.0})
    assert not json_close(page, page | {"class": 0})
    assert not json_close(page, page | {"probability": 0.85})
    assert not json_close(page, page | {"low": 97000.0})


def test_samples_join_continued_lines_and_open_quotes():
    text = "```console\n$ uv run salarynet predict r \\\n    --title 'A\nB'\nout 1\n\n$ curl x\n{}\n```\n"
    assert samples(text) == [("uv run salarynet predict r  --title 'A\nB'", ["out 1"]), ("curl x", ["{}"])]


def test_the_nav_is_read_in_order_and_the_tutorial_comes_from_the_notebook():
    pages = nav_pages()
    assert pages[0] == "index.md" and "reference/cli.md" in pages and len(pages) == len(set(pages))
    assert pages.index("how-to/train.md") < pages.index("how-to/recommended.md") < pages.index("how-to/serve.md")
    hooks = _hooks()
    assert "tutorial.md" in pages and not (DOCS / "tutorial.md").exists() and (DOCS / hooks.NOTEBOOK).is_file()
    text = page_text("tutorial.md")
    assert text.startswith("#") and "tutorial.ipynb" in text


def test_a_notebook_becomes_markdown_code_text_and_images(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "Some *prose*."]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "source": "print('hi')\nx = '```'",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["hi\n"]},
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/plain": "3"},
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "iVBO\nRw0=", "text/plain": "<Figure>"},
                    },
                ],
            },
            {"cell_type": "raw", "metadata": {}, "source": "left out"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "t.ipynb"
    path.write_text(json.dumps(notebook))
    text = _hooks().notebook_markdown(path)
    assert text.startswith("# Title\nSome *prose*.\n\n````python\nprint('hi')\nx = '```'\n````\n\n")
    assert "```text\nhi\n```\n\n```text\n3\n```\n\n![figure](data:image/png;base64,iVBORw0=)" in text
    assert "<Figure>" not in text and "left out" not in text


def test_the_cli_reference_lists_every_command_and_option():
    import typer

    text = _hooks().cli_markdown()
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="salarynet")
    for name in root.list_commands(ctx):
        assert f"## `salarynet {name}`" in text
    assert "## `salarynet data info`" in text.replace("###", "##")
    assert "| `--seeds` | integer, `1<=x<=256` | `1` |" in text
    assert "| `--overwrite`, `--no-overwrite` | flag | `--no-overwrite` |" in text
    assert "runs/&lt;recipe name&gt;" in text and "`--help`" not in text


def test_the_site_builds_without_a_warning(tmp_path):
    """`mkdocs build --strict`: a broken link or anchor, a page outside the nav, a docstring griffe cannot read
    or a failing hook fails the build."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    assert (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8").count("salarynet train") > 1
    assert "SalaryNet" in (site / "reference" / "python" / "index.html").read_text(encoding="utf-8")
    assert (site / "tutorial" / "index.html").is_file()


def test_the_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the details into docs/"
    assert not [l for l in lines if l.startswith("|")], "no tables in the README: they belong in docs/"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", "\n".join(lines)):
        if not re.match(r"^[a-z]+://", target):
            assert (ROOT / target).exists(), f"README.md links to {target}, which is not in the clone"


def test_the_reference_names_every_recipe_key_and_column():
    from pydantic import BaseModel

    from salarynet.data.schemas import COLUMNS
    from salarynet.recipe import Recipe, _section

    def keys(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            section = _section(field.annotation)
            is_list = "list[" in str(field.annotation)
            found.append(prefix + name)
            if section is not None:
                found += keys(section, f"{prefix}{name}.{'N.' if is_list else ''}")
        return found

    recipes = (DOCS / "reference" / "recipes.md").read_text(encoding="utf-8")
    missing = [key for key in keys(Recipe, "") if f"`{key}`" not in recipes]
    assert not missing, f"docs/reference/recipes.md does not name the recipe keys {missing}"
    data = (DOCS / "reference" / "data.md").read_text(encoding="utf-8")
    assert not [c for c in COLUMNS if f"| `{c}` |" not in data], "docs/reference/data.md: a column is missing"


def _benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_speed_tables_are_the_recorded_benchmarks():
    """The benchmarks page's fit and whole-command tables are what `fit_speed.py --readme` and `wall_time.py
    --readme` print from the results the benchmarks recorded (--record): re-measure, then paste."""
    results, text = ROOT / "benchmarks" / "results", (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    fit_speed, wall_time = _benchmark("fit_speed"), _benchmark("wall_time")
    assert fit_speed.readme_table(json.loads((results / "fit_speed.json").read_text())) in text
    assert wall_time.table(json.loads((results / "wall_time.json").read_text())) in text
    # the out-of-time table: benchmarks/out_of_time.py --record (its first line names the command)
    assert (results / "out_of_time.md").read_text(encoding="utf-8").split("\n", 1)[1].strip() in text
