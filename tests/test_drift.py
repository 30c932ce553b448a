"""Drift against the training survey: the population stability index per question, read against chance, and
`salarynet evaluate --data` naming the questions whose answers moved."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from salarynet import drift
from salarynet.apps.cli import app
from salarynet.estimator import load


@pytest.fixture(scope="module")
def net(runs):
    return load(runs / "recommended")


def test_the_index_by_hand():
    before = pd.Series({"a": 0.5, "b": 0.5})
    after = pd.Series({"a": 0.8, "b": 0.2})
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert drift.psi(before, after) == pytest.approx(expected)
    assert drift.psi(before, before) == 0
    assert drift.level(0.3) == "moved a lot" and drift.level(0.15) == "moved" and drift.level(0.05) == "stable"
    assert drift.level(0.3, chance=0.4) == "stable"  # no more than samples of the training rows themselves move


def test_a_random_sample_of_the_training_survey_has_not_moved(net, snapshot):
    sample = snapshot.frame.sample(3000, random_state=1)
    found = net.drift(snapshot, sample)
    assert {d["question"] for d in found} >= {"industry", "city", "state", "gender", "job_title"}
    assert all(d["level"] == "stable" for d in found), found


def test_a_population_of_one_industry_is_named_first(net, snapshot):
    frame = snapshot.frame
    tech = frame[frame["industry"].fillna("").str.startswith("Computing")].sample(1500, random_state=2)
    found = net.drift(snapshot, tech)
    assert found[0]["question"] == "industry" and found[0]["level"] == "moved a lot"
    assert found[0]["answer"] == "Computing or Tech" and found[0]["new_share"] == 1.0 > found[0]["training_share"]
    assert [d["psi"] for d in found] == sorted((d["psi"] for d in found), reverse=True)


def test_evaluate_on_another_file_compares_its_answers(runs, snapshot, tmp_path):
    frame = snapshot.frame
    path = tmp_path / "tech.csv"
    frame[frame["industry"].fillna("").str.startswith("Computing")].head(800).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["evaluate", str(runs / "recommended"), "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "population stability index" in result.stdout
    assert "warning: the answers to industry" in result.output
    as_json = CliRunner().invoke(app, ["evaluate", str(runs / "recommended"), "--data", str(path), "--json"])
    moved = json.loads(as_json.stdout)["drift"]
    assert moved[0]["question"] == "industry"
    own = CliRunner().invoke(
        app, ["evaluate", str(runs / "recommended"), "--json"]
    )  # its own test rows: nothing to compare
    assert "drift" not in json.loads(own.stdout)


def test_salaries_that_cross_the_threshold_more_often_moved_a_lot_beyond_chance():
    from salarynet.drift import salaries

    rng = np.random.default_rng(0)
    training = rng.lognormal(np.log(75_000), 0.5, 20_000)
    raised = training[:3000] * 1.15  # pay up 15%: more rows above $100,000, the shape alike
    moved = salaries(training, raised, 100_000)
    assert moved["new"]["share_above"] - moved["training"]["share_above"] > 0.05
    assert moved["psi"] < 0.1 and moved["level"] == "moved a lot"  # the share, not the index, says so
    assert salaries(training, training[:3000], 100_000)["level"] == "stable"
    few = salaries(training, raised[:20], 100_000)  # 20 rows: a 5-point change is within chance
    assert few["level"] != "moved a lot" or few["psi"] > 0.25
