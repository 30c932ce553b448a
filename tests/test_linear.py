"""The [blend] logistic regression: its features and probabilities on hand-made rows, its saved state, and a
blended run's predictions, the same through the API, the command line's file path and a saved run."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from salarynet import artifacts, linear
from salarynet.errors import ArtifactError, RecipeError
from salarynet.estimator import SalaryNet, load
from salarynet.recipe import load_recipe

ROWS = pd.DataFrame({
    "industry": ["Tech", "Tech", "Law", "Law", "Tech", "Health", None, "Law"] * 5,
    "job_title": ["Data Scientist", "Software Engineer", "Paralegal", "Attorney", "Data Engineer", "Nurse",
                  "Teacher", "Senior Attorney"] * 5,
})
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
    reference = LogisticRegression(C=1.0, max_iter=3000, solver="liblinear").fit(x, LABELS)  # linear.fit's, for 2 classes
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
