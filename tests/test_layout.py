"""The package's folders show its architecture: imports point down the layers, the pure-JAX core touches no
pandas or files, and the task is never a string compared outside tasks.py."""

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "salarynet"

# Lower layers first; a module imports only from layers below its own (or its own folder, for nn/data/apps).
LAYERS = [
    ["errors", "reasons"],
    ["nn", "data"],
    ["tasks", "years"],
    ["recipe"],
    ["features"],
    ["rows", "plots", "linear", "conformal", "drift", "answerset"],
    ["fitted"],
    ["fitting", "artifacts"],
    ["predictor", "runlock"],
    ["training", "explain"],
    ["evaluation"],
    ["estimator"],
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
        if parts[:2] == ("apps", "cli"):
            continue
        tree = ast.parse(path.read_text())
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"print", "exit"}, path.name
        assert "sys.exit" not in path.read_text(), path.name


# Limits that keep each module one idea and each function readable at a glance (issue 30): a module over 600
# lines or a function over 60 of its own lines (nested functions counted apart) is two things.
MODULE_LINES, FUNCTION_LINES, REPEATED_LINES = 600, 60, 6


def _functions(tree: ast.AST):
    """(name, first line, own lines) of every function, its nested functions' lines left out of its own."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            nested, stack = 0, list(ast.iter_child_nodes(node))
            while stack:
                child = stack.pop()
                if isinstance(child, kinds):
                    nested += child.end_lineno - child.lineno + 1
                else:
                    stack.extend(ast.iter_child_nodes(child))
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1 - nested


def test_no_module_or_function_is_too_long():
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MODULE_LINES:
            long_modules.append(f"{path.relative_to(PACKAGE)}: {len(text.splitlines())} lines")
        for name, line, own in _functions(ast.parse(text)):
            if own > FUNCTION_LINES:
                long_functions.append(f"{path.relative_to(PACKAGE)}:{line} {name}: {own} lines")
    assert long_modules == [], f"modules over {MODULE_LINES} lines"
    assert long_functions == [], f"functions over {FUNCTION_LINES} lines of their own"


def _significant_lines(path: Path) -> list[tuple[int, str]]:
    """A module's lines that say something: not blank, not a comment, not a lone bracket, not an import."""
    tree = ast.parse(path.read_text())
    imports = {
        i
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for i in range(node.lineno, node.end_lineno + 1)
    }
    return [
        (i, line.strip())
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if i not in imports and line.strip() and not line.strip().startswith("#") and line.strip().strip("()[]{},:")
    ]


def test_no_block_of_lines_is_written_twice():
    """One helper per idea: no run of REPEATED_LINES lines stands twice in the package (spaces aside)."""
    places = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = _significant_lines(path)
        for k in range(len(lines) - REPEATED_LINES + 1):
            block = "\n".join(text for _, text in lines[k : k + REPEATED_LINES])
            places[block].append(f"{path.relative_to(PACKAGE)}:{lines[k][0]}")
    repeated = {block: where for block, where in places.items() if len(where) > 1}
    assert not repeated, "blocks written twice: " + "; ".join(" and ".join(w) for w in repeated.values())


def test_the_limits_see_what_they_count(tmp_path):
    """The checks above fail where they should: a long function, and a block written twice."""
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    inner = body.replace("    ", "        ")
    source = f"def outer():\n{body}\n    def inner():\n{inner}\n        return 1\n    return x0\n"
    assert [own for name, _, own in _functions(ast.parse(source)) if name == "outer"] == [FUNCTION_LINES + 2]
    twice = tmp_path / "twice.py"
    twice.write_text("import os\n\n" + "\n".join(f"a{i} = {i}" for i in range(REPEATED_LINES)) + "\n# x\n")
    assert len(_significant_lines(twice)) == REPEATED_LINES


def test_every_import_inside_the_package_resolves():
    """Imports made inside functions (the heavy libraries load where they are used) name modules and names that
    exist: a module moved into a folder breaks them only when the command runs, so they are checked here."""
    import importlib
    import importlib.util

    broken = []
    for path, parts in modules():
        package = "salarynet." + ".".join(parts[:-1]) if len(parts) > 1 else "salarynet"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                module = importlib.import_module(base)
                for alias in node.names:
                    if not hasattr(module, alias.name) and importlib.util.find_spec(f"{base}.{alias.name}") is None:
                        broken.append(f"{'/'.join(parts)}:{node.lineno} {base}.{alias.name}")
    assert broken == []
