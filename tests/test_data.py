import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import TIDY, TUTORIAL, codes, form_rows
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from salarynet.data.schemas import COLUMNS
from salarynet.data.survey import canonicalise, parse_money, read_survey, salary_rows
from salarynet.errors import DataError
from salarynet.rows import stratified_split


def test_three_schemas_map_to_the_same_canonical_rows(snapshot):
    tidy = read_survey(TIDY)
    tutorial = read_survey(TUTORIAL)
    assert (snapshot.schema, tidy.schema, tutorial.schema) == ("form", "tidytuesday", "tutorial")
    # Every canonical column but the 2023 form's new questions, and each row's survey year.
    of_2021 = [c for c in COLUMNS if c not in ("function", "remote", "survey_year")] + ["survey_year"]
    assert list(snapshot.frame.columns) == of_2021 == list(tidy.frame.columns)
    # The TidyTuesday fixture holds the snapshot's first 200 rows.
    pd.testing.assert_frame_equal(tidy.frame, snapshot.frame.iloc[:200].reset_index(drop=True))
    # The tutorial fixture holds the USD rows of those, under five names.
    usd = tidy.frame[tidy.frame["currency"] == "USD"].reset_index(drop=True)
    pd.testing.assert_frame_equal(tutorial.frame, usd[list(tutorial.frame.columns)])
    assert set(tutorial.frame.columns) == {
        "age",
        "experience_overall",
        "gender",
        "education",
        "annual_salary",
        "survey_year",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("55000", 55000.0),
        ("55,000", 55000.0),
        (" $1,234.50 ", 1234.5),
        ("1 000 000", 1e6),
        ("abc", np.nan),
        ("", np.nan),
        (None, np.nan),
        ("55k", np.nan),
    ],
)
def test_parse_money(text, expected):
    got = parse_money(pd.Series([text], dtype=object)).iloc[0]
    assert (np.isnan(got) and np.isnan(expected)) or got == expected


def test_salaries_as_text_with_thousands_separators(tmp_path):
    path = tmp_path / "live.csv"
    form_rows({"annual_salary": "55,000"}, {"annual_salary": "120,500"}, {"annual_salary": "n/a"}).to_csv(
        path, index=False
    )
    assert '"55,000"' in path.read_text()
    survey = read_survey(path)
    salary, reason = salary_rows(survey, "USD")
    assert salary.tolist()[:2] == [55000.0, 120500.0]
    assert codes(reason) == ["", "", "salary_unparseable"]


def test_xlsx_reads_like_csv(tmp_path):
    rows = form_rows({"age": "35-44"}, {"gender": "Man", "annual_salary": "130000"})
    rows.to_csv(tmp_path / "s.csv", index=False)
    rows.to_excel(tmp_path / "s.xlsx", index=False)
    pd.testing.assert_frame_equal(read_survey(tmp_path / "s.xlsx").frame, read_survey(tmp_path / "s.csv").frame)


def test_headers_tolerate_case_spacing_and_curly_quotes():
    frame = pd.DataFrame(
        {
            "  HOW OLD ARE YOU? ": ["25-34"],
            "If you\u2019re in the U.S., what state do you work in?": ["Ohio"],
            "What is your race? (Choose all that apply.)": ["White"],
            "unrelated": ["x"],
        }
    )
    out, schema, unknown = canonicalise(frame, "t.csv")
    assert schema == "form" and list(out.columns) == ["age", "state", "race"] and unknown == ["unrelated"]


def test_blank_and_padded_answers():
    out, _, _ = canonicalise(pd.DataFrame({"gender": [" Woman ", "", None], "age": ["25-34"] * 3}, dtype=str), "t")
    assert out["gender"].iloc[0] == "Woman" and out["gender"].iloc[1:].isna().all()


def test_currency_missing_means_every_salary_is_taken_as_the_recipes():
    survey = read_survey(TUTORIAL)
    _, reason = salary_rows(survey, "USD")
    assert reason.isna().all()
    assert survey.notes == ["no currency column: every salary assumed USD"]


def write(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("absent.csv", None, r"absent\.csv: no such file"),
        ("notes.txt", b"a,b\n1,2\n", r"notes\.txt: unsupported file type \(expected \.csv, \.csv\.gz, \.xlsx\)"),
        ("empty.csv", b"", r"empty\.csv: cannot read as CSV"),
        ("broken.csv.gz", b"not gzip at all", r"broken\.csv\.gz: cannot read as CSV"),
        ("broken.xlsx", b"PK\x03\x04 truncated", r"broken\.xlsx: cannot read as XLSX"),
        (
            "other.csv",
            b"name,score\nann,3\n",
            r"other\.csv: unknown header schema: headers 'name', 'score' match none of",
        ),
        (
            "twice.csv",
            b"gender,What is your gender?\nMan,Man\n",
            r"twice\.csv: column 'What is your gender\?' is a second 'gender' column",
        ),
    ],
)
def test_unreadable_files_say_which_and_why(tmp_path, name, content, message):
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(DataError, match=message):
        read_survey(path)


