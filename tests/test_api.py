"""salarynet from Python: the README's notebook block end to end, scikit-learn's protocol, and the same number
for the same person from the API, the command line and the HTTP API, for all three tasks."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, TIDY
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import salarynet
from salarynet.apps import serve
from salarynet.apps.cli import app
from salarynet.errors import RecipeError

# The README's example person, as the HTTP API takes them ("USA" is tidied to United States everywhere).
PERSON = {
    "age": "25-34",
    "experience_overall": "5-7 years",
    "experience_field": "5-7 years",
    "education": "Master's degree",
    "gender": "Woman",
    "industry": "Computing or Tech",
    "job_title": "Data Scientist",
    "country": "USA",
    "state": "California",
    "city": "San Francisco",
    "race": "White",
}
FLAGS = [
    "--age",
    "25-34",
    "--experience",
    "5-7 years",
    "--experience-field",
    "5-7 years",
    "--education",
    "Master's degree",
    "--gender",
    "Woman",
    "--industry",
    "Computing or Tech",
    "--title",
    "Data Scientist",
    "--country",
    "USA",
    "--state",
    "California",
    "--city",
    "San Francisco",
    "--race",
    "White",
]


def test_the_readmes_python_block_runs(tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    net, survey = scope["net"], scope["survey"]
    assert len(survey) == 23783 and list(net.history_["epoch"]) == [1, 2]
    assert net.rows_["kept"] == 17559 and 0.5 < net.metrics_["accuracy"] < 1
    proba = net.predict_proba(survey.head(20))
    assert proba.shape == (20, 2) and np.allclose(np.nansum(proba, axis=1)[~np.isnan(proba[:, 0])], 1)
    again = salarynet.load(tmp_path / "runs" / "x")
    assert np.array_equal(again.predict_proba(survey.head(20)), proba, equal_nan=True)


def test_scikit_learns_protocol(snapshot):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    net = salarynet.SalaryNet("tutorial", fit__epochs=1)
    twin = clone(net)
    assert twin.get_params() == {"recipe": "tutorial", "fit__epochs": 1} and twin is not net
    assert net.set_params(fit__epochs=2).resolved_recipe().fit.epochs == 2
    scores = cross_val_score(salarynet.SalaryNet("tutorial", fit__epochs=1), salarynet.load_survey().head(3000), cv=3)
    assert scores.shape == (3,) and ((0.5 < scores) & (scores < 1)).all()
    with pytest.raises(RecipeError, match=r"fit\.epochs: Input should be a valid integer"):
        salarynet.SalaryNet("tutorial", fit__epochs="many").resolved_recipe()
    with pytest.raises(RecipeError, match="not fitted yet"):
        salarynet.SalaryNet().predict(snapshot.frame.head())


def test_any_header_schema_predicts_the_same(run_dir):
    net = salarynet.load(run_dir)
    tidy = pd.read_csv(TIDY, dtype=str)
    canonical = salarynet.load_survey(TIDY)
    assert np.array_equal(net.predict_proba(tidy), net.predict_proba(canonical), equal_nan=True)


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_the_api_the_command_line_and_http_give_the_same_number(runs, name):
    net = salarynet.load(runs / name)
    api = net.predict_frame(pd.DataFrame([PERSON])).iloc[0]
    printed = CliRunner().invoke(app, ["predict", str(runs / name), *FLAGS])
    assert printed.exit_code == 0, printed.output
    http = TestClient(serve.create_app(runs / name)).post("/predict", json=PERSON).json()
    if name == "recommended-range":
        assert {k: http[k] for k in ("salary", "low", "high")} == {
            "salary": api["salary"],
            "low": api["low"],
            "high": api["high"],
        }
        assert http["flags"] == net.flags(pd.DataFrame([PERSON]))[0] and "sentence" in http["explanation"]
        assert (
            f"salary about ${api['salary']:,.0f} a year in {api['year']} dollars "
            f"(80% range ${api['low']:,.0f} - ${api['high']:,.0f})" in printed.stdout
        )
    else:
        assert http["probability"] == round(float(api["probability"]), 6) and http["class"] == api["prediction"]
        assert http["year"] == api["year"] == 2021  # the runs are trained on the 2021 snapshot
        assert f"{api['probability']:.3f}" in printed.stdout


def test_predict_reads_the_http_apis_column_names(run_dir, tmp_path):
    path = tmp_path / "canonical.csv"
    pd.DataFrame([PERSON | {"annual_salary": "120000"}]).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["predict", str(run_dir), "--input", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("row,probability,prediction,year,reason,flags\n1,0.")
