"""The package's folders show its architecture: imports point down the layers, the pure-JAX core touches no
pandas or files, and the task is never a string compared outside tasks.py."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "salarynet"

# Lower layers first; a module imports only from layers below its own (or its own folder, for nn/data/apps).
LAYERS = [
    ["errors"],
    ["nn", "data"],
    ["tasks"],
    ["recipe"],
    ["features"],
    ["rows", "plots", "linear", "conformal", "drift", "answerset"],
    ["fitting", "artifacts"],
    ["predictor"],
    ["training"],
    ["evaluation"],
    ["estimator"],
    ["explain"],
    ["apps"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] not in ("__init__", "__main__"):
            yield path, parts


def imported(path: Path, parts: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The salarynet modules a file imports (relative imports resolved), as path tuples under the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "salarynet":
                target = node.module.split(".")[1:]
            else:
                continue
            if node.module is None or not target:  # `from . import a, b`: each name is a module
                found.update(tuple(target + [alias.name]) for alias in node.names)
            else:
                found.add(tuple(target))
        elif isinstance(node, ast.Import):
            found.update(tuple(a.name.split(".")[1:]) for a in node.names if a.name.startswith("salarynet."))
    return {t for t in found if t and t[0] != "__init__"}


def test_every_module_has_a_layer():
    assert {parts[0] for _, parts in modules()} <= set(RANK)


@pytest.mark.parametrize("path, parts", list(modules()), ids=[path.stem for path, _ in modules()])
def test_imports_point_down(path, parts):
    own = RANK[parts[0]]
    for target in imported(path, parts):
        if target[0] == parts[0] and len(parts) > 1:  # within its own folder
            continue
        if target[0] in ("__version__",):
            continue
        assert RANK[target[0]] < own, f"{'/'.join(parts)} imports {'.'.join(target)}: upward or sideways"


def test_the_pure_core_imports_no_pandas_and_opens_no_files():
    for path in (PACKAGE / "nn").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) (pandas|rich|typer|dask|fastapi)", text, re.M), path.name
        assert "open(" not in text and "Path(" not in text, path.name


def test_the_task_is_not_a_string_compared_outside_tasks():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{i}"
        for path, _ in modules()
        if path.name != "tasks.py"
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"task\s*[!=]=|\.task in |== \"(binary|bands|regression)\"", line)
    ]
    assert offenders == []


def test_only_the_command_line_prints_or_exits():
    for path, parts in modules():
        if parts == ("apps", "cli"):
            continue
        tree = ast.parse(path.read_text())
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"print", "exit"}, path.name
        assert "sys.exit" not in path.read_text(), path.name
