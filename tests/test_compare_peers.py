"""compare's tuned peers: logistic regression (ridge for a range) with its L2 strength chosen by inner CV,
and CatBoost, there only when catboost is installed. A few hundred rows of the survey snapshot: seconds."""

import sys

import numpy as np
import pytest

from salarynet import rows as survey_rows
from salarynet.apps import compare
from salarynet.data.source import open_survey
from salarynet.recipe import load_recipe
from salarynet.rows import select_rows

SURVEY = open_survey(None)[0]


def sample(recipe_name: str, rows: int = 400, seed: int = 0) -> tuple:
    """(recipe, training Selection, test rows, test labels) from `rows` random usable rows of the snapshot."""
    recipe = load_recipe(recipe_name)
    sel = select_rows(SURVEY, recipe)
    picked = np.random.default_rng(seed).choice(len(sel.labels), rows, replace=False)
    train, test = picked[: rows * 3 // 4], picked[rows * 3 // 4 :]
    return recipe, survey_rows.subset(sel, train), sel.frame.iloc[test], sel.labels[test]


def valid_probabilities(outputs: np.ndarray, rows: int, width: int) -> None:
    assert outputs.shape == (rows, width)
    assert np.isfinite(outputs).all() and (outputs >= 0).all() and (outputs <= 1).all()
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, atol=1e-6)


def test_tuned_logistic_regression_picks_C_from_its_grid_by_inner_cv():
    recipe, train, test_rows, _ = sample("recommended")
    search = compare.tuned_linear(recipe, train)
    assert search.best_params_["logisticregression__C"] in compare.C_GRID
    assert len(search.cv_results_["params"]) == len(compare.C_GRID)
    assert search.n_splits_ == compare.INNER_FOLDS
    chosen: list[float] = []
    outputs = compare.logistic_cv(recipe, chosen)(train, test_rows)
    valid_probabilities(outputs, len(test_rows), 2)
    assert chosen == [search.best_params_["logisticregression__C"]]


def test_tuned_logistic_regression_gives_every_band_a_column():
    recipe, train, test_rows, _ = sample("recommended-bands")
    outputs = compare.logistic_cv(recipe)(train, test_rows)
    valid_probabilities(outputs, len(test_rows), recipe.features.classes)


def test_tuned_ridge_picks_alpha_for_a_range():
    recipe, train, test_rows, _ = sample("recommended-range")
    chosen: list[float] = []
    outputs = compare.logistic_cv(recipe, chosen)(train, test_rows)
    assert len(chosen) == 1 and chosen[0] in compare.ALPHA_GRID
    assert outputs.shape == (len(test_rows), 3) and np.isfinite(outputs).all()
    assert (outputs[:, 1] <= outputs[:, 0]).all() and (outputs[:, 0] <= outputs[:, 2]).all()
    assert "ridge, alpha by inner CV" in compare.peers(recipe)


def test_both_logistic_regressions_are_peers():
    names = list(compare.peers(load_recipe("recommended")))
    assert names[:3] == ["majority class", "logistic regression", "logistic regression, C by inner CV"]
    assert names[-1] == "salarynet recommended"


def test_catboost_is_a_peer_when_installed(tmp_path, monkeypatch):
    pytest.importorskip("catboost")
    monkeypatch.chdir(tmp_path)
    recipe, train, test_rows, labels = sample("recommended")
    models = compare.peers(recipe)
    assert "CatBoost" in models
    assert list(models).index("CatBoost") < list(models).index("salarynet recommended")
    outputs = models["CatBoost"](train, test_rows)
    valid_probabilities(outputs, len(test_rows), 2)
    assert np.mean(outputs.argmax(axis=1) == labels) > 0.6
    assert list(tmp_path.iterdir()) == []  # no catboost_info/ left behind


def test_catboost_answers_bands_and_ranges(tmp_path, monkeypatch):
    pytest.importorskip("catboost")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(compare.CATBOOST, "iterations", 50)
    recipe, train, test_rows, _ = sample("recommended-bands", 300)
    valid_probabilities(compare.catboost_model(recipe)(train, test_rows), len(test_rows), recipe.features.classes)
    recipe, train, test_rows, _ = sample("recommended-range", 300)
    outputs = compare.catboost_model(recipe)(train, test_rows)
    assert outputs.shape == (len(test_rows), 3) and np.isfinite(outputs).all()
    assert np.median(outputs[:, 1]) < np.median(outputs[:, 0]) < np.median(outputs[:, 2])


def test_catboost_is_left_out_when_it_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "catboost", None)  # `import catboost` now raises ImportError
    recipe = load_recipe("recommended")
    assert compare.catboost_model(recipe) is None
    names = list(compare.peers(recipe))
    assert "CatBoost" not in names
    assert "logistic regression, C by inner CV" in names and "gradient boosting" in names
