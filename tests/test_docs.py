"""The README's console samples are true: every `$ uv run salarynet ...` and `$ curl ...` in a ```console block
is run as written, in the README's order, in an empty folder (with the clone's tests/ beside it, for the fixture
files the samples name), and what it prints must match the sample line for line (seconds and models/s are
masked, and the plain progress lines `… fit: 10/100 epochs ...` printed where stderr is no terminal are
left out: a terminal shows a live bar that vanishes; a line `...` stands for lines left out of the sample, matched against any lines up to the next sample
line; a command with no sample lines below it is run, not compared, and must succeed).
A stale number fails here.

On a failure the message shows what the command prints now: paste it into the README.
"""

import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from salarynet.apps.cli import app

README = ROOT / "README.md"
TIMINGS = re.compile(r"\d+(?:\.\d+)? (s\b|models/s)")


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
    """The README's curl against the app `salarynet serve` would serve, through FastAPI's TestClient."""
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


SAMPLES = samples(README.read_text())


def test_the_readme_has_console_samples():
    commands = [c for c, _ in SAMPLES]
    assert any(c.startswith("uv run salarynet train") for c in commands)
    assert any(c.startswith("uv run salarynet predict runs/recommended-range") for c in commands)
    assert any(c.startswith("curl ") for c in commands)


def test_every_console_sample_prints_what_the_readme_says(tmp_path, monkeypatch):
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()
    servers: dict = {}
    stale = []
    for command, expected in SAMPLES:
        if command.startswith("uv run salarynet serve "):
            servers["run"] = shlex.split(command)[4]
            continue
        if command.startswith("curl "):
            printed = run_curl(command, tmp_path, servers)
            same = [json.loads(printed[0])] == [json.loads(e) for e in expected]
        elif command.startswith("uv run salarynet "):
            result = runner.invoke(app, shlex.split(command)[3:], prog_name="salarynet")
            assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
                f"{command}: {result.exception!r}"
            )
            printed = result.output.splitlines()
            if not expected:  # run, not compared: it must succeed
                assert result.exit_code == 0, f"$ {command}\n{result.output}"
                continue
            same = matches(expected, printed)
        else:
            pytest.fail(f"README console sample not runnable here: {command}")
        if not same:
            stale.append(f"$ {command}\n--- README:\n" + "\n".join(expected) + "\n--- now:\n" + "\n".join(printed))
    assert not stale, "README samples that differ from what the commands print:\n\n" + "\n\n".join(stale)


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


def _benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_speed_tables_are_the_recorded_benchmarks():
    """The README's fit and whole-command tables are what `fit_speed.py --readme` and `wall_time.py --readme`
    print from the results the benchmarks recorded (--record): re-measure, then paste."""
    results, text = ROOT / "benchmarks" / "results", README.read_text(encoding="utf-8")
    fit_speed, wall_time = _benchmark("fit_speed"), _benchmark("wall_time")
    assert fit_speed.readme_table(json.loads((results / "fit_speed.json").read_text())) in text
    assert wall_time.table(json.loads((results / "wall_time.json").read_text())) in text
    # the out-of-time table: benchmarks/out_of_time.py --record (its first line names the command)
    assert (results / "out_of_time.md").read_text(encoding="utf-8").split("\n", 1)[1].strip() in text