def test_gzip_csv_reads(tmp_path):
    rows = form_rows({})
    path = write(tmp_path / "s.csv.gz", gzip.compress(rows.to_csv(index=False).encode()))
    assert read_survey(path).frame["age"].tolist() == ["25-34"]


def test_missing_salary_column_names_the_file_and_columns():
    survey = read_survey(TIDY)
    survey.frame = survey.frame.drop(columns="annual_salary")
    with pytest.raises(DataError, match=r"fixture-tidytuesday-200\.csv: missing column 'annual_salary'"):
        salary_rows(survey, "USD")


def test_semicolons_windows_1252_and_a_byte_order_mark(tmp_path):
    rows = form_rows({"education": "Master\u2019s degree"})
    rows.to_csv(tmp_path / "semi.csv", index=False, sep=";", encoding="cp1252")
    rows.to_csv(tmp_path / "bom.csv", index=False, encoding="utf-8-sig")
    for name in ("semi.csv", "bom.csv"):
        survey = read_survey(tmp_path / name)
        assert survey.schema == "form" and survey.frame["age"].tolist() == ["25-34"]
        assert survey.frame["education"].tolist() == ["Master's degree"]  # the spelling every year's form shares


def test_a_folder_is_not_a_survey(tmp_path):
    with pytest.raises(DataError, match=r"is a folder; expected a survey export file"):
        read_survey(tmp_path)


def test_infinite_and_negative_salaries_are_excluded(tmp_path):
    path = tmp_path / "odd.csv"
    form_rows({"annual_salary": "inf"}, {"annual_salary": "-5000"}, {"annual_salary": "0"}).to_csv(path, index=False)
    _, reason = salary_rows(read_survey(path), "USD")
    assert codes(reason) == ["salary_unparseable", "salary_negative", ""]


def test_salaries_convert_to_usd_at_2021_rates(tmp_path):
    from salarynet.data.survey import exchange_rates

    rates = exchange_rates()
    assert rates["USD"] == 1.0 and rates["GBP"] == pytest.approx(0.7265)
    rows = form_rows(
        {"annual_salary": "72650", "currency": "GBP", "country": "UK"},
        {"annual_salary": "141360", "currency": "AUD/NZD", "country": "New Zealand"},
        {"annual_salary": "133070", "currency": "AUD/NZD", "country": "Australia"},
        {"annual_salary": "100000", "currency": "Other", "country": "USA"},
        {"annual_salary": "500000", "currency": "Other", "country": "India"},
        {"annual_salary": "9000", "currency": "USD"},
        {"annual_salary": "2000000", "currency": "USD"},
    )
    rows['If "Other," please indicate the currency here: '] = [None, None, None, "US Dollars", "INR", None, None]
    path = tmp_path / "world.csv"
    rows.to_csv(path, index=False)
    salary, reason = salary_rows(read_survey(path), "convert", 10000, 1000000)
    np.testing.assert_allclose(salary[:4], [100000, 100000, 100000, 100000], rtol=1e-4)
    assert codes(reason) == ["", "", "", "", "currency_without_rate", "salary_implausible", "salary_implausible"]


def test_countries_and_states_are_tidied_when_read(tmp_path):
    rows = form_rows({"country": "U.S.A."}, {"country": "England"}, {"country": "Narnia"})
    rows["If you're in the U.S., what state do you work in?"] = ["California, Oregon", None, None]
    rows.to_csv(tmp_path / "c.csv", index=False)
    frame = read_survey(tmp_path / "c.csv").frame
    assert frame["country"].tolist() == ["United States", "United Kingdom", "Narnia"]
    assert frame["state"].tolist()[0] == "California, Oregon"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=12, max_size=400), st.floats(0.05, 0.95), st.integers(0, 2**31 - 1))
def test_the_stratified_split_is_scikit_learns(labels, fraction, seed):
    """rows.stratified_split draws what train_test_split(stratify=...) draws, row for row, for any classes."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    n_train = int(np.floor(fraction * len(labels)))
    classes = len(np.unique(labels))
    _, counts = np.unique(labels, return_counts=True)
    assume(counts.min() >= 2 and min(n_train, len(labels) - n_train) >= classes)
    train, test = stratified_split(labels, n_train, seed)
    expected = train_test_split(np.arange(len(labels)), train_size=fraction, stratify=labels, random_state=seed)
    np.testing.assert_array_equal(train, np.sort(expected[0]))
    np.testing.assert_array_equal(test, np.sort(expected[1]))
