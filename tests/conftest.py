"""Shared fixtures: the survey snapshot shipped in the package, the two fixtures in tests/data, hand-made rows,
a small trained run. Nothing outside the clone is needed."""

import os
from pathlib import Path

import pandas as pd
import pytest

from salarynet.data.source import embedded_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # byte-for-byte copies of the two fixtures of the shared data folder
# The embedded snapshot; SALARYNET_SHARED_DATA may point at a folder holding another copy of the same file.
SNAPSHOT = (
    Path(os.environ["SALARYNET_SHARED_DATA"]) / "ask-a-manager-2021.csv.gz"
    if os.environ.get("SALARYNET_SHARED_DATA")
    else embedded_path()
)
TIDY = DATA / "fixture-tidytuesday-200.csv"
TUTORIAL = DATA / "fixture-tutorial-cleaned.csv"
# The answers every recommended model requires (answerset.py: learned from answered rows only), as predict's flags
REQUIRED_FLAGS = ["--age", "25-34", "--experience", "5-7 years", "--experience-field", "5-7 years"]

# One row in the Google Form's question-text headers (shortened where the schema matches by prefix).
FORM_HEADERS = {
    "age": "How old are you?",
    "industry": "What industry do you work in?",
    "job_title": "Job title",
    "annual_salary": "What is your annual salary? (You'll indicate the currency in a later question.)",
    "currency": "Please indicate the currency",
    "country": "What country do you work in?",
    "experience_overall": "How many years of professional work experience do you have overall?",
    "education": "What is your highest level of education completed?",
    "gender": "What is your gender?",
}


def codes(reason) -> list[str]:
    """Each row's reason as the row counts name it ('' where kept), after checking it is a record, never text:
    reasons stay records (column, kind, value) until they are worded."""
    from salarynet.reasons import Reason, unset

    none = unset(list(reason))
    assert all(n or isinstance(r, Reason) for r, n in zip(reason, none)), [type(r) for r in reason]
    return ["" if n else r.code for r, n in zip(reason, none)]


def form_rows(*rows: dict) -> pd.DataFrame:
    """Hand-made survey rows under the Google Form's headers; unspecified answers are a typical respondent's."""
    base = {
        "age": "25-34",
        "industry": "Nonprofits",
        "job_title": "Analyst",
        "annual_salary": "60000",
        "currency": "USD",
        "country": "USA",
        "experience_overall": "5-7 years",
        "education": "College degree",
        "gender": "Woman",
    }
    return pd.DataFrame([{FORM_HEADERS[k]: v for k, v in (base | r).items()} for r in rows])


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache or the internet from a test."""
    monkeypatch.setenv("SALARYNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SALARYNET_SURVEY_URL", "http://127.0.0.1:9/no-survey-here.csv")


@pytest.fixture(scope="session")
def snapshot():
    from salarynet.data.survey import read_survey

    return read_survey(SNAPSHOT)


@pytest.fixture(scope="session")
def short_recipe():
    """The tutorial recipe, two epochs: every stage, in seconds."""
    from salarynet.recipe import load_recipe

    return load_recipe("tutorial", ["fit.epochs=2"])


@pytest.fixture(scope="session")
def trained(snapshot, short_recipe):
    """The short recipe fitted on the snapshot (a SalaryNet)."""
    from salarynet.data.source import provenance
    from salarynet.estimator import SalaryNet

    return SalaryNet(short_recipe).fit(snapshot, provenance=provenance(snapshot, "file", SNAPSHOT))


@pytest.fixture(scope="session")
def prepared(snapshot, short_recipe):
    """The short recipe's split of the snapshot, encoded: what `trained` was fitted and tested on."""
    from salarynet.fitting import prepare
    from salarynet.rows import select_rows

    return prepare(select_rows(snapshot, short_recipe), short_recipe, snapshot.path)


@pytest.fixture(scope="session")
def run_dir(trained, tmp_path_factory):
    return trained.save(tmp_path_factory.mktemp("runs") / "short")


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The three recommended recipes trained briefly (3 epochs) on the snapshot, through the command line."""
    from typer.testing import CliRunner

    from salarynet.apps.cli import app

    folder = tmp_path_factory.mktemp("recommended")
    for name in ("recommended", "recommended-bands", "recommended-range"):
        result = CliRunner().invoke(
            app,
            ["train", "--recipe", name, "--data", str(SNAPSHOT), "--out", str(folder / name), "--set", "fit.epochs=3"],
        )
        assert result.exit_code == 0, result.output
    return folder
