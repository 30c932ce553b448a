import numpy as np
import pandas as pd
import pytest
from conftest import codes

from salarynet import features
from salarynet.errors import DataError
from salarynet.reasons import Flag
from salarynet.recipe import load_recipe
from salarynet.tasks import task_of

TUTORIAL = load_recipe("tutorial").features
RECOMMENDED = load_recipe("recommended").features


def frame(*rows):
    return pd.DataFrame(rows, columns=["age", "experience_overall", "gender", "education"])


def test_ordinal_codes_are_one_based_and_gender_is_zero_one():
    coded, reason = features.ordinal_codes(
        frame(["under 18", "1 year or less", "Woman", "High School"], ["65 or over", "41 years or more", "Man", "PhD"]),
        TUTORIAL.columns,
    )
    assert coded.tolist() == [[1, 1, 0, 1], [7, 8, 1, 5]]
    assert codes(reason) == ["", ""]


def test_answers_match_up_to_case_spacing_and_curly_quotes():
    coded, reason = features.ordinal_codes(
        frame(["25-34", "5-7  YEARS", "woman", "Master\u2019s degree"]), TUTORIAL.columns
    )
    assert coded.tolist() == [[3, 3, 0, 3]] and codes(reason) == [""]


def test_unusable_answers_get_the_first_columns_reason():
    coded, reason = features.ordinal_codes(
        frame(
            ["25-34", "5-7 years", "Non-binary", "Some college"],
            ["25-34", "5-7 years", None, "PhD"],
            ["25-34", "5-7 years", "Man", None],
            ["25-34", "5-7 years", "Man", "PhD"],
        ),
        TUTORIAL.columns,
    )
    assert codes(reason) == ["gender_unlisted", "gender_blank", "education_blank", ""]
    assert np.isnan(coded[0, 2]) and np.isnan(coded[0, 3]) and not np.isnan(coded[3]).any()


def test_unlisted_zero_codes_instead_of_excluding():
    section = load_recipe("tutorial", ['features.columns.3.unlisted="zero"']).features
    coded, reason = features.ordinal_codes(frame(["25-34", "5-7 years", "Man", "Some college"]), section.columns)
    assert coded.tolist() == [[3, 3, 1, 0]] and codes(reason) == [""]


def test_a_missing_column_is_a_data_error():
    with pytest.raises(
        DataError,
        match=r"new\.csv: missing column 'education'; the model needs age, experience_overall, gender, education",
    ):
        features.ordinal_codes(frame()[["age", "experience_overall", "gender"]], TUTORIAL.columns, "new.csv")


def test_minmax_is_fitted_on_training_rows_and_applied_to_others():
    train = frame(["18-24", "1 year or less", "Woman", "High School"], ["35-44", "11 - 20 years", "Man", "High School"])
    state = features.fit(TUTORIAL, train)
    x, _ = features.encode(state, train)
    np.testing.assert_array_equal(x.numeric, [[0, 0, 0, 0], [1, 1, 1, 0]])
    # A row outside the training range lands outside [0, 1]; a constant column divides by 1, never NaN.
    other, _ = features.encode(state, frame(["55-64", "5-7 years", "Man", "PhD"]))
    np.testing.assert_allclose(other.numeric, [[2.0, 0.5, 1.0, 4.0]])
    assert x.numeric.dtype == np.float32 and x.cats.shape == (2, 0) and x.tokens.shape == (2, 0)


def survey_rows():
    rows = pd.DataFrame(
        {
            "age": ["25-34"] * 3 + ["35-44"] * 2,
            "experience_overall": ["5-7 years"] * 5,
            "experience_field": ["2 - 4 years"] * 5,
            "education": ["PhD", "Some college", None, "PhD", "PhD"],
            "gender": ["Woman", "Man", "Non-binary", None, "Woman"],
            "industry": ["Law"] * 4 + ["Rare"],
            "country": ["United States"] * 5,
            "state": ["California, Oregon", "Ohio", None, "Ohio", "Ohio"],
            "race": [
                "White",
                "Hispanic, Latino, or Spanish origin, White",
                "White",
                "Asian or Asian American",
                "White",
            ],
            "job_title": ["Senior Counsel", "Data Scientist", "Counsel", "Data Engineer", "Librarian"],
            "job_context": [None, "ML", None, None, None],
            "city": ["Boston", "boston ", "Chicago", None, "Boston"],
            "function": [None] * 5,  # the 2023 form's new questions: blank in a 2021 row
            "remote": [None] * 5,
            "survey_year": ["2021"] * 5,
        }
    )
    return rows


