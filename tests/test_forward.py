"""The numpy forward pass (what predictions run) computes what the JAX one (what training differentiates) computes,
and one person's answer from a saved run loads neither JAX, pandas nor scikit-learn."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salarynet import reasons
from salarynet.data.table import Answers
from salarynet.estimator import load
from salarynet.nn import forward, model
from salarynet.predictor import load_predictor, person

RUNS = ("recommended", "recommended-bands", "recommended-range")  # the three tasks


def _random_params(rng: np.random.Generator, spec: model.ModelSpec) -> dict:
    """Every weight drawn at random, the wide part too (init starts it at zero)."""
    named = {name: rng.normal(0, 0.5, shape).astype(np.float32) for name, shape in model.shapes(spec).items()}
    return model.unflatten(spec, named)


def _inputs(rng: np.random.Generator, spec: model.ModelSpec, rows: int) -> model.Inputs:
    tokens = 0 if not spec.text else 7
    return model.Inputs(
        rng.random((rows, spec.in_size), np.float32),
        np.stack([rng.integers(0, v, rows) for v, _ in spec.embeddings], axis=1).astype(np.int32)
        if spec.embeddings
        else np.zeros((rows, 0), np.int32),
        rng.integers(0, spec.text[0], (rows, tokens)).astype(np.int32) if spec.text else np.zeros((rows, 0), np.int32),
        (rng.random((rows, tokens)) * (rng.random((rows, tokens)) > 0.3)).astype(np.float32),
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["sigmoid", "softmax", "linear", "relu", "tanh"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(1, 300),
)
def test_numpy_forward_equals_jax_on_any_network(seed, last, embeddings, text, wide, rows):
    rng = np.random.default_rng(seed)
    units = (int(rng.integers(1, 24)), 4)
    spec = model.ModelSpec(
        int(rng.integers(0, 6)),
        units,
        ("relu", last),
        embeddings=((5, 3), (9, 2)) if embeddings else (),
        text=(50, 4) if text else None,
        wide=wide,
        collapse=2 if last == "softmax" and seed % 2 else None,
    )
    if spec.first_width == 0:
        return
    params, x = _random_params(rng, spec), _inputs(rng, spec, rows)
    np.testing.assert_allclose(
        forward.apply(spec, params, x), np.asarray(model.apply(spec, params, x)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", RUNS)
def test_numpy_forward_equals_jax_on_every_task(runs, snapshot, name):
    net = load(runs / name)
    x, reason = net.encode(snapshot.frame.head(3000))
    x = x.take(reasons.unset(reason))
    assert net.spec_.wide or net.spec_.embeddings  # the recipes' networks: embeddings, text, wide part
    np.testing.assert_allclose(net.raw(x), np.asarray(model.apply(net.spec_, net.params_, x)), rtol=1e-5, atol=1e-6)


PEOPLE = [
    {
        "age": "25-34",
        "experience_overall": "5-7 years",
        "education": "Master's degree",
        "gender": "Woman",
        "job_title": "Data Scientist",
        "country": "US",
        "state": "California",
        "industry": "Computing or Tech",
    },
    {
        "age": "55-64",
        "experience_overall": "21 - 30 years",
        "education": "High School",
        "gender": "Man",
        "job_title": "Zzyzx wrangler",
        "country": "Unites States",
        "city": "Akron",
        "race": "White",
    },
    {"age": "18-24", "experience_overall": "1 year or less", "education": "College degree"},
]


@pytest.mark.parametrize("name", RUNS)
@pytest.mark.parametrize("answers", PEOPLE)
def test_one_person_is_the_files_answer(runs, name, answers):
    """predict_one (numpy, no pandas) gives predict_frame's row (JAX weights, pandas frame) and its flags."""
    light, full = load_predictor(runs / name), load(runs / name)
    row = light.predict_one(person(answers)[0])
    table = full.predict_frame(pd.DataFrame([answers]))
    expected = table.iloc[0]
    for column, value in row.items():
        if column == "reason":
            assert value == expected["reason"]
        elif isinstance(value, str):
            assert value == expected[column]
        else:
            assert value == pytest.approx(float(expected[column]), rel=1e-6, abs=1e-6), column
    assert "; ".join(f.message for f in light.flags_one(*person(answers))) == expected["flags"]


def test_one_person_with_an_unusable_answer_says_why(run_dir):
    row = load_predictor(run_dir).predict_one(
        person({"age": "25-34", "experience_overall": "lots", "education": "Master's degree", "gender": "Woman"})[0]
    )
    assert row == {"year": 2021, "reason": row["reason"]}  # the year its answer would have been in, and why not
    assert row["reason"].startswith("experience_overall 'lots' is not one of")


def test_answers_table_checks_its_columns():
    table = Answers({"a": [1, 2], "b": [None, "x"]})
    assert len(table) == 2 and "a" in table and "c" not in table and table.columns == ["a", "b"]
    assert table.assign(c=[3, 4])["c"] == [3, 4] and table.row(1) == {"a": 2, "b": "x"}
    assert len(Answers({}, rows=1)) == 1
    with pytest.raises(ValueError, match="different lengths"):
        Answers({"a": [1], "b": [1, 2]})


@pytest.mark.parametrize("which", ["tutorial", "recommended"])  # the recommended run has a [blend]: TF-IDF too
def test_one_person_imports_no_jax_pandas_or_scikit_learn(run_dir, runs, which):
    run = run_dir if which == "tutorial" else runs / "recommended"
    code = (
        f"import sys\nfrom salarynet.apps.cli import app\ntry:\n    app(['predict', {str(run)!r}, '--age', "
        "'25-34', '--experience', '5-7 years', '--education', \"Master's degree\", '--gender', 'Woman', "
        "'--experience-field', '5-7 years', '--title', 'Data Scientist'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'pandas', 'sklearn', 'scipy', "
        "'matplotlib'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "P(salary > $100,000 in 2021)" in done.stdout and "why:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"


def test_a_missing_file_is_refused_before_the_heavy_imports(tmp_path):
    code = (
        "import sys\nfrom salarynet.apps.cli import app\ntry:\n    app(['train', '--data', '/no/such.csv'])\n"
        "except SystemExit as e:\n    print('exit', e.code)\n"
        "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'pandas', 'sklearn'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "no such file" in done.stderr and done.stdout.split() == ["exit", "2", "loaded:", "[]"]
