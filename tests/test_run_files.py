"""Hostile run folders: every damaged file ends in one ArtifactError line naming it, never a traceback,
a hang or a huge allocation; undamaged runs load as they were saved."""

import hashlib
import json
import os
import re
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from safetensors.numpy import load_file, save
from typer.testing import CliRunner

from salarynet import artifacts
from salarynet.apps.cli import app
from salarynet.errors import ArtifactError
from salarynet.nn import model


class Raw(str):
    """JSON text put in as it is (1e400, NaN, 5,000 digits, deep brackets), where json.dumps would refuse or quote."""


def setting(key: str, value: Any) -> Callable[[Any], bytes]:
    """A damage: the file with the value at a dotted key ("model.layers.0.units") replaced."""

    def change(data: Any) -> bytes:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = "@raw@" if isinstance(value, Raw) else value
        text = json.dumps(data)
        return (text.replace('"@raw@"', value) if isinstance(value, Raw) else text).encode()

    return change


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


def deep(_: Any) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def damaged(source: Path, tmp_path: Path, name: str, change: Callable[[Any], bytes]) -> Path:
    """A copy of the run with one file changed (given its JSON, or its bytes for the weights) and, as someone
    editing both files would do, its checksum in model.json updated: the damage gets past the checksums."""
    run = Path(shutil.copytree(source, tmp_path / "run"))
    original = (run / name).read_bytes()
    content = change(json.loads(original) if name.endswith(".json") else original)
    (run / name).write_bytes(content)
    if name in artifacts.CHECKED:
        meta = json.loads((run / "model.json").read_text())
        meta["sha256"][name] = hashlib.sha256(content).hexdigest()
        (run / "model.json").write_text(json.dumps(meta))
    return run


@pytest.fixture
def source(request):
    """The run a case damages: the tutorial run, or one of the recommended (text, categories, multi-select)."""
    name = request.param
    return request.getfixturevalue("run_dir") if name == "tutorial" else request.getfixturevalue("runs") / name


def refused(run: Path, pattern: str) -> str:
    with pytest.raises(ArtifactError, match=pattern) as error:
        artifacts.load_run(run)
    message = str(error.value)
    assert "\n" not in message and len(message) <= 400, message
    return message


# 1. Nested or huge values and wrong JSON types in model.json and recipe.json.
JSON_CASES = [
    ("model.json", deep, r"damaged JSON \(nested too deeply\)"),
    ("model.json", setting("model", Raw("[" * 500 + "]" * 500)), r"damaged JSON \(nested more than 32 levels\)"),
    ("model.json", setting("model.layers.0.units", Raw("1e400")), r"damaged JSON \(the number 1e400 is out of range"),
    ("model.json", setting("model.in_size", Raw("9" * 5000)), r"damaged JSON \(the number 9+\.\.\. is too large"),
    ("model.json", setting("model.dropout", Raw("NaN")), r"damaged JSON \(NaN is not a number\)"),
    ("model.json", setting("model.layers.0.units", "12"), r"model\.layers\.0\.units: Input should be a valid integer"),
    ("model.json", setting("model.layers.0.units", 12.5), r"model\.layers\.0\.units: Input should be a valid integer"),
    ("model.json", setting("model.layers", {"units": 12}), r"model\.layers: Input should be a valid list"),
    ("model.json", setting("model", [4, 12]), r"model: Input should be a valid dictionary"),
    (
        "model.json",
        setting("model.layers.0.activation", "gelu"),
        r"model\.layers\.0\.activation: Input should be 'relu', 'sigmoid'",
    ),
    ("model.json", setting("model.collapse", 7), r"model: collapse 7 does not split the last layer's 2 classes"),
    ("model.json", setting("sha256", {}), r"sha256 lacks model\.safetensors"),
    ("model.json", setting("format", "salarynet-run/2"), r"format: Input should be 'salarynet-run/1'"),
    ("recipe.json", deep, r"damaged JSON \(nested too deeply\)"),
    ("recipe.json", lambda d: b"\xef\xbb\xbf" + dumps(d), r"damaged JSON \(Unexpected UTF-8 BOM"),
    ("recipe.json", setting("features.threshold", Raw("1e400")), r"damaged JSON \(the number 1e400 is out of range"),
    ("recipe.json", lambda d: dumps([d]), r"not a salarynet-run/1 recipe \(a JSON list where an object belongs\)"),
    ("recipe.json", setting("fit.epochs", "ten"), r"fit\.epochs: Input should be a valid integer"),
    ("recipe.json", setting("name", "x\n" * 10_000), r"name: String should match pattern"),
]