def test_categories_learn_a_vocabulary_and_map_the_unseen_to_zero():
    section = load_recipe(
        "recommended",
        [
            "features.columns.5.min_count=2",
            "features.columns.3.min_count=1",
            "features.columns.0.min_count=1",
            "features.columns.7.min_count=1",
            "features.columns.8.min_count=1",
            "features.columns.9.min_count=3",
            "features.text.min_count=2",
        ],
    ).features
    state = features.fit(section, survey_rows())
    by_name = {c.column: c for c in state.columns}
    assert by_name["industry"].codes == {"law": 1.0}  # "Rare" once: pooled into the reserved 0
    assert set(by_name["gender"].codes) == {"woman", "man", "non-binary"}  # multi-select: blanks choose none
    assert set(by_name["education"].codes) == {"phd", "some college", "(blank)"}
    assert set(by_name["state"].codes) == {"ohio", "california", "oregon"}
    # The form's one option with commas in it stays one option; the survey's spelling is kept for people.
    assert set(by_name["race"].codes) == {"white", "hispanic, latino, or spanish origin", "asian or asian american"}
    assert by_name["race"].label("hispanic, latino, or spanish origin") == "Hispanic, Latino, or Spanish origin"
    assert by_name["city"].codes == {"boston": 1.0} and by_name["city"].label("boston") == "Boston"
    assert by_name["education"].label("(blank)") == "(blank)"
    assert features.FeatureState.from_json(state.to_json()).columns == state.columns
    new = (
        survey_rows()
        .iloc[[0]]
        .assign(industry="Space", gender="Prefer not to say", state="Ohio, Texas", job_title="Counsel to the Wizard")
    )
    x, reason = features.encode(state, new)
    assert codes(reason) == [""]
    cats = dict(zip([c.column for c in state.categories], x.cats[0]))
    assert (
        cats["industry"] == 0
        and cats["education"] == by_name["education"].codes["phd"]
        and cats["age"] == by_name["age"].codes["25-34"]
    )
    seen = {i for i in x.tokens[0] if i}
    assert seen and all(w > 0 for i, w in zip(x.tokens[0], x.weights[0]) if i)
    assert all(w == 0 for i, w in zip(x.tokens[0], x.weights[0]) if i == 0)  # "wizard" was never seen


def test_ngrams_are_words_pairs_and_pieces():
    grams = features.ngrams("Sr. Data-Scientist")
    assert {"w sr", "w data", "w scientist", "p sr data", "p data scientist", "c <sr>", "c <d", "c ist>"} <= set(grams)
    assert (
        features.bucket("w data", 1 << 20) == features.bucket("w data", 1 << 20) and 1 <= features.bucket("x", 16) < 16
    )


def test_idf_weighs_common_ngrams_less():
    section = load_recipe("recommended", ["features.text.min_count=1"]).features
    state = features.fit(section, survey_rows())
    x, _ = features.encode(state, pd.DataFrame({"job_title": ["Counsel Librarian"]}))
    weights = dict(zip(features.hashed(pd.Series(["Counsel Librarian"]), state.text.buckets)[0], x.weights[0]))
    counsel, librarian = (weights[features.bucket(f"w {w}", state.text.buckets)] for w in ("counsel", "librarian"))
    assert counsel < librarian  # "counsel" is in two training titles, "librarian" in one


@pytest.mark.parametrize(
    "recipe, expected",
    [
        ("recommended", [0, 0, 1, 1]),
        ("recommended-bands", [0, 1, 2, 3]),
    ],
)
def test_labels(recipe, expected):
    section = load_recipe(recipe).features
    assert task_of(section).label(np.array([50000, 100000, 100000.01, 250000])).tolist() == expected


def test_regression_label_is_log_salary_and_state_learns_its_scale():
    section = load_recipe("recommended-range").features
    labels = task_of(section).label(np.array([50000.0, 100000.0]))
    np.testing.assert_allclose(labels, np.log([50000.0, 100000.0]), rtol=1e-6)
    state = features.fit(section, survey_rows().iloc[:2], labels)
    assert state.shift == pytest.approx(np.log([50000, 100000]).mean(), rel=1e-6)
    np.testing.assert_allclose(state.unscale((labels - state.shift) / state.spread), labels, rtol=1e-6)


