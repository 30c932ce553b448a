"""Every stage of a fit on the real snapshot: rows, split, scaling, the fit, metrics, predictions."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import TIDY, TUTORIAL, form_rows

from salarynet import features
from salarynet.data.schemas import normalise
from salarynet.data.survey import parse_money, read_survey
from salarynet.errors import DataError
from salarynet.estimator import SalaryNet, load
from salarynet.nn import model
from salarynet.nn.losses import binary_crossentropy
from salarynet.rows import select_rows, split_indices


def test_row_accounting_matches_an_independent_count(snapshot, short_recipe):
    rows = select_rows(snapshot, short_recipe).rows
    f = snapshot.frame
    usd = f[f["currency"] == "USD"]
    salary_ok = usd[parse_money(usd["annual_salary"]).notna()]
    gender_ok = salary_ok[salary_ok["gender"].isin(["Woman", "Man"])]
    order = {c.column: c.order for c in short_recipe.features.columns}
    age_ok = gender_ok[
        gender_ok["age"].isin(order["age"]) & gender_ok["experience_overall"].isin(order["experience_overall"])
    ]
    kept = age_ok[age_ok["education"].isin(order["education"])]
    assert rows["read"] == len(f)
    assert rows["kept"] == len(kept)
    assert rows["read"] == rows["kept"] + sum(rows["excluded"].values())
    assert rows["excluded"]["currency_not_usd"] == len(f) - len(usd)
    assert rows["excluded"]["gender_blank"] == salary_ok["gender"].isna().sum()
    assert (
        rows["excluded"]["gender_unlisted"]
        == (salary_ok["gender"].notna() & ~salary_ok["gender"].isin(["Woman", "Man"])).sum()
    )
    assert rows["excluded"]["education_blank"] + rows["excluded"]["education_unlisted"] == len(age_ok) - len(kept)


def test_tutorial_fixture_keeps_what_the_tidytuesday_fixture_keeps_in_usd(short_recipe):
    tidy = select_rows(read_survey(TIDY), short_recipe)
    tutorial = select_rows(read_survey(TUTORIAL), short_recipe)
    assert tidy.rows["kept"] == tutorial.rows["kept"]
    assert tutorial.rows["read"] == tidy.rows["read"] - tidy.rows["excluded"]["currency_not_usd"]
    columns = short_recipe.features.columns
    np.testing.assert_array_equal(
        features.ordinal_codes(tidy.frame, columns)[0], features.ordinal_codes(tutorial.frame, columns)[0]
    )
    np.testing.assert_array_equal(tidy.labels, tutorial.labels)


def test_split_is_stratified_seeded_and_keeps_file_order(snapshot, short_recipe):
    labels = select_rows(snapshot, short_recipe).labels
    train_idx, test_idx = split_indices(labels, 0.7, 42, "s")
    assert len(np.intersect1d(train_idx, test_idx)) == 0 and len(train_idx) + len(test_idx) == len(labels)
    assert (np.diff(train_idx) > 0).all() and (np.diff(test_idx) > 0).all()
    assert len(train_idx) == pytest.approx(0.7 * len(labels), abs=1)
    assert labels[train_idx].mean() == pytest.approx(labels.mean(), abs=1 / len(train_idx))
    assert labels[test_idx].mean() == pytest.approx(labels.mean(), abs=1 / len(test_idx))
    again, _ = split_indices(labels, 0.7, 42, "s")
    other, _ = split_indices(labels, 0.7, 43, "s")
    assert np.array_equal(train_idx, again) and not np.array_equal(train_idx, other)


def test_test_rows_are_scaled_with_the_training_rows_min_max(snapshot, short_recipe, trained, prepared):
    sel = select_rows(snapshot, short_recipe)
    codes = features.ordinal_codes(sel.frame, short_recipe.features.columns)[0]
    train_idx, test_idx = split_indices(sel.labels, 0.7, short_recipe.seed, "s")
    state = trained.features_
    assert state.to_json() == prepared.state.to_json()
    np.testing.assert_array_equal(state.minimum, codes[train_idx].min(0))
    np.testing.assert_array_equal(state.maximum, codes[train_idx].max(0))
    expected = (codes[test_idx] - state.minimum) / (state.maximum - state.minimum)
    np.testing.assert_allclose(prepared.x_test.numeric, expected, rtol=1e-6)
    assert not np.array_equal(prepared.x_test.numeric, codes[test_idx])  # the tutorial's mistake


def test_validation_rows_are_the_last_training_rows(trained, prepared):
    """Keras's validation_split: history's last val_loss is the final model on the last 20% of x_train."""
    prep, rows = prepared, trained.rows_
    assert rows["fit"] == int(np.floor(rows["train"] * 0.8)) and rows["validation"] == rows["train"] - rows["fit"]
    out = model.apply(trained.spec_, trained.params_, prep.x_train.take(slice(rows["fit"], None)))
    y = jnp.asarray(np.eye(2, dtype=np.float32)[prep.y_train[rows["fit"] :]])
    assert float(jnp.mean(binary_crossentropy(y, out))) == pytest.approx(
        trained.history_["val_loss"].iloc[-1], abs=1e-6
    )


def test_metrics_have_what_the_issue_lists(trained, prepared):
    m = trained.record_
    for key in ("accuracy", "auc", "loss", "binary_accuracy", "confusion_matrix"):
        assert key in m["test"]
    assert m["rows"]["read"] == m["rows"]["kept"] + sum(m["rows"]["excluded"].values())
    assert m["rows"]["test"] == sum(m["test"]["confusion_matrix"].values())
    assert m["baseline"]["majority_accuracy"] == pytest.approx(1 - prepared.y_test.mean())
    assert m["fit_seconds"] > 0


def test_same_seed_same_numbers_bit_for_bit(snapshot, short_recipe, trained):
    again = SalaryNet(short_recipe).fit(snapshot)
    for a, b in zip(again.params_["dense"], trained.params_["dense"]):
        assert np.array_equal(a["kernel"], b["kernel"]) and np.array_equal(a["bias"], b["bias"])
    assert again.metrics_ == trained.metrics_
    other = SalaryNet(short_recipe, seed=5).fit(snapshot)
    assert not np.array_equal(other.params_["dense"][0]["kernel"], trained.params_["dense"][0]["kernel"])


def test_too_few_usable_rows(tmp_path, short_recipe):
    path = tmp_path / "few.csv"
    form_rows({}, {"annual_salary": "150000"}, {"gender": "Non-binary"}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"few\.csv: 2 usable rows, the rarest class has 1"):
        SalaryNet(short_recipe).fit(read_survey(path))


def test_predict_frame_keeps_every_row_in_order(trained, run_dir):
    run = load(run_dir)
    rows = pd.DataFrame(
        {
            "age": ["25-34", "35-44", None, "45-54"],
            "experience_overall": ["5-7 years", "11 - 20 years", "2 - 4 years", "8 - 10 years"],
            "education": ["PhD", "Some college", "College degree", "Master's degree"],
            "gender": ["Woman", "Man", "Man", "Woman"],
        }
    )
    out = run.predict_frame(rows)
    assert out["row"].tolist() == [1, 2, 3, 4]
    assert out["reason"].tolist()[1] == (
        "education 'Some college' is not one of: High School, College degree, "
        "Master's degree, Professional degree (MD, JD, etc.), PhD"
    )
    assert (
        out["reason"].tolist()[2]
        == "age: an answer is required, one of: under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65 or over"
    )
    assert out["probability"].isna().tolist() == [False, True, True, False]
    # Each prediction is the network's output on that row alone, scaled with the saved min/max.
    for i in (0, 3):
        x, _ = features.encode(run.features_, rows.iloc[[i]])
        o = np.asarray(model.apply(run.spec_, run.params_, x))[0]
        assert out["probability"][i] == pytest.approx(o[1] / (o[0] + o[1]), rel=1e-6)
        assert out["prediction"][i] == int(o[1] > o[0])


def test_spelling_keys_are_stable():
    assert normalise("  Master\u2019s   Degree ") == "master's degree"


def test_why_a_row_cannot_be_answered_is_a_record_until_it_is_worded(trained):
    """Refusals (the answer-set contract) and encoding reasons are records (question, kind, value, allowed
    answers) from where they are found to where they are worded: nothing parses a reason back out of text."""
    from salarynet.answerset import Refusal
    from salarynet.reasons import Reason

    people = pd.DataFrame(
        {
            "age": ["25-34", None, "25-34"],
            "experience_overall": ["5-7 years"] * 3,
            "gender": ["Woman", "Woman", "Non-binary"],
            "education": ["Master's degree"] * 3,
        }
    )
    answered = trained.answer(people)
    first, blank, unlisted = answered.why
    assert first is None and answered.ok.tolist() == [True, False, False]
    assert isinstance(blank, Refusal) and (blank.field, blank.kind, blank.value) == ("age", "missing", None)
    assert "Woman" in str(unlisted) and "Man" in unlisted.allowed  # the words come from the record's fields
    assert isinstance(unlisted, (Refusal, Reason)) and (getattr(unlisted, "field", None) or unlisted.column) == "gender"
    table = trained.predict_frame(people)
    assert table["reason"].tolist() == ["", str(blank), str(unlisted)]  # worded once, where the table is made
    _, reason = trained.encode(pd.DataFrame({**people.iloc[[2]].to_dict("list")}))
    assert reason[0] == Reason("gender", "unlisted", "Non-binary", tuple(reason[0].allowed))