@pytest.mark.parametrize("name, change, pattern", JSON_CASES)
def test_nested_huge_and_mistyped_json_is_refused(run_dir, tmp_path, name, change, pattern):
    refused(damaged(run_dir, tmp_path, name, change), rf"{re.escape(name)}: {pattern}")


def test_the_cli_says_one_line_for_a_deeply_nested_file(run_dir, tmp_path):
    result = CliRunner().invoke(app, ["serve", str(damaged(run_dir, tmp_path, "model.json", deep)), "--port", "0"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "model.json: damaged JSON" in result.output


# 2. Sizes in model.json are counted against model.safetensors, never allocated.
SIZE_CASES = [
    setting("model.layers.0.units", 10**9),
    setting("model.embeddings", [[2**31 - 1, 2**31 - 1]]),
    setting("model.text", [2**31 - 1, 64]),
]


@pytest.mark.parametrize("change", SIZE_CASES)
def test_a_huge_model_is_refused_before_anything_is_allocated(run_dir, tmp_path, change):
    run = damaged(run_dir, tmp_path, "model.json", change)
    tracemalloc.start()
    try:
        refused(run, r"model\.json: describes [\d,]+ weights \([\d,]+ bytes\) but model\.safetensors holds [\d,]+")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_a_size_past_int32_is_refused(run_dir, tmp_path):
    refused(
        damaged(run_dir, tmp_path, "model.json", setting("model.in_size", 2**40)),
        r"model\.json: model\.in_size: Input should be less than or equal to 2147483647",
    )


def test_weights_of_another_type_or_garbage_are_refused(run_dir, tmp_path):
    doubled = {k: v.astype(np.float64) for k, v in load_file(run_dir / artifacts.WEIGHTS).items()}
    refused(
        damaged(run_dir, tmp_path, artifacts.WEIGHTS, lambda _: save(doubled)),
        r"model\.safetensors: dense\.0\.kernel is float64 \(4, 10\), expected float32 \(4, 10\)",
    )
    shutil.rmtree(tmp_path / "run")
    refused(
        damaged(run_dir, tmp_path, artifacts.WEIGHTS, lambda _: b"\xff" * 4096),
        r"model\.safetensors: damaged weights \(SafetensorError",
    )


def test_shapes_are_counted_as_init_makes_them():
    spec = model.ModelSpec(3, (5, 4), ("relu", "softmax"), embeddings=((6, 2), (4, 3)), text=(9, 2), wide=True)
    params = model.init(np.random.default_rng(0), spec)
    assert model.shapes(spec) == {name: value.shape for name, value in model.flatten(params).items()}
    back = model.unflatten(spec, model.flatten(params))
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(params)))


# 3. metrics.json and data.json must be objects: other code reads them with .get.
@pytest.mark.parametrize(
    "name, content, kind",
    [
        ("metrics.json", b"[]", "list"),
        ("metrics.json", b"3", "int"),
        ("data.json", b'"a run"', "str"),
        ("data.json", b"null", "NoneType"),
    ],
)
def test_records_that_are_not_objects_are_refused(run_dir, tmp_path, name, content, kind):
    record = name.removesuffix(".json")
    refused(
        damaged(run_dir, tmp_path, name, lambda _: content),
        rf"{record}\.json: not a salarynet-run/1 {record} record \(a JSON {kind} where an object belongs\)",
    )


# 4. Only regular files are read, without blocking, and only as much as a run file may hold.
def as_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def as_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def as_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # opening it to read would wait for a writer forever: the loader must not open it