def test_state_json_round_trip():
    section = load_recipe("recommended", ["features.text.min_count=1"]).features
    state = features.fit(section, survey_rows())
    back = features.FeatureState.from_json(state.to_json())
    assert back.columns == state.columns and back.text == state.text and back.threshold == state.threshold
    x1, _ = features.encode(state, survey_rows())
    x2, _ = features.encode(back, survey_rows())
    for a, b in zip(x1, x2):
        np.testing.assert_array_equal(a, b)


def test_vocabulary_numbers_equal_counts_by_answer_not_by_row_order():
    # pandas 2 and 3 order value_counts' ties differently; the codes (and so the trained model) must follow
    # neither that nor the rows' order: most frequent first, equal counts A-Z, the commonest spelling A-Z.
    section = load_recipe("recommended", ["features.columns.5.min_count=1", "features.columns.9.min_count=1"]).features
    rows = (
        pd.concat([survey_rows()] * 2, ignore_index=True)
        .iloc[:6]
        .assign(industry=["Zoo", "Arts", "Zoo", "Arts", "Law", "Bank"], city=["boston", "Boston"] * 3)
    )
    fitted = [
        features.fit(section, rows.iloc[order])
        for order in (range(6), range(5, -1, -1), np.random.default_rng(0).permutation(6))
    ]
    assert all(f.columns == fitted[0].columns for f in fitted)
    by_name = {c.column: c for c in fitted[0].columns}
    assert by_name["industry"].codes == {"arts": 1.0, "zoo": 2.0, "bank": 3.0, "law": 4.0}
    assert by_name["city"].label("boston") == "Boston"
    assert list(features.counted(["b", "a", "c", "b", "a", "d"]).items()) == [("a", 2), ("b", 2), ("c", 1), ("d", 1)]


def test_flags_say_what_the_model_made_of_answers_it_did_not_learn():
    from salarynet.data.survey import tidy_survey

    section = load_recipe(
        "recommended",
        [
            "features.columns.5.min_count=2",
            "features.columns.6.min_count=1",
            "features.columns.7.min_count=1",
            "features.columns.8.min_count=1",
            "features.columns.9.min_count=1",
            "features.text.min_count=1",
        ],
    ).features
    state = features.fit(section, survey_rows())
    people = pd.DataFrame(
        {
            "industry": ["Law", "Space", None],
            "city": ["Boston", "Zorblax", None],
            "state": ["Ohio", "Ohio, Atlantis", None],
            "country": ["USA", "Unites States", "Freedonia"],
            "race": ["White", "White, Martian", None],
            "job_title": ["Senior Counsel", "Data Wizard", "Qqq Zzz"],
        },
        dtype=object,
    )
    survey = tidy_survey(people, "hand-made")
    records = features.flags(state, survey.frame, survey.given)
    assert all(isinstance(f, Flag) for row in records for f in row)  # records, worded only by .message
    found = [[f.to_json() for f in row] for row in records]
    assert found[0] == [
        {"field": "country", "kind": "resolved", "answer": "USA", "message": "country 'USA' read as 'United States'"}
    ]
    by_field = {f["field"]: f for f in found[1]}
    assert by_field["industry"]["kind"] == "unknown" and by_field["industry"]["answer"] == "Space"
    assert by_field["city"]["answer"] == "Zorblax" and "rare answer" in by_field["city"]["message"]
    assert by_field["race"]["answer"] == "Martian"  # White is known: only the unknown option is named
    assert by_field["state"] == {
        "field": "state",
        "kind": "resolved",
        "answer": "Ohio, Atlantis",
        "message": "state 'Ohio, Atlantis' read as 'Ohio'",
    }  # the alias table knows no Atlantis
    assert by_field["job_title"]["kind"] == "unknown_words" and by_field["job_title"]["answer"] == "wizard"
    assert by_field["country"]["kind"] == "resolved" and "'United States'" in by_field["country"]["message"]
    kinds = {(f["field"], f["kind"]) for f in found[2]}
    # blanks are no answer, not an unknown one; a title with no known word or piece answers as a blank one
    assert kinds == {("job_title", "no_known_words"), ("country", "unknown")}
