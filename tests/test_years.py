"""Every year's survey: the 2023 form read beside the 2021 one, answers in one vocabulary, salaries converted at
their own year's rates, several surveys trained on together, and answers in a chosen year's dollars, the same
through the command line, Python and HTTP."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REQUIRED_FLAGS, SNAPSHOT, codes
from fastapi.testclient import TestClient
from test_serve import PERSON  # a complete set of answers under the HTTP API's names
from typer.testing import CliRunner

from salarynet.apps import serve
from salarynet.apps.cli import app
from salarynet.data import source, wages
from salarynet.data.survey import exchange_rates, read_survey, salary_rows, survey_of
from salarynet.errors import DataError
from salarynet.estimator import SalaryNet, load
from salarynet.recipe import load_recipe
from salarynet.rows import select_rows

runner = CliRunner()

# The 2023 form's headers, as its export writes them.
FORM_2023 = {
    "timestamp": "Timestamp",
    "age": "How old are you?",
    "industry": "Industry",
    "function": "Functional area of job",
    "job_title": "Job title",
    "annual_salary": "Annual salary (gross)",
    "currency": "Currency",
    "currency_other": "Currency - other",
    "country": "Country",
    "state": "State",
    "city": "City",
    "remote": "Remote or on-site?",
    "experience_overall": "Years of experience, overall",
    "experience_field": "Years of experience in field",
    "education": "Highest level of education completed",
    "gender": "Gender",
    "race": "Race",
}


def rows_2023(*rows: dict, headers: dict = FORM_2023) -> pd.DataFrame:
    base = {
        "timestamp": "4/11/2023 11:02:00",
        "age": "35-44",
        "industry": "Government & Public Administration",
        "function": "Engineering or Manufacturing",
        "job_title": "Materials Engineer",
        "annual_salary": "125000",
        "currency": "USD",
        "country": "United States",
        "state": "California",
        "city": "Ridgecrest",
        "remote": "On-site",
        "experience_overall": "11-20 years",
        "experience_field": "11-20 years",
        "education": "College degree",
        "gender": "Man",
        "race": "White",
    }
    return pd.DataFrame([{headers[k]: v for k, v in (base | r).items() if k in headers} for r in rows])


@pytest.fixture(scope="module")
def both():
    return source.open_survey(None)[0]


# ---------------------------------------------------------------- reading every year's form


def test_the_2023_export_reads_under_its_own_schema_with_new_answers_and_its_year():
    survey = read_survey(source.embedded_path(2023))
    assert survey.schema == "form-2023" and survey.unknown == []
    frame = survey.frame
    assert set(frame["survey_year"]) == {"2023"}  # late answers (January 2024) still answered the 2023 form
    assert {"On-site", "Hybrid", "Fully remote"} <= set(frame["remote"].dropna())
    assert frame["function"].notna().mean() > 0.9 and frame["annual_salary"].notna().all()


def test_answers_are_harmonised_into_one_vocabulary_across_the_years(both):
    from salarynet.features import answer_keys

    by_year = {y: both.frame[both.frame["survey_year"] == y] for y in ("2021", "2023")}
    # experience bands: "11 - 20 years" (2021) and "11-20 years" (2023) are one answer
    keys = {y: set(answer_keys(f["experience_overall"].dropna())) for y, f in by_year.items()}
    assert keys["2023"] <= keys["2021"] and len(keys["2021"]) == 8
    # industry: the 2023 form's names, whichever year wrote the answer
    industries = {y: set(f["industry"].dropna()) for y, f in by_year.items()}
    for name in ("Government & Public Administration", "Biotechnology & Pharma"):
        assert name in industries["2021"] and name in industries["2023"]
    assert "Government and Public Administration" not in industries["2021"]
    # education: the 2021 form's answers, each in one spelling, are all among the 2023 answers (which add free text)
    assert set(by_year["2021"]["education"].dropna()) <= set(by_year["2023"]["education"].dropna())
    # the new questions are blank in every 2021 row
    assert by_year["2021"]["remote"].isna().all() and by_year["2021"]["function"].isna().all()


def test_multi_answer_genders_are_read_as_their_options(both):
    recipe = load_recipe("recommended")
    net = SalaryNet(recipe)
    column = next(c for c in recipe.features.columns if c.column == "gender")
    assert column.encoding == "multi"
    rows = survey_of(rows_2023({"gender": "Woman, Non-binary"}, {"gender": "Woman"}), "hand-made")
    from salarynet.features import options

    assert options(rows.frame["gender"][0]) == ["woman", "non-binary"]
    assert net  # the recipe builds


def test_a_reworded_question_still_reads_and_a_missing_one_is_named():
    reworded = FORM_2023 | {
        "annual_salary": "Annual salary (gross, before tax; you'll give the currency below)",
        "experience_overall": "Years of experience, overall (professional)",
    }
    survey = survey_of(rows_2023({}, headers=reworded), "reworded.csv")
    assert survey.schema == "form-2023" and survey.frame["annual_salary"].tolist() == ["125000"]
    assert survey.frame["experience_overall"].tolist() == ["11-20 years"]
    no_salary = {k: v for k, v in FORM_2023.items() if k != "annual_salary"}
    with pytest.raises(
        DataError, match=r"no-salary\.csv: missing column 'annual_salary' \(recipe recommended needs annual_salary\)"
    ):
        select_rows(survey_of(rows_2023({}, headers=no_salary), "no-salary.csv"), load_recipe("recommended"))


def test_the_survey_year_comes_from_a_column_or_the_timestamps_or_the_form():
    stamps = ["4/11/2023 11:02:00"] * 3 + ["1/5/2024 09:00:00"]
    frame = rows_2023(*({"timestamp": t} for t in stamps))
    assert survey_of(frame, "x").frame["survey_year"].tolist() == ["2023"] * 4  # the year most answers came in
    assert survey_of(frame.drop(columns="Timestamp"), "x").frame["survey_year"].tolist() == ["2023"] * 4  # the form's
    given = frame.assign(survey_year=["2021", None, "2023", "2025"])
    assert survey_of(given, "x").frame["survey_year"].tolist() == ["2021", "2023", "2023", "2025"]
    for bad in ("twenty", "1850", "2023.5"):
        with pytest.raises(DataError, match=rf"^bad\.csv: column 'survey_year', row 3: '{bad}' is not a survey year"):
            survey_of(given.assign(survey_year=["2021", bad, None, None]), "bad.csv")


def test_salaries_convert_at_their_survey_years_rates():
    rows = rows_2023(
        {"currency": "CAD", "annual_salary": "100000", "country": "Canada"},
        {"currency": "CAD", "annual_salary": "100000", "country": "Canada", "timestamp": "4/27/2021 11:02:00"},
    )
    twenty_three = survey_of(rows.iloc[[0]], "x")
    twenty_one = survey_of(rows.iloc[[1]], "x")
    assert exchange_rates(2023)["CAD"] != exchange_rates(2021)["CAD"]
    assert exchange_rates(2022) == exchange_rates(2021) and exchange_rates(2030) == exchange_rates(2023)
    for survey, year in ((twenty_three, 2023), (twenty_one, 2021)):
        salary, reason = salary_rows(survey, "convert")
        assert codes(reason) == [""] and salary[0] == pytest.approx(100000 / exchange_rates(year)["CAD"])


def test_the_wage_index_carries_dollars_between_years():
    first, last = wages.index_years()
    assert first <= 2019 and last >= 2025
    assert wages.factor(2023, 2023) == 1.0
    assert wages.factor(2021, 2025) > wages.factor(2021, 2023) > 1 > wages.factor(2023, 2021)
    assert wages.factor(2021, 2023) * wages.factor(2023, 2025) == pytest.approx(wages.factor(2021, 2025))
    for bad in (first - 1, last + 1, "2025", 2023.0, True):
        with pytest.raises(DataError, match=rf"year {bad!r}: expected a year from {first} to {last}"):
            wages.check_year(bad)


# ---------------------------------------------------------------- training on several surveys


def test_recipes_pick_their_years_and_the_tutorial_stays_2021(both):
    tutorial = select_rows(both, load_recipe("tutorial"))
    assert set(tutorial.frame["survey_year"]) == {"2021"}
    assert tutorial.rows["excluded"]["survey_year_unlisted"] == 13711
    recommended = select_rows(both, load_recipe("recommended"))
    assert (
        recommended.rows["by_year"]["2023"]["kept"] > 13000
        and "survey_year_unlisted" not in recommended.rows["excluded"]
    )


def test_load_survey_takes_several_files(tmp_path):
    path = tmp_path / "2023.csv"
    rows_2023({}, {"annual_salary": "90000"}).to_csv(path, index=False)
    frame = source.load_survey(str(SNAPSHOT), path)
    assert len(frame) == 23783 + 2 and frame["survey_year"].value_counts().to_dict() == {"2021": 23783, "2023": 2}
    with pytest.raises(DataError, match=r"given twice"):
        source.load_survey(path, path)
    with pytest.raises(DataError, match=r"--data embedded:2022: no such snapshot; expected embedded, or one of"):
        source.load_survey("embedded:2022")


def test_data_info_names_both_snapshots_and_counts_rows_by_year():
    result = runner.invoke(app, ["data", "info"])
    assert result.exit_code == 0, result.output
    text = result.output
    for year in (2021, 2023):
        record = source.embedded_record(year)
        assert source.SNAPSHOTS[year] in text and record["sha256"] in text
    assert "13,711" in text and "23,783" in text and "survey years" in text


def test_data_info_reads_a_2023_export_given_as_a_file(tmp_path):
    path = tmp_path / "export.csv"
    rows_2023({}, {"annual_salary": "5"}, {"currency": "CAD", "country": "Canada"}).to_csv(path, index=False)
    result = runner.invoke(app, ["data", "info", "--data", str(path), "--recipe", "recommended"])
    assert result.exit_code == 0, result.output
    assert "form-2023" in result.output and "2023: 3 rows" in result.output
    assert "read 3, kept 2, excluded 1 (salary_implausible 1)" in result.output
    tutorial = runner.invoke(app, ["data", "info", "--data", str(path)])  # its 2021 rows only: none kept, said so
    assert tutorial.exit_code == 0 and "kept 0, excluded 3 (survey_year_unlisted 3)" in tutorial.output


# ---------------------------------------------------------------- answers in a chosen year's dollars


@pytest.fixture(scope="module")
def range_run(tmp_path_factory):
    """A range model trained briefly on both snapshots, through the command line."""
    out = tmp_path_factory.mktemp("years") / "range"
    result = runner.invoke(app, ["train", "--recipe", "recommended-range", "--out", str(out), "--set", "fit.epochs=2"])
    assert result.exit_code == 0, result.output
    return out


def test_a_range_model_answers_in_the_year_asked_the_same_everywhere(range_run, tmp_path):
    net = load(range_run)
    assert net.learned_years() == [2021, 2023]
    frame = pd.DataFrame([PERSON])
    python = {y: net.predict_frame(frame, year=y).iloc[0] for y in (None, 2021, 2023, 2025)}
    assert python[None]["year"] == 2023 and python[None]["salary"] == python[2023]["salary"]
    assert python[2025]["salary"] == pytest.approx(round(python[2023]["salary"] * wages.factor(2023, 2025), -2))
    assert python[2021]["salary"] != python[2023]["salary"]  # 2021 is a year it learned: its own answer there

    client = TestClient(serve.create_app(range_run))
    described = client.get("/model").json()["years"]
    assert described["learned"] == [2021, 2023] and described["default"] == 2023 and described["any_year"]
    http = client.post("/predict", json=PERSON | {"year": 2025}).json()
    assert http["year"] == 2025 and http["salary"] == python[2025]["salary"]
    assert client.post("/predict", json=PERSON | {"year": 1900}).status_code == 422
    schema = client.get("/openapi.json").json()
    assert "year" in json.dumps(schema)

    answers = tmp_path / "answers.csv"
    frame.to_csv(answers, index=False)
    out = tmp_path / "p.csv"
    result = runner.invoke(
        app, ["predict", str(range_run), "--input", str(answers), "--output", str(out), "--year", "2025"]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert written["year"].tolist() == [2025] and written["salary"].tolist() == [python[2025]["salary"]]
    sentence = runner.invoke(
        app,
        [
            "predict",
            str(range_run),
            *REQUIRED_FLAGS,
            "--title",
            "Data Scientist",
            "--year",
            "2025",
        ],
    )
    assert sentence.exit_code == 0, sentence.output
    assert "in 2025 dollars" in sentence.output
    refused = runner.invoke(app, ["predict", str(range_run), "--input", str(answers), "--year", "2030"])
    assert refused.exit_code == 2 and "year 2030: expected a year from" in refused.stderr
    assert "Traceback" not in refused.output


def test_a_classes_model_answers_only_for_years_it_learned(runs, tmp_path):
    net = load(runs / "recommended")  # trained on the 2021 snapshot alone
    assert net.learned_years() == [2021]
    frame = pd.DataFrame([PERSON])
    assert net.predict_frame(frame)["year"].tolist() == [2021]
    with pytest.raises(DataError, match=r"year 2023: .*2021"):
        net.predict_frame(frame, year=2023)
    answer = runner.invoke(
        app,
        [
            "predict",
            str(runs / "recommended"),
            *REQUIRED_FLAGS,
            "--title",
            "Data Scientist",
        ],
    )
    assert answer.exit_code == 0 and "$100,000 in 2021" in answer.output
    client = TestClient(serve.create_app(runs / "recommended"))
    refused = client.post("/predict", json=PERSON | {"year": 2023})
    assert refused.status_code == 422 and "2021" in refused.text


# ---------------------------------------------------------------- evaluating on another year


def test_evaluate_on_another_years_file_says_how_the_salaries_moved(runs, tmp_path):
    path = tmp_path / "later.csv"
    rows = [{"annual_salary": str(s), "job_title": "Analyst"} for s in np.linspace(150_000, 400_000, 60).astype(int)]
    rows_2023(*rows).to_csv(path, index=False)
    result = runner.invoke(app, ["evaluate", str(runs / "recommended"), "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "salaries against the training survey's: above $100,000" in result.stderr
    assert "-> 100.0%" in result.stderr and "warning: the salaries moved a lot" in result.stderr
    as_json = runner.invoke(app, ["evaluate", str(runs / "recommended"), "--data", str(path), "--json"])
    moved = json.loads(as_json.stdout)["salary_drift"]
    assert moved["new"]["share_above"] == 1.0 and moved["new"]["median"] == pytest.approx(275_000, rel=0.01)
    assert 0.1 < moved["training"]["share_above"] < 0.5 and moved["level"] == "moved a lot"


def test_a_model_fitted_in_python_records_the_years_it_learned_as_the_command_line_does(tmp_path):
    """The tutorial's recipe (no survey_year input) on 2023 rows alone: Python and the command line both record
    2023 as the year it learned, and both answer in 2023 dollars (a Python fit used to say 2021)."""
    tutorial = {"age": "25-34", "experience_overall": "5-7 years", "gender": "Woman", "education": "Master's degree"}
    survey = source.open_survey(["embedded:2023"])[0]
    net = SalaryNet("tutorial", data__years=[2023], fit__epochs=1).fit(survey)
    assert net.learned_years() == [2023] and net.data_["learned_years"] == [2023]
    assert net.predict_frame(tutorial)["year"].tolist() == [2023]
    saved = load(net.save(tmp_path / "python"))
    assert saved.learned_years() == [2023]
    result = runner.invoke(
        app,
        ["train", "--data", "embedded:2023", "--set", "data.years=[2023]", "--set", "fit.epochs=1"]
        + ["--out", str(tmp_path / "cli")],
    )
    assert result.exit_code == 0, result.output
    cli = load(tmp_path / "cli")
    assert cli.learned_years() == [2023] and cli.predict_frame(tutorial)["year"].tolist() == [2023]
    with pytest.raises(DataError, match=r"year 2021: .*\(2023\)"):
        net.predict_frame(tutorial, year=2021)  # a model of classes answers only in a year it learned


def test_a_2023_file_on_a_recipe_that_reads_2021_says_which_recipe_reads_it(tmp_path):
    """Issue 31, point 6: `train --data <a 2023 export>` on the tutorial recipe (data.years = [2021]) is refused
    in one line that names the recipes that read the file, and the --set that would."""
    result = runner.invoke(app, ["train", "--data", "embedded:2023", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    said = " ".join(result.stderr.split())
    assert "kept 0" in said and "survey_year_unlisted 13711" in said
    assert "recipe tutorial reads the 2021 survey only (data.years) and this file holds 2023" in said
    assert "--recipe recommended reads it" in said and "--set data.years=[2023]" in said
    assert not (tmp_path / "run").exists()