def as_huge(path: Path) -> None:
    os.truncate(path, (artifacts.MAX_WEIGHTS if path.name == artifacts.WEIGHTS else artifacts.MAX_JSON) + 1)  # sparse


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="POSIX special files")
@pytest.mark.parametrize(
    "name, make, pattern",
    [
        ("model.safetensors", as_folder, "not a regular file"),
        ("model.safetensors", as_dev_zero, "not a regular file"),
        ("preprocessing.json", as_fifo, "not a regular file"),
        ("model.json", as_fifo, "not a regular file"),
        ("metrics.json", as_fifo, "not a regular file"),
        ("data.json", as_dev_zero, "not a regular file"),
        ("model.safetensors", as_huge, r"1,073,741,825 bytes, more than a run file may hold"),
        ("recipe.json", as_huge, r"67,108,865 bytes, more than a run file may hold"),
    ],
)
def test_special_and_oversized_files_are_refused_unopened(run_dir, tmp_path, name, make, pattern):
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    make(run / name)
    refused(run, rf"{re.escape(name)}: {pattern}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_folder_whose_model_json_is_a_fifo_is_not_replaced(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkfifo(folder / "model.json")
    with pytest.raises(ArtifactError, match=r"odd: exists and is not a salarynet run"):
        artifacts.write_run(folder, {"model.json": b"{}"})


# 5. preprocessing.json: its schema, and agreement with model.json.
@pytest.mark.parametrize(
    "source, change, pattern",
    [
        (
            "tutorial",
            setting("min", [1.0, 1.0, 0.0]),
            r"min, max and columns make 3, 4 and 4 numeric inputs; model\.json's in_size is 4",
        ),
        ("tutorial", setting("max.0", "7"), r"max\.0: Input should be a valid number"),
        (
            "tutorial",
            setting("columns.0.codes.18-24", "two"),
            r"columns\.0\.codes\.18-24: Input should be a valid number",
        ),
        ("tutorial", setting("columns", {"age": {}}), r"columns: Input should be a valid list"),
        ("tutorial", setting("task", "ranking"), r"task: Input should be 'binary', 'bands' or 'regression'"),
        ("tutorial", setting("spread", 0), r"spread: Input should be greater than 0"),
        ("recommended", setting("text.idf", [1.0]), r"text: seen has \d+ buckets but idf 1 weights"),
        ("recommended", setting("text.seen.0", 0), r"text: seen holds a bucket outside 1\.\.1048575"),
        (
            "recommended",
            setting("text.max_tokens", 10**9),
            r"text\.max_tokens: Input should be less than or equal to 4096",
        ),
        ("recommended", setting("text", None), r"text: a vocabulary of None; model\.json's text table is \(\d+, 32\)"),
        ("recommended", setting("columns.0.codes.25-34", 99), r"columns\.0\.codes: must number the answers 1\.\.7"),
        (
            "recommended",
            setting("columns.7.codes.california", 2.5),
            r"columns\.7\.codes: must number the options 0\.\.50",
        ),
        ("recommended", setting("columns.0.encoding", "ordinal"), r"min, max and columns make 63, 63 and 64 numeric"),
    ],
    indirect=["source"],
)
def test_preprocessing_that_disagrees_with_its_schema_or_model_is_refused(source, tmp_path, change, pattern):
    refused(damaged(source, tmp_path, "preprocessing.json", change), rf"preprocessing\.json: {pattern}")


# The checks pass real runs, loaded exactly as saved.
@pytest.mark.parametrize("source", ["tutorial", "recommended", "recommended-bands", "recommended-range"], indirect=True)
def test_real_runs_load_as_saved(source):
    run = artifacts.load_run(source)
    saved = load_file(source / artifacts.WEIGHTS)
    flat = model.flatten(run.params)
    assert flat.keys() == saved.keys() and all(np.array_equal(flat[k], saved[k]) for k in saved)
    skeleton = model.init(np.random.default_rng(0), run.spec)
    assert jax.tree_util.tree_structure(run.params) == jax.tree_util.tree_structure(skeleton)
    assert run.spec.to_json() == json.loads((source / "model.json").read_text())["model"]
    assert run.features.to_json() == json.loads((source / "preprocessing.json").read_text())
    assert run.record == json.loads((source / "metrics.json").read_text())


def test_the_tutorial_run_predicts_as_trained(trained, prepared, run_dir):
    from salarynet.estimator import load

    run = load(run_dir)
    again = run.metrics_of(run.finish(run.raw(prepared.x_test), None), prepared.y_test, prepared.salary_test, 0)
    assert again == trained.metrics_
