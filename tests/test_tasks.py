"""Task classes: one person's answer as the command line words it and as HTTP returns it, on hand-made rows."""

from types import SimpleNamespace

import pytest

from salarynet.tasks import TASKS, task_of

STATE = SimpleNamespace(task="binary", threshold=100_000.0, bands=(50_000.0, 100_000.0, 150_000.0))


def test_binary_words_the_threshold_and_the_decision():
    task = task_of(STATE)
    row = {"probability": 0.9430071, "prediction": 1}
    assert task.sentence(row) == "P(salary > 100,000) = 0.943  ->  above 100,000"
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
    assert [name for name, _ in task.metric_rows({"loss": 0.1, "median_absolute_error": 1, "mean_absolute_error": 2,
                                                  "coverage": 0.8, "median_range_width": 3, "r2_log": 0.5}, None)][:2] \
        == ["loss (recipe's loss)", "median absolute error"]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_is_found_by_its_name(name):
    assert task_of(SimpleNamespace(**vars(STATE) | {"task": name})).name == name
