"""Task classes: one person's answer as the command line words it and as HTTP returns it, on hand-made rows."""

from types import SimpleNamespace

import numpy as np
import pytest

from salarynet.tasks import TASKS, task_of

STATE = SimpleNamespace(task="binary", threshold=100_000.0, bands=(50_000.0, 100_000.0, 150_000.0))


def test_binary_words_the_threshold_and_the_decision():
    task = task_of(STATE)
    row = {"probability": 0.9430071, "prediction": 1}
    assert task.sentence(row) == "P(salary > $100,000) = 0.943  ->  above $100,000"
    assert (
        task.sentence(row | {"year": 2025})
        == "P(salary > $100,000 in 2025) = 0.943  ->  above $100,000 in 2025 dollars"
    )
    assert task.answer(row) == {"probability": 0.943007, "class": 1, "answer": "above $100,000"}
    assert task.describe() == {"task": "binary", "threshold": 100_000.0, "bands": None}


def test_bands_name_the_band():
    task = task_of(SimpleNamespace(**vars(STATE) | {"task": "bands"}))
    row = {"probability": 0.51, "prediction": 2, "band": "100,000-150,000"}
    assert task.sentence(row) == "band 100,000-150,000 (probability 0.510)"
    assert task.answer(row) == {"probability": 0.51, "class": 2, "band": "100,000-150,000"}
    assert task.describe()["bands"] == ["<= 50,000", "50,000-100,000", "100,000-150,000", "> 150,000"]


def test_a_range_is_dollars_and_has_no_classes():
    task = task_of(SimpleNamespace(**vars(STATE) | {"task": "regression"}))
    row = {"salary": 154_000.0, "low": 110_900.0, "high": 195_000.0}
    assert task.sentence(row) == "salary about $154,000 a year (80% range $110,900 - $195,000)"
    assert task.answer(row) == row and not task.classes
    assert [
        name
        for name, _ in task.metric_rows(
            {
                "loss": 0.1,
                "median_absolute_error": 1,
                "mean_absolute_error": 2,
                "coverage": 0.8,
                "median_range_width": 3,
                "r2_log": 0.5,
            },
            None,
        )
    ][:2] == ["loss (recipe's loss)", "median absolute error"]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_is_found_by_its_name(name):
    assert task_of(SimpleNamespace(**vars(STATE) | {"task": name})).name == name


SALARIES = np.array([40_000.0, 50_000.0, 50_000.01, 100_000.0, 100_001.0, 150_000.0, 400_000.0])


def test_labels_cut_where_the_answers_say():
    assert task_of(STATE).label(SALARIES).tolist() == [0, 0, 0, 0, 1, 1, 1]  # "above", not "at least"
    assert task_of(SimpleNamespace(**vars(STATE) | {"task": "bands"})).label(SALARIES).tolist() == [0, 0, 1, 1, 2, 2, 3]
    np.testing.assert_allclose(
        task_of(SimpleNamespace(**vars(STATE) | {"task": "regression"})).label(SALARIES), np.log(SALARIES), rtol=1e-6
    )


def test_a_range_scales_its_targets_and_stratifies_on_deciles():
    labels = np.log(np.linspace(30_000, 300_000, 100)).astype(np.float32)
    plain = task_of(SimpleNamespace(**vars(STATE) | {"task": "regression"}))
    shift, spread = plain.scale(labels)
    fitted = task_of(
        SimpleNamespace(
            **vars(STATE)
            | {
                "task": "regression",
                "shift": shift,
                "spread": spread,
                "unscale": lambda out: np.asarray(out) * spread + shift,
            }
        )
    )
    y = fitted.targets(labels, 3)
    assert y.shape == (100, 1) and abs(y.mean()) < 1e-5 and y.std() == pytest.approx(1, rel=1e-4)
    assert np.bincount(plain.strata(labels)).tolist() == [10] * 10
    assert plain.unlabelled(np.array([0.0, 1.0])).tolist() == [True, False]  # log(0) is no label
    decoded = fitted.decode(np.zeros((2, 3)), "linear")
    assert list(decoded) == ["salary", "low", "high"] and decoded["salary"][0] == round(np.exp(shift), -2)


def test_classes_decode_to_the_answer_and_its_probability():
    bands = task_of(SimpleNamespace(**vars(STATE) | {"task": "bands"}))
    decoded = bands.decode(np.array([[0.1, 0.2, 0.6, 0.1], [0.7, 0.1, 0.1, 0.1]]), "softmax")
    assert decoded["prediction"].tolist() == [2, 0] and decoded["band"].tolist() == ["100,000-150,000", "<= 50,000"]
    assert decoded["probability"].tolist() == pytest.approx([0.6, 0.7])
    binary = task_of(STATE).decode(np.array([[0.2, 0.6]]), "sigmoid")  # the tutorial's two sigmoid outputs
    assert binary["prediction"].tolist() == [1] and binary["probability"][0] == pytest.approx(0.75)


@pytest.mark.parametrize(
    "name, units, loss, problem",
    [
        ("binary", 2, "binary_crossentropy", None),
        ("binary", 3, "binary_crossentropy", "the last layer has 3 units"),
        ("binary", 2, "mse_quantiles", "mse_quantiles is for features.task"),
        ("bands", 4, "categorical_crossentropy", None),
        ("bands", 2, "categorical_crossentropy", "3 band edges make 4 classes"),
        ("regression", 3, "mse_quantiles", None),
        ("regression", 3, "binary_crossentropy", 'needs compile.loss = "mse_quantiles"'),
    ],
)
def test_each_task_checks_a_recipes_last_layer_and_loss(name, units, loss, problem):
    task = task_of(SimpleNamespace(**vars(STATE) | {"task": name, "label_bands": None}))
    found = task.check(units, loss)
    assert found is None if problem is None else problem in found


def test_a_report_decides_the_same_question_for_every_task():
    salary = np.array([90_000.0, 120_000.0])
    binary = task_of(STATE).decision(np.array([[0.8, 0.2], [0.3, 0.7]]), salary)
    assert binary[0].tolist() == [False, True] and binary[1].tolist() == [False, True]
    ranged = task_of(SimpleNamespace(**vars(STATE) | {"task": "regression"}))
    predicted, truth, what = ranged.decision(np.log([[95_000.0] * 3, [130_000.0] * 3]), salary)
    assert predicted.tolist() == [False, True] and what == "predicted salary above $100,000"
