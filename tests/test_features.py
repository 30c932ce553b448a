import numpy as np
import pandas as pd
import pytest

from salarynet import features
from salarynet.errors import DataError
from salarynet.recipe import load_recipe

COLUMNS, CODES = features.recipe_codes(load_recipe("tutorial").features)


def frame(*rows):
    return pd.DataFrame(rows, columns=["age", "experience_overall", "gender", "education"])


def test_ordinal_codes_are_one_based_and_gender_is_zero_one():
    coded, reason = features.encode_answers(
        frame(["under 18", "1 year or less", "Woman", "High School"],
              ["65 or over", "41 years or more", "Man", "PhD"]), COLUMNS, CODES)
    assert coded.tolist() == [[1, 1, 0, 1], [7, 8, 1, 5]]
    assert reason.tolist() == ["", ""]


def test_answers_match_up_to_case_spacing_and_curly_quotes():
    coded, reason = features.encode_answers(frame(["25-34", "5-7  YEARS", "woman", "Master\u2019s degree"]), COLUMNS, CODES)
    assert coded.tolist() == [[3, 3, 0, 3]] and reason.tolist() == [""]


def test_unusable_answers_get_the_first_columns_reason():
    coded, reason = features.encode_answers(
        frame(["25-34", "5-7 years", "Non-binary", "Some college"],
              ["25-34", "5-7 years", None, "PhD"],
              ["25-34", "5-7 years", "Man", None],
              ["25-34", "5-7 years", "Man", "PhD"]), COLUMNS, CODES)
    assert reason.tolist() == ["gender_unlisted", "gender_blank", "education_blank", ""]
    assert np.isnan(coded[0, 2]) and np.isnan(coded[0, 3]) and not np.isnan(coded[3]).any()


def test_a_missing_column_is_a_data_error():
    with pytest.raises(DataError, match=r"new\.csv: missing column 'education'; the model needs age, experience_overall, gender, education"):
        features.encode_answers(frame()[["age", "experience_overall", "gender"]], COLUMNS, CODES, "new.csv")


def test_minmax_is_fitted_on_training_rows_and_applied_to_others():
    x_train = np.array([[2.0, 1.0, 0.0, 1.0], [4.0, 5.0, 1.0, 1.0]])
    state = features.fit(x_train, COLUMNS, CODES, 100000, "minmax")
    np.testing.assert_array_equal(features.transform(state, x_train), [[0, 0, 0, 0], [1, 1, 1, 0]])
    # A test row outside the training range lands outside [0, 1]; a constant column divides by 1, never NaN.
    np.testing.assert_allclose(features.transform(state, np.array([[6.0, 3.0, 1.0, 3.0]])), [[2.0, 0.5, 1.0, 2.0]])
    assert features.transform(state, x_train).dtype == np.float32


def test_no_scaling_keeps_codes():
    state = features.fit(np.array([[2.0, 1, 0, 1], [4, 5, 1, 1]]), COLUMNS, CODES, 1, "none")
    np.testing.assert_array_equal(features.transform(state, np.array([[3.0, 2, 1, 5]])), [[3, 2, 1, 5]])


def test_label_is_strictly_above_the_threshold():
    assert features.label(np.array([99999, 100000, 100000.01, 250000]), 100000).tolist() == [0, 0, 1, 1]


def test_state_json_round_trip():
    state = features.fit(np.array([[2.0, 1, 0, 1], [4, 5, 1, 3]]), COLUMNS, CODES, 100000, "minmax")
    back = features.FeatureState.from_json(state.to_json())
    assert back.columns == state.columns and back.codes == state.codes and back.threshold == state.threshold
    np.testing.assert_array_equal(back.minimum, state.minimum)
    np.testing.assert_array_equal(back.maximum, state.maximum)
