"""The command line as people use it: help, version, what a typo is told, answers as people write them, runs
never replaced by default, and progress also where the output is piped."""

import json

import pytest
from conftest import TIDY
from typer.testing import CliRunner

from salarynet import artifacts
from salarynet.apps.cli import app
from salarynet.data.schemas import normalise
from salarynet.errors import RecipeError
from salarynet.features import FeatureState
from salarynet.recipe import load_recipe

runner = CliRunner()


def invoke(*args, **env):
    return runner.invoke(app, [str(a) for a in args], prog_name="salarynet", env={"COLUMNS": "200", **env})


def test_version_and_help_name_what_there_is():
    assert invoke("--version").stdout.strip() == "salarynet 0.1.0"
    assert all(
        name in invoke("train", "--help").stdout for name in ("tutorial", "recommended-bands", "recommended-range")
    )
    sweep_help = invoke("sweep", "--help").stdout
    assert "[grid]" in sweep_help and "[search]" in sweep_help and "[values, ...]" in sweep_help


def test_a_misspelt_recipe_key_is_told_the_sections_keys():
    with pytest.raises(RecipeError, match=r"fit\.epoch: unknown key; fit takes epochs, batch_size, validation_split"):
        load_recipe("tutorial", ["fit.epoch=20"])
    with pytest.raises(
        RecipeError, match=r"model\.layers\.0\.unit: unknown key; model\.layers\.0 takes units, activation"
    ):
        load_recipe("tutorial", ["model.layers.0.unit=3"])


def test_choices_match_whatever_their_case():
    recipe = load_recipe("tutorial", ["compile.optimizer=Adam", "model.layers.0.activation=ReLU"])
    assert recipe.compile.optimizer == "adam" and recipe.model.layers[0].activation == "relu"


def test_the_spaces_around_a_hyphen_do_not_matter(run_dir):
    assert normalise("5 - 7 years") == normalise("5-7 YEARS") == normalise(" 5 -7  years")
    flags = ["--age", "25-34", "--education", "Master's degree", "--gender", "Woman"]
    spaced = invoke("predict", run_dir, "--experience", "5 - 7 years", *flags)
    assert spaced.exit_code == 0, spaced.output
    assert spaced.stdout == invoke("predict", run_dir, "--experience", "5-7 years", *flags).stdout
    saved = {
        "columns": [{"column": "experience_field", "encoding": "category", "codes": {"2 - 4 years": 1.0}}],
        "min": [],
        "max": [],
        "text": None,
        "task": "binary",
        "threshold": 1e5,
        "bands": [1e5],
        "scale": "minmax",
    }
    assert FeatureState.from_json(saved).columns[0].codes == {"2-4 years": 1.0}  # a run saved before the folding


def test_train_never_replaces_a_run_unless_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("tutorial", "tutorial-2"):
        result = invoke("train", "--data", TIDY, "--set", "fit.epochs=1")
        assert result.exit_code == 0 and f"saved runs/{folder}/" in result.stdout, result.output
    before = (tmp_path / "runs" / "tutorial" / "model.safetensors").read_bytes()
    refused = invoke("train", "--data", TIDY, "--set", "fit.epochs=1", "--out", "runs/tutorial")
    assert refused.exit_code == 2 and "holds a run already; --overwrite replaces it" in refused.stderr
    assert (tmp_path / "runs" / "tutorial" / "model.safetensors").read_bytes() == before
    replaced = invoke("train", "--data", TIDY, "--set", "fit.epochs=2", "--out", "runs/tutorial", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert len(artifacts.load_run(tmp_path / "runs" / "tutorial").record) and sorted(
        p.name for p in (tmp_path / "runs").iterdir()
    ) == ["tutorial", "tutorial-2"]


def test_piped_progress_is_a_line_per_step_and_the_kept_epoch_is_named(tmp_path):
    result = invoke(
        "train",
        "--data",
        TIDY,
        "--out",
        tmp_path / "r",
        "--set",
        "fit.epochs=6",
        "--set",
        "fit.early_stopping=1",
        "--set",
        "compile.optimizer=adam",
        "--set",
        "compile.learning_rate=0.3",
    )
    assert result.exit_code == 0, result.output
    steps = [l for l in result.stderr.splitlines() if l.startswith("… fit: ")]
    assert steps and steps[0].startswith("… fit: 1/6 epochs loss ")
    kept = json.loads((tmp_path / "r" / "metrics.json").read_text())["kept_epoch"]
    assert isinstance(kept, int) and 1 <= kept <= 6
    if "early stopping:" in result.stderr:
        assert f"kept epoch {kept}'s weights (the best validation loss)" in result.stderr


def test_label_band_accuracy_is_labelled_as_such(tmp_path):
    result = invoke(
        "train",
        "--data",
        TIDY,
        "--out",
        tmp_path / "r",
        "--set",
        "fit.epochs=1",
        "--set",
        "features.label_bands=[100000, 150000]",
        "--set",
        "model.layers.2.units=3",
        "--set",
        "model.layers.2.activation=softmax",
        "--set",
        "compile.loss=categorical_crossentropy",
    )
    assert result.exit_code == 0, result.output
    assert "… fit: 1/1 epochs band_loss " in result.stderr and " band_accuracy " in result.stderr
    assert "(over the 3 label bands)" in result.stderr


def test_report_and_compare_say_what_they_do(run_dir, tmp_path):
    report = invoke("report", run_dir, "--out", tmp_path / "r.html")
    assert report.exit_code == 0 and "… report: the test rows" in report.stderr, report.output
    compare = invoke(
        "compare",
        "--recipe",
        "tutorial",
        "--data",
        TIDY,
        "--folds",
        "2",
        "--set",
        "fit.epochs=1",
        "--out",
        tmp_path / "c",
        "--no-importance",
    )
    assert compare.exit_code == 0, compare.output
    assert "… compare: " in compare.stderr and "┃ model" in compare.stdout and "| model |" not in compare.stdout
