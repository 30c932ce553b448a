"""What people meet first on the command line and the page: a model's summary and answers, the list of runs,
predict --json, an unknown option pointing at --set, output that says which rows and which model it is about,
piped tables never wrapped, the page's icon and the server's request log."""

import json
import re

import numpy as np
from conftest import TIDY
from fastapi.testclient import TestClient
from safetensors.numpy import load_file
from typer.testing import CliRunner

import salarynet
from salarynet.apps import serve
from salarynet.apps.cli import _log_config, app

runner = CliRunner()
TUTORIAL_PERSON = ["--age", "25-34", "--experience", "5-7 years", "--education", "Master's degree", "--gender", "Woman"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], prog_name="salarynet")


def test_summary_prints_the_layers_and_the_weights_the_safetensors_file_holds(run_dir, runs):
    for run in (run_dir, runs / "recommended", runs / "recommended-range"):
        result = invoke("summary", run)
        assert result.exit_code == 0, result.output
        total = int(re.search(r"Total params: ([\d,]+)", result.stdout).group(1).replace(",", ""))
        assert total == sum(int(np.prod(a.shape)) for a in load_file(run / "model.safetensors").values())
        rows = [l for l in result.stdout.splitlines() if re.search(r"\(None, \d+\)\s+[\d,]+$", l)]
        assert sum(int(l.rsplit(maxsplit=1)[1].replace(",", "")) for l in rows) == total  # the rows add up
        assert "Layer (type)" in result.stdout and "Inputs (the answers it reads" in result.stdout
    tutorial = invoke("summary", run_dir).stdout
    assert "dense (Dense, relu)" in tutorial and "dense_2 (Dense, sigmoid)" in tutorial and "(None, 2)" in tutorial
    assert re.search(r"age\s+required\s+one of\s+7 answers", tutorial)
    printed = []
    salarynet.load(run_dir).summary(print_fn=printed.append)  # Python: the same text
    assert printed == [tutorial.rstrip("\n")]


def test_answers_lists_every_question_and_what_it_accepts(run_dir, runs):
    text = invoke("answers", run_dir).stdout
    assert "age (age band; --age): required, one of" in text and "\n  25-34\n" in text
    as_json = json.loads(invoke("answers", runs / "recommended", "--json").stdout)
    served = TestClient(serve.create_app(runs / "recommended")).get("/model").json()["fields"]
    assert as_json == served  # the same contract as GET /model's
    title = next(f for f in as_json if f["name"] == "job_title")
    assert title["kind"] == "text" and not title["required"]


def test_runs_lists_every_run_with_its_recipe_task_data_and_metric(run_dir, runs, tmp_path):
    result = invoke("runs", runs)
    assert result.exit_code == 0, result.output
    for name in ("recommended", "recommended-bands", "recommended-range"):
        assert re.search(rf"{name}\s+│\s+{name}\s+│", result.stdout), result.stdout
    assert "binary > $100,000" in result.stdout and "median error $" in result.stdout
    assert "accuracy 0." in result.stdout and "ask-a-manager-2021.csv.gz" in result.stdout
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{}")
    (tmp_path / "broken" / "metrics.json").write_text("not json")
    assert "unreadable" in invoke("runs", tmp_path).stdout
    gone = invoke("runs", tmp_path / "nothing-here")
    assert gone.exit_code == 2 and "no such folder" in gone.output


def test_predict_json_is_what_http_answers(runs):
    person = ["--age", "25-34", "--experience", "5-7 years", "--experience-field", "5-7 years", "--title", "Nurse"]
    body = {"age": "25-34", "experience_overall": "5-7 years", "experience_field": "5-7 years", "job_title": "Nurse"}
    for name in ("recommended", "recommended-bands", "recommended-range"):
        printed = json.loads(invoke("predict", runs / name, *person, "--json").stdout)
        http = TestClient(serve.create_app(runs / name)).post("/predict", json=body).json()
        assert printed == http, name
    rows = invoke("predict", runs / "recommended", "--input", TIDY, "--json").stdout.splitlines()
    assert len(rows) == 200 and {"row", "probability", "reason", "flags"} <= set(json.loads(rows[0]))


def test_an_unknown_option_that_is_a_recipe_key_names_its_set_equivalent():
    for option, key in (("--epochs", "fit.epochs"), ("--learning-rate", "compile.learning_rate")):
        result = invoke("train", option, "5")
        assert result.exit_code == 2 and f"No such option: {option}" in result.output
        assert f"--set {key}=..." in result.output
    assert "--set" not in invoke("train", "--bogus", "5").output.replace("salarynet train --help", "")


def test_piped_tables_are_never_wrapped(run_dir):
    result = runner.invoke(app, ["evaluate", str(run_dir)], env={"COLUMNS": "40"})  # no terminal: a pipe
    assert result.exit_code == 0
    assert re.search(r"│ accuracy \(argmax, Keras 3\)\s+│\s+0\.\d{4} │", result.stdout), result.stdout


def test_evaluate_on_another_file_says_so_and_its_drift_compares_the_answers_as_read(run_dir):
    result = invoke("evaluate", run_dir, "--data", TIDY)
    assert "every usable row of fixture-tidytuesday-200.csv" in result.stdout
    assert "test rows" not in result.stdout.split("answers against")[0]
    assert "(other)" not in result.stdout  # the tutorial's spellings are learned answers, not "other"
    moved = json.loads(invoke("evaluate", run_dir, "--data", TIDY, "--json").stdout)["drift"]
    gender = next(d for d in moved if d["question"] == "gender")
    assert gender["answer"] in ("Woman", "Man") and gender["training_share"] < 1


def test_seeds_output_says_which_model_each_line_is_about(tmp_path):
    result = invoke("train", "--seeds", "2", "--set", "fit.epochs=2", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "fit (seed 42, the saved model): 2 epochs" in result.output
    assert "test rows (seed 42, the saved model)" in result.stdout and "test rows, 2 seeds (42..43)" in result.stdout
    assert "… fit (seeds 42..43 together): 1/2 epochs" in result.output


def test_a_range_fit_names_its_coverage_not_an_accuracy(tmp_path):
    result = invoke(
        "train", "--recipe", "recommended-range", "--data", "embedded:2021", "--set", "fit.epochs=1",
        "--set", "fit.refit=false", "--out", tmp_path / "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fit_line = next(l for l in result.output.splitlines() if l.startswith("fit: "))
    assert "coverage 0." in fit_line and "accuracy" not in fit_line


def test_the_page_has_an_icon_and_the_server_logs_each_request(run_dir):
    client = TestClient(serve.create_app(run_dir))
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and b"<svg" in icon.content
    config = _log_config()
    assert (
        config["loggers"]["uvicorn.access"]["level"] == "INFO"
        and "%(status_code)s" in (config["formatters"]["access"]["fmt"])
    )
    page = client.get("/").text
    assert 'rel="icon"' in page and 'id="result" hidden' in page  # nothing shown beside an empty chart
