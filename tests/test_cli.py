"""The command line on the real snapshot: what a user types, what they see, what lands on disk."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import SNAPSHOT, TIDY, form_rows
from typer.testing import CliRunner

from salarynet.apps.cli import app
from salarynet.data import source

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, pattern):
    import re

    assert result.exit_code == 2, result.output
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception


def test_train_writes_a_run_and_prints_metrics(tmp_path):
    result = invoke("train", "--data", SNAPSHOT, "--out", tmp_path / "run", "--set", "fit.epochs=2", "--seed", 3)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("accuracy", "auc", "loss"):
        assert isinstance(metrics["test"][key], float)
    assert {"read", "kept", "excluded"} <= set(metrics["rows"]) and metrics["seed"] == 3
    assert "majority_accuracy" in metrics["baseline"] and metrics["fit_seconds"] > 0
    assert f"{metrics['test']['accuracy']:.4f}" in result.stdout
    assert f"excluded {metrics['rows']['read'] - metrics['rows']['kept']}" in result.stderr
    # evaluate on the same file re-derives the test rows and gives the same numbers.
    evaluated = invoke("evaluate", tmp_path / "run", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["test"] == metrics["test"]


def test_evaluate_on_another_file_uses_all_its_usable_rows(run_dir):
    result = invoke("evaluate", run_dir, "--data", TIDY, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["rows_used"] == "every usable row of a new file"
    assert body["test"]["rows"] == body["rows"]["kept"]


def test_predict_a_raw_file_row_for_row(run_dir, tmp_path):
    out = tmp_path / "pred.csv"
    result = invoke("predict", run_dir, "--input", TIDY, "--output", out)
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out, keep_default_na=False)
    raw = pd.read_csv(TIDY, dtype=str)
    assert len(pred) == len(raw) and pred["row"].tolist() == list(range(1, len(raw) + 1))
    some_college = (raw["highest_level_of_education_completed"] == "Some college").to_numpy()
    assert some_college.any()
    assert (pred["probability"][some_college] == "").all()
    assert pred["reason"][some_college].str.startswith("education 'Some college' is not one of").all()
    ok = pred["reason"] == ""
    probs = pred["probability"][ok].astype(float)
    assert ((probs >= 0) & (probs <= 1)).all()
    # A row from the file and the same answers as flags agree.
    i = int(ok.idxmax())
    r = raw.iloc[i]
    single = invoke(
        "predict",
        run_dir,
        "--age",
        r["how_old_are_you"],
        "--experience",
        r["overall_years_of_professional_experience"],
        "--education",
        r["highest_level_of_education_completed"],
        "--gender",
        r["gender"],
    )
    assert single.exit_code == 0, single.output
    assert f"= {float(pred['probability'][i]):.3f}" in single.stdout


def test_predict_to_stdout(run_dir):
    result = invoke("predict", run_dir, "--input", TIDY)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "row,probability,prediction,year,reason,flags"
    assert len(result.stdout.splitlines()) == 201


def test_predict_one_person(run_dir):
    result = invoke(
        "predict",
        run_dir,
        "--age",
        "25-34",
        "--experience",
        "5-7 years",
        "--education",
        "Master's degree",
        "--gender",
        "Woman",
    )
    assert result.exit_code == 0, result.output
    assert "P(salary > $100,000 in 2021) = 0." in result.stdout


@pytest.mark.parametrize(
    "args, pattern",
    [
        (
            ["--age", "25-34", "--experience", "5-7 years", "--education", "Some college", "--gender", "Woman"],
            r"education 'Some college' is not one of: High School, College degree, .*; give it with --education",
        ),
        (
            ["--age", "25-34", "--experience", "5-7 years", "--education", "PhD", "--gender", "Non-binary"],
            r"gender 'Non-binary' is not one of: Woman, Man; give it with --gender",
        ),
        (
            ["--age", "25-34", "--gender", "Woman"],
            r"experience_overall: an answer is required, one of: 1 year or less, .* \(and 1 more: education\); "
            r"give it with --experience",
        ),
        (["--answer", "Age=25-34", "--age", "25-34"], r"--answer: age is given by a flag too; keep one"),
        (["--answer", "pet=cat"], r"--answer: 'pet' is not a survey question; this model reads: age, experience_"),
        (["--answer", "shoe"], r"--answer 'shoe': expected COLUMN=VALUE"),
    ],
)
def test_predict_flag_errors(run_dir, args, pattern):
    one_error_line(invoke("predict", run_dir, *args), pattern)


def test_user_errors_are_one_line_and_exit_2(tmp_path, run_dir):
    (tmp_path / "other.csv").write_text("name,score\nann,3\n")
    form_rows({}).drop(columns="What is your gender?").to_csv(tmp_path / "nogender.csv", index=False)
    cases = [
        (["train", "--data", tmp_path / "absent.csv"], r"absent\.csv: no such file"),
        (["train", "--data", tmp_path / "other.csv"], r"other\.csv: unknown header schema"),
        (["train", "--data", tmp_path / "nogender.csv"], r"nogender\.csv: missing column 'gender'"),
        (
            ["train", "--data", SNAPSHOT, "--set", "fit.epochs=0"],
            r"fit\.epochs: Input should be greater than 0 \(got 0\)",
        ),
        (["train", "--data", SNAPSHOT, "--recipe", "nope"], r"recipe 'nope': not a shipped recipe"),
        (["evaluate", tmp_path / "norun"], r"norun: no such run folder"),
        (["predict", run_dir, "--input", tmp_path / "other.csv"], r"other\.csv: unknown header schema"),
        (["data", "import", tmp_path / "other.csv"], r"other\.csv: unknown header schema"),
    ]
    for args, pattern in cases:
        one_error_line(invoke(*args), pattern)
    assert not (tmp_path / "runs").exists()


def test_train_live_without_network_names_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("train", "--data", "live")
    one_error_line(
        result,
        r"could not download the survey from http://127\.0\.0\.1:9/.*the embedded snapshot needs no "
        r"internet: leave out --data \(or --data embedded\), or pass --data FILE",
    )
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1  # the error alone
    assert not (tmp_path / "runs").exists()


def test_train_without_data_uses_the_embedded_snapshot_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("train", "--set", "fit.epochs=1")
    assert result.exit_code == 0, result.output
    assert "rows: read 23783, kept 17559" in result.stderr
    data = json.loads((tmp_path / "runs" / "tutorial" / "data.json").read_text())
    assert data["source"] == "embedded" and data["rows"]["read"] == 23783 and data["snapshot_date"] == "2024-06-28"
    info = invoke("data", "info", "--run", tmp_path / "runs" / "tutorial")
    assert info.exit_code == 0, info.output
    assert "the survey snapshots shipped with salarynet" in info.stdout and "taken on 2024-06-28" in info.stdout
    assert "run tutorial: rows: read 23783, kept 17559" in info.stdout
    evaluated = invoke("evaluate", tmp_path / "runs" / "tutorial", "--json")  # reopens the embedded snapshot
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["rows_used"] == "the run's test rows"
    assert not source.cache_dir().exists()  # nothing downloaded, nothing cached


def test_import_then_train_on_the_live_copy_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("data", "import", TIDY)
    assert result.exit_code == 0, result.output
    assert "imported 200 rows (tidytuesday schema)" in result.stdout
    info = invoke("data", "info", "--data", "live")
    assert info.exit_code == 0 and "imported from" in info.stdout and "rows: read 200" in info.stdout
    trained = invoke("train", "--data", "live", "--set", "fit.epochs=1")
    assert trained.exit_code == 0, trained.output
    data = json.loads((tmp_path / "runs" / "tutorial" / "data.json").read_text())
    assert data["source"] == "live" and data["origin"].startswith("imported from") and data["rows"]["read"] == 200
    embedded = invoke("data", "info")
    assert embedded.exit_code == 0 and "snapshots shipped with salarynet" in embedded.stdout
    assert "2021: rows: read 23783" in embedded.stdout and "2023: rows: read 13711" in embedded.stdout


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "salarynet", "train", "--data", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'x.csv'}: no such file (expected a survey export: .csv, .csv.gz, .xlsx)"
    ]


def test_more_user_mistakes(tmp_path, monkeypatch, run_dir):
    cases = [
        (["train", "--data", tmp_path / "[bold]x.csv"], r"\[bold\]x\.csv: no such file"),
        (
            ["train", "--data", TIDY, "--set", "split.train_fraction=0.01"],
            r"split\.train_fraction=0\.01 leaves too few rows",
        ),
        (["train", "--data", TIDY, "--seed", "-1"], r"seed: Input should be greater than or equal to 0"),
        (
            ["train", "--data", TIDY, "--set", "compile.learning_rate=1e30", "--set", "fit.epochs=3"],
            r"training diverged at epoch \d+ .*lower compile\.learning_rate",
        ),
        (
            ["train", "--data", TIDY, "--set", "features.threshold=nan"],
            r"features\.threshold: Input should be a finite number",
        ),
        (["predict", run_dir, "--input", TIDY, "--age", "25-34"], r"--input predicts a file"),
        (
            ["predict", run_dir, "--output", tmp_path / "p.csv", "--age", "25-34"],
            r"--output writes the predictions of an --input file",
        ),
        (["data", "info", "--run", run_dir, "--data", TIDY], r"--run shows the data a run was trained on"),
    ]
    for args, pattern in cases:
        one_error_line(invoke(*args), pattern)
    # A folder named like a shipped recipe does not shadow it.
    (tmp_path / "tutorial").mkdir()
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "train", "--data", TIDY, "--set", "fit.epochs=1", "--set", "fit.batch_size=100000", "--out", tmp_path / "r"
    )
    assert result.exit_code == 0, result.output  # and a batch larger than the data is the data


def test_no_validation_split_and_unwritable_outputs(tmp_path, run_dir):
    result = invoke(
        "train",
        "--data",
        TIDY,
        "--out",
        tmp_path / "r",
        "--set",
        "fit.epochs=1",
        "--set",
        "fit.validation_split=0",
        "--set",
        "split.train_fraction=0.5",
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["final_epoch"]["val_loss"] is None
    (tmp_path / "file").write_text("x")
    one_error_line(
        invoke("train", "--data", TIDY, "--out", tmp_path / "file" / "run", "--set", "fit.epochs=1"),
        r"file: a file, not a folder, so .*file/run cannot be made there",
    )
    one_error_line(
        invoke("predict", run_dir, "--input", TIDY, "--output", tmp_path / "no" / "p.csv"),
        r"no/p\.csv: no folder .*/no; create it first, or choose another --output",
    )
    one_error_line(invoke("train", "--data", TIDY, "--set", "name=../../etc"), r"name: String should match pattern")


def test_many_seeds_report_mean_and_sd(tmp_path):
    result = invoke("train", "--data", TIDY, "--out", tmp_path / "r", "--set", "fit.epochs=2", "--seeds", 3)
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    seeds = m["seeds"]
    assert seeds["seeds"] == [42, 43, 44] and seeds["models_per_second"] > 0
    acc = seeds["test"]["accuracy"]
    assert len(acc["values"]) == 3 and acc["values"][0] == m["test"]["accuracy"]
    assert acc["mean"] == pytest.approx(sum(acc["values"]) / 3)
    assert "3 seeds (42..44)" in result.stdout
