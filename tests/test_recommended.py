"""The recommended recipes end to end on raw files, every task, and the comparison."""

import json
import re

import pandas as pd
import pytest
from conftest import REQUIRED_FLAGS, TIDY, TUTORIAL
from typer.testing import CliRunner

from salarynet.apps.cli import app

runner = CliRunner()
QUICK = ["--set", "fit.epochs=3"]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_every_row_and_currency_counts(runs):
    m = json.loads((runs / "recommended" / "metrics.json").read_text())
    rows = m["rows"]
    assert rows["read"] == rows["kept"] + sum(rows["excluded"].values())
    assert set(rows["excluded"]) <= {"currency_without_rate", "salary_implausible", "salary_unparseable"}
    assert rows["kept"] > 0.98 * rows["read"]  # the tutorial kept 74%: USD, Woman/Man, five education levels
    assert m["test"]["auc"] > m["test"]["majority_accuracy"] - 0.2 and 0.5 < m["test"]["auc"] <= 1
    # Trained on ten salary bands, answering "above $100,000" as the sum of the four bands above it.
    spec = json.loads((runs / "recommended" / "model.json").read_text())["model"]
    assert spec["layers"][-1]["units"] == 10 and spec["collapse"] == 4


@pytest.mark.parametrize("raw", [TIDY, TUTORIAL])
def test_predict_on_raw_files_of_any_schema(runs, raw, tmp_path):
    out = tmp_path / "p.csv"
    if raw == TUTORIAL:  # the tutorial's five columns: no experience in the field, which this model requires
        result = runner.invoke(app, ["predict", str(runs / "recommended"), "--input", str(raw), "--output", str(out)])
        assert result.exit_code == 2 and not out.exists()
        assert "no experience_field column, an answer this model requires" in result.output
        return
    invoke("predict", runs / "recommended", "--input", raw, "--output", out)
    pred = pd.read_csv(out, keep_default_na=False)
    assert len(pred) == len(pd.read_csv(raw)) and (pred["reason"] == "").all()  # nothing is unencodable
    # free-text answers of real rows: some city or title word it never learned, some country spelled its own way;
    # the tutorial's cleaned file has only form choices the model learned
    messages = [m for cell in pred["flags"] if cell for m in cell.split("; ")]
    assert all(re.search(r" read as |not among|never saw the word|knows none", m) for m in messages)
    assert messages
    probs = pred["probability"].astype(float)
    assert probs.between(0, 1).all() and probs.nunique() > 1


def test_unseen_answers_and_words_are_no_error(runs):
    result = invoke(
        "predict",
        runs / "recommended",
        "--title",
        "Chief Zorblax Officer",
        "--country",
        "Atlantis",
        "--industry",
        "Dragon taming",
        "--gender",
        "Something new",
        *REQUIRED_FLAGS,
    )
    assert "P(salary > $100,000 in 2021) = " in result.stdout
    # each one is named, after the answer: what the model made of it
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert any("country 'Atlantis' is not among" in n for n in notes)
    assert any("industry 'Dragon taming'" in n for n in notes) and any("gender 'Something new'" in n for n in notes)
    assert any("never saw the word 'zorblax'" in n for n in notes)


def test_bands_and_range_predictions(runs, tmp_path):
    invoke("predict", runs / "recommended-bands", "--input", TIDY, "--output", tmp_path / "b.csv")
    bands = pd.read_csv(tmp_path / "b.csv", keep_default_na=False)
    assert set(bands["band"]) <= {"<= 50,000", "50,000-100,000", "100,000-150,000", "> 150,000"}
    invoke("predict", runs / "recommended-range", "--input", TIDY, "--output", tmp_path / "r.csv")
    ranges = pd.read_csv(tmp_path / "r.csv")
    assert (ranges["low"] <= ranges["salary"]).mean() > 0.95 and (ranges["salary"] <= ranges["high"]).mean() > 0.95
    one = invoke(
        "predict",
        runs / "recommended-range",
        *REQUIRED_FLAGS,
        "--title",
        "Software Engineer",
        "--country",
        "USA",
        "--state",
        "California",
    )
    assert "salary about $" in one.stdout and "80% range $" in one.stdout
    m = json.loads((runs / "recommended-range" / "metrics.json").read_text())["test"]
    assert {"median_absolute_error", "coverage", "median_range_width"} <= set(m)


def test_compare_runs_every_model_on_the_same_folds(tmp_path):
    result = invoke("compare", "--data", TIDY, "--folds", "2", "--out", tmp_path / "cmp", *QUICK)
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    names = list(report["models"])
    assert [n for n in names if n != "CatBoost"] == [
        "majority class",
        "logistic regression",
        "logistic regression, C by inner CV",
        "gradient boosting",
        "tutorial MLP",
        "salarynet recommended",
    ]
    for r in report["models"].values():
        assert len(r["folds"]) == 2 and {"accuracy", "log_loss"} <= set(r["mean"])
    assert report["models"]["majority class"]["mean"]["auc"] == 0.5
    assert "job title (text)" in report["importance"] and "gender" in report["importance"]
    assert (tmp_path / "cmp" / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "| logistic regression |" in (tmp_path / "cmp" / "compare.md").read_text()
    assert "┃ model" in result.stdout and "logistic" in result.stdout  # a table on the terminal
