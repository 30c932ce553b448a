"""One person's reasons (occlusion against the commonest answers) and the smallest change that moves the answer,
on the recommended recipes trained briefly on the snapshot, for hand-made people whose answers move it in a
known direction."""

import pandas as pd
import pytest
from conftest import REQUIRED_FLAGS
from typer.testing import CliRunner

from salarynet.apps.cli import app
from salarynet.data.survey import tidy_survey
from salarynet.estimator import load
from salarynet.explain import CHANGEABLE, LOCKED, _name, explain

NONPROFIT = {
    "age": "25-34",
    "experience_overall": "5-7 years",
    "experience_field": "5-7 years",
    "education": "Master's degree",
    "gender": "Woman",
    "industry": "Nonprofits",
    "job_title": "Software Engineer",
    "country": "United States",
    "state": "Ohio",
    "city": "Columbus",
    "race": "White",
}
PEOPLE = [
    NONPROFIT,
    NONPROFIT | {"industry": "Computing or Tech", "state": "California", "city": "San Francisco"},
    NONPROFIT | {"job_title": "Cashier", "industry": "Retail", "education": "High School", "age": "18-24"},
    NONPROFIT | {"job_title": "General Counsel", "industry": "Law", "experience_field": "21 - 30 years"},
    NONPROFIT | {"gender": "Man", "race": "Asian or Asian American", "job_title": "Librarian"},
]


def person(answers: dict) -> pd.DataFrame:
    return tidy_survey(pd.DataFrame([answers], dtype=object), "hand-made").frame


@pytest.fixture(scope="module")
def nets(runs):
    return {name: load(runs / name) for name in ("recommended", "recommended-bands", "recommended-range")}


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_an_answer_that_pays_less_is_named_as_lowering_it(nets, name):
    net = nets[name]
    why = explain(net, person(NONPROFIT))
    by_field = {r["field"]: r for r in why["reasons"]}
    # against the commonest industry (Computing or Tech), Nonprofits lowers it, in the task's own units
    assert by_field["industry"]["typical"] == "Computing or Tech" and by_field["industry"]["effect"] < 0
    assert by_field["state"]["typical"] == "California" and by_field["state"]["effect"] < 0
    assert "your industry (Nonprofits) lowers" in why["sentence"]
    unit = "$" if name == "recommended-range" else "points"
    assert unit in by_field["industry"]["effect_text"]
    # reasons come largest first; answers that are the commonest ones are not reasons
    assert [abs(r["effect"]) for r in why["reasons"]] == sorted(
        (abs(r["effect"]) for r in why["reasons"]), reverse=True
    )
    assert "gender" not in by_field and "race" not in by_field  # Woman and White are the commonest answers


def test_the_effect_is_the_difference_the_typical_answer_makes(nets):
    net = nets["recommended"]
    why = explain(net, person(NONPROFIT))
    industry = next(r for r in why["reasons"] if r["field"] == "industry")
    now = net.predict_proba(person(NONPROFIT))[0, 1]
    typical = net.predict_proba(person(NONPROFIT | {"industry": "Computing or Tech"}))[0, 1]
    assert industry["effect"] == pytest.approx(now - typical, abs=1e-6)


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_a_counterfactual_changes_one_changeable_answer_and_reaches_the_goal(nets, name):
    net = nets[name]
    task = net.task_
    found = 0
    for answers in PEOPLE:
        why = explain(net, person(answers))
        change = why["counterfactual"]
        if change is None:
            assert why["counterfactual_sentence"].startswith("No single change of your ")
            continue
        found += 1
        assert change["field"] in CHANGEABLE and change["field"] not in LOCKED
        before, after = (
            task.outcome(net.outputs(net.encode(p)[0], p))[0]
            for p in (person(answers), person(answers | {change["field"]: change["to"]}))
        )
        assert after == task.target(int(before)) and change["outcome"] == task.outcome_text(after)
        assert why["counterfactual_sentence"].startswith(f"With {_name(change['field'])} {change['to']!r} instead of")
    assert found >= 1  # the nonprofit software engineer in Ohio is one industry away


def test_the_command_line_prints_why_and_what_would_change_it(runs):
    args = [
        "predict",
        str(runs / "recommended"),
        *REQUIRED_FLAGS,
        "--industry",
        "Nonprofits",
        "--title",
        "Software Engineer",
        "--state",
        "Ohio",
        "--country",
        "USA",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("why: Against the commonest answers, ") and "Nonprofits" in lines[1]
    assert lines[2].startswith("to change it: ")
    quiet = CliRunner().invoke(app, args + ["--no-explain"])
    assert quiet.stdout.splitlines() == lines[:1]


@pytest.mark.parametrize("title", ["Zxqv", "Wizzard of the Zxqv", "Blorptastic Zxqv"])
def test_a_title_with_no_known_word_is_not_a_reason_only_a_flag(runs, title):
    """Letter pieces of unknown words move the network, but that is no statement about the job: the title is left
    out of the reasons (the sentence says why) and its flag says what the model made of it."""
    net = load(runs / "recommended")
    found = explain(net, person(NONPROFIT | {"job_title": title}))
    assert "job_title" not in [r["field"] for r in found["reasons"]]
    assert f"Your job title ({title}) is not among the reasons: the model knows none of its words." in found["sentence"]
    assert [f.kind for f in net.flags(pd.DataFrame([NONPROFIT | {"job_title": title}]))[0]] in (
        ["unknown_words"],
        ["no_known_words"],
    )
    known = explain(net, person(NONPROFIT | {"job_title": "Senior Software Engineer"}))
    assert "job_title" in [r["field"] for r in known["reasons"]]


@pytest.mark.parametrize("name", ["recommended", "recommended-range"])
def test_an_answer_left_out_is_never_a_reason(runs, name):
    """Issue 31: options of a multi-select question the model did not learn are left out of its inputs (a flag
    says so), so they are no reason either: `--state Narnia --race Martian` explains as if neither were given,
    and `--race "White, Martian"` reads as White."""
    net = load(runs / name)
    plain = explain(net, person(NONPROFIT | {"state": None, "race": None}))
    unknown = explain(net, person(NONPROFIT | {"state": "Narnia", "race": "Martian"}))
    assert "Narnia" not in str(unknown) and "Martian" not in str(unknown)
    named = [sorted((r["field"], r["answer"]) for r in why["reasons"]) for why in (plain, unknown)]
    assert named[0] == named[1]  # the same reasons (the blend's own reading may move their sizes a little)
    mixed = explain(net, person(NONPROFIT | {"race": "White, Martian", "state": "Ohio"}))
    assert "Martian" not in str(mixed) and any(
        r["field"] == "state" and r["answer"] == "Ohio" for r in mixed["reasons"]
    )
