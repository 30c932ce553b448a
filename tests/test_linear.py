"""The [blend] logistic regression: its features and probabilities on hand-made rows, its saved state, and a
blended run's predictions, the same through the API, the command line's file path and a saved run."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from salarynet import artifacts, linear
from salarynet.errors import ArtifactError, RecipeError
from salarynet.estimator import SalaryNet, load
from salarynet.recipe import load_recipe

ROWS = pd.DataFrame(
    {
        "industry": ["Tech", "Tech", "Law", "Law", "Tech", "Health", None, "Law"] * 5,
        "job_title": [
            "Data Scientist",
            "Software Engineer",
            "Paralegal",
            "Attorney",
            "Data Engineer",
            "Nurse",
            "Teacher",
            "Senior Attorney",
        ]
        * 5,
    }
)
LABELS = np.array([1, 1, 0, 1, 1, 0, 0, 1] * 5)


@pytest.fixture(scope="module")
def state():
    return linear.fit(ROWS, LABELS, ["industry"], ["job_title"], weight=0.4, c=1.0, min_count=5)


def test_rare_and_unseen_answers_share_their_columns_other_slot(state):
    assert state.categories == (("(blank)", "Health", "Law", "Tech"),)  # each 5+ times
    x = linear.design(state, pd.DataFrame({"industry": ["Tech", "Mining", None], "job_title": ["", "", ""]}))
    assert x[:, :5].toarray().tolist() == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]]


def test_probabilities_are_scikit_learns(state):
    x = linear.design(state, ROWS)
    reference = LogisticRegression(C=1.0, max_iter=3000, solver="liblinear").fit(
        x, LABELS
    )  # linear.fit's, for 2 classes
    np.testing.assert_allclose(linear.probabilities(state, ROWS), reference.predict_proba(x), rtol=1e-6)
    assert "attorney" in state.words and "ey " in state.letters  # words and letters within words


def test_the_state_round_trips_and_a_damaged_one_is_refused(state, tmp_path):
    again = linear.LinearState.from_json(json.loads(json.dumps(state.to_json())), "x")
    np.testing.assert_array_equal(linear.probabilities(again, ROWS), linear.probabilities(state, ROWS))
    broken = state.to_json() | {"coef": [[0.0, 1.0]]}
    with pytest.raises(ArtifactError, match=r"x: the linear model's parts do not fit together"):
        linear.LinearState.from_json(broken, "x")


def test_blend_needs_class_probabilities():
    with pytest.raises(RecipeError, match="blend averages class probabilities"):
        load_recipe("recommended-range", ["blend.linear=0.4"])
    with pytest.raises(RecipeError, match="blend averages class probabilities"):
        load_recipe("tutorial", ["blend.linear=0.4"])  # two sigmoid outputs are no probabilities


@pytest.fixture(scope="module")
def blended(snapshot, tmp_path_factory):
    net = SalaryNet("recommended", fit__epochs=2, fit__refit=False).fit(snapshot.frame.head(4000))
    return net, net.save(tmp_path_factory.mktemp("blend") / "run")


def test_a_blended_run_answers_the_average_and_saves_it(blended, snapshot):
    net, folder = blended
    rows = snapshot.frame.iloc[4000:4200]
    blend = net.predict_proba(rows)
    ok = ~np.isnan(blend[:, 0])
    network = net.task_.outputs(net.raw(net.encode(rows[ok])[0]), net.spec_.activations[-1])
    np.testing.assert_allclose(blend[ok], 0.6 * network + 0.4 * linear.probabilities(net.linear_, rows[ok]), rtol=1e-6)
    again = load(folder)
    np.testing.assert_array_equal(again.predict_proba(rows), blend)
    assert again.predict_frame(rows)["probability"].tolist() == net.predict_frame(rows)["probability"].tolist()


def test_a_changed_linear_file_is_refused(blended, tmp_path):
    import shutil

    folder = shutil.copytree(blended[1], tmp_path / "run")
    text = (folder / artifacts.LINEAR).read_text().replace('"weight": 0.4', '"weight": 0.9')
    (folder / artifacts.LINEAR).write_text(text)
    with pytest.raises(ArtifactError, match=r"linear\.json: checksum differs from model\.json"):
        load(folder)


@pytest.fixture(scope="module")
def titled(snapshot):
    """The blend of the snapshot's first 3,000 rows (titles and their context as the text)."""
    frame = snapshot.frame.head(3000)
    labels = (pd.to_numeric(frame["annual_salary"].str.replace(",", ""), errors="coerce") > 80_000).to_numpy(int)
    return linear.fit(frame, labels, ["industry"], ["job_title", "job_context"], weight=0.4, c=1.0, min_count=5)


def _sklearn_text_share(state, texts):
    """The title's share of the scores through scikit-learn's own vectorizers (what the fit used)."""
    offset, share = sum(len(kept) + 1 for kept in state.categories), 0
    for vectorizer, vocabulary in zip(linear._vectorizers(state), (state.words, state.letters)):
        share = share + np.asarray(vectorizer.transform(texts) @ state.coef[:, offset : offset + len(vocabulary)].T)
        offset += len(vocabulary)
    return share


def test_the_title_share_is_scikit_learns_tfidf_on_the_survey(titled, snapshot):
    """Predicting computes TF-IDF without scikit-learn: the same features as its TfidfVectorizer, on every
    title and context of the snapshot."""
    texts = linear.text_of(snapshot.frame, titled.text_columns)
    offset = sum(len(kept) + 1 for kept in titled.categories)
    np.testing.assert_allclose(
        linear._text_share(titled, texts, offset), _sklearn_text_share(titled, texts), rtol=1e-9, atol=1e-12
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("ab cé\tD-É1_'\u00a0\u2003x")), max_size=30) | st.text(max_size=40),
        min_size=1,
        max_size=5,
    )
)
def test_the_title_share_is_scikit_learns_tfidf_on_any_text(titled, texts):
    vocabulary = linear.LinearState(
        titled.weight,
        (),
        (),
        ("t",),
        ("ab", "ab cé", "d1", "x"),
        (" a", "ab", "b ", " x ", "é", "d-"),
        np.array([1.0, 2.0, 1.5, 3.0]),
        np.linspace(1, 2, 6),
        np.arange(20.0).reshape(2, 10) - 7,
        np.zeros(2),
    )
    np.testing.assert_allclose(
        linear._text_share(vocabulary, texts, 0), _sklearn_text_share(vocabulary, texts), rtol=1e-9, atol=1e-12
    )
