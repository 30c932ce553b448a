"""Property tests (Hypothesis): survey files of any rows, in any of the three header schemas, with any answers,
any salaries and columns left out, never crash reading, row selection, the encoders or predict. Each ends in
a result or one DataError, and predict gives every row a probability (or salary) or a reason."""

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salarynet.data.schemas import FORM_PREFIXES, TIDYTUESDAY, TUTORIAL
from salarynet.data.survey import Survey, read_survey
from salarynet.errors import DataError
from salarynet.estimator import load
from salarynet.fitting import prepare
from salarynet.recipe import load_recipe
from salarynet.rows import select_rows

TRIED = {"files": 0, "predicted_rows": 0}
# Canonical column -> its header in each schema (the form's by its question's opening words).
HEADERS = {
    "form": {c: q for q, c in FORM_PREFIXES.items()},
    "tidytuesday": {c: h for h, c in TIDYTUESDAY.items()},
    "tutorial": {c: h for h, c in TUTORIAL.items()},
}
# Real answers mixed with anything: the encoders must meet both.
REAL = {
    "age": ["25-34", "18-24", "65 or over", "under 18"],
    "experience_overall": ["5-7 years", "2 - 4 years", "41 years or more", "11-20 "],
    "experience_field": ["5-7 years", "1 year or less"],
    "education": ["Master's degree", "PhD", "Some college", "College degree"],
    "gender": ["Woman", "Man", "Non-binary", "Other or prefer not to answer"],
    "currency": ["USD", "GBP", "Other", "AUD/NZD", "usd"],
    "country": ["USA", "United States", "U.S.", "Unites States", "Canada", "Austria", "Australia"],
    "state": ["California", "California, New York", "Ohio"],
    "race": ["White", "Asian or Asian American, White", "Hispanic, Latino, or Spanish origin"],
}
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)  # CSV holds no lone surrogates
salary = st.one_of(
    st.integers(-(10**9), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["55,000", "$120000", " 90000 ", "1e400", "", "NA", "100k", "0"]),
    text,
)


@st.composite
def survey_files(draw):
    """(schema, header -> column values): a random subset of a schema's columns, 1-12 rows."""
    schema = draw(st.sampled_from(sorted(HEADERS)))
    columns = draw(st.lists(st.sampled_from(sorted(HEADERS[schema])), min_size=1, unique=True))
    rows = draw(st.integers(1, 12))
    table = {}
    for column in columns:
        answers = salary if column == "annual_salary" else st.one_of(st.sampled_from(REAL.get(column, ["x"])), text)
        table[HEADERS[schema][column]] = draw(st.lists(answers, min_size=rows, max_size=rows))
    return schema, table


def write(table: dict[str, list[str]], folder: Path) -> Path:
    path = folder / "answers.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(table)
        out.writerows(zip(*table.values()))
    return path


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def models(run_dir, runs):
    """The tutorial run and the three recommended ones, each with its network's outputs (numpy, as served)."""
    loaded = [load(p) for p in (run_dir, runs / "recommended", runs / "recommended-bands", runs / "recommended-range")]
    return [(net, net.raw) for net in loaded]


@SETTINGS
@given(survey_files(), st.sampled_from(["tutorial", "recommended", "recommended-range"]))
def test_any_file_is_read_and_selected_or_refused_in_one_error(file, recipe_name):
    _, table = file
    with tempfile.TemporaryDirectory() as tmp:
        path = write(table, Path(tmp))
        TRIED["files"] += 1
        recipe = load_recipe(recipe_name)
        try:
            survey = read_survey(path)
            selected = select_rows(survey, recipe)
        except DataError as e:
            assert "\n" not in str(e) and str(path) in str(e)
            return
        try:  # every encoder fitted on the kept rows (too few rows for a split is a DataError too)
            prepared = prepare(selected, recipe, survey.path)
            assert len(prepared.y_train) + len(prepared.y_test) == len(selected.labels)
        except DataError as e:
            assert "\n" not in str(e)
    rows = selected.rows
    assert rows["read"] == len(next(iter(table.values()))) and rows["kept"] == len(selected.labels) > 0
    assert rows["read"] - rows["kept"] == sum(rows["excluded"].values())
    assert np.isfinite(selected.salary).all()


@SETTINGS
@given(survey_files())
def test_any_rows_get_a_prediction_or_a_reason(models, file):
    _, table = file
    with tempfile.TemporaryDirectory() as tmp:
        try:
            frame = read_survey(write(table, Path(tmp))).frame
        except DataError:
            return
    for run, outputs in models:
        try:
            result = run.predict_frame(Survey(frame, "input", "canonical"), outputs)
        except DataError as e:  # a column the model cannot do without
            assert "missing column" in str(e) and "\n" not in str(e)
            continue
        TRIED["predicted_rows"] += len(frame)
        assert len(result) == len(frame) and list(result["row"]) == list(range(1, len(frame) + 1))
        answer = result["salary"] if "salary" in result else result["probability"]
        has_reason = result["reason"] != ""
        assert (answer.notna() != has_reason).all()  # exactly one of them
        assert np.isfinite(answer[~has_reason]).all()
        if "probability" in result:
            assert answer[~has_reason].between(0, 1).all()


def test_the_properties_ran():
    print(
        f"\nhypothesis: {TRIED['files']} files read and selected, {TRIED['predicted_rows']} rows predicted, 0 failures"
    )
    assert TRIED["files"] >= 100 and TRIED["predicted_rows"] >= 100
