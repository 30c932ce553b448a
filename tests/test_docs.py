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


def matches(expected: list[str], printed: list[str]) -> bool:
    """Line for line, where a sample line `...` skips any printed lines up to the next sample line."""
    printed = [comparable(l) for l in printed if not l.startswith("… ")]  # progress: a live bar on a terminal
    pattern = "\n".join(".*?" if l.strip() == "..." else re.escape(comparable(l)) for l in expected)
    return re.fullmatch(pattern, "\n".join(printed), flags=re.S) is not None


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
    for name, command, expected in SAMPLES:
        if command.startswith("uv run salarynet serve "):
            servers["run"] = shlex.split(command)[4]
            continue
        if command.startswith("curl "):
            printed = run_curl(command, tmp_path, servers)
            same = [json.loads(printed[0])] == [json.loads(e) for e in expected]
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
        else:
            pytest.fail(f"{name}: console sample not runnable here: {command}")
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
    assert not matches(["fit: 100 epochs in 0.96 s; loss 0.6025"], ["fit: 100 epochs in 0.96 s; loss 0.6026"])
    assert not matches(["a", "b"], ["a", "extra", "b"])  # no `...`: every line must be there


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
