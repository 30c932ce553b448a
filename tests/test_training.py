"""The one training path: seeds change no model, every model is blended, calibrated and stopped on its own, a sweep
scores the model `train` saves, and every recipe that validates trains (or is refused in one line)."""

import json

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from salarynet import training
from salarynet.apps import sweep
from salarynet.apps.cli import app
from salarynet.errors import SalarynetError
from salarynet.estimator import SalaryNet
from salarynet.recipe import load_recipe
from salarynet.rows import select_rows, subset

# The tutorial's four answers with a [blend] (softmax outputs, no text columns) and early stopping: cheap, and every
# stage of the path is there.
BLENDED = [
    'model.layers.2.activation="softmax"',
    'compile.loss="categorical_crossentropy"',
    "blend.linear=0.3",
    'compile.optimizer="adam"',
    "fit.batch_size=64",
    "fit.epochs=12",
    "fit.early_stopping=2",
    "fit.refit=true",
]


def _weights_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def blended_seeds(snapshot):
    recipe = load_recipe("tutorial", BLENDED)
    return recipe, training.train(recipe, select_rows(snapshot, recipe), snapshot.path, seeds=3)


def test_each_seed_is_its_own_model_as_if_fitted_alone(snapshot, blended_seeds):
    recipe, trained = blended_seeds
    spread = trained[0].record["seeds"]["test"]["accuracy"]["values"]
    for i, t in enumerate(trained):
        alone = SalaryNet(
            "tutorial",
            seed=recipe.seed + i,
            **{k.replace(".", "__"): json.loads(v) for k, v in (o.split("=", 1) for o in BLENDED)},
        ).fit(snapshot)
        assert t.blend is not None and alone.linear_ is not None  # every seed blended, not only the first
        assert (
            t.record["epochs_run"] == alone.record_["epochs_run"]
            and t.record["kept_epoch"] == alone.record_["kept_epoch"]
        )
        assert t.record["test"]["accuracy"] == pytest.approx(alone.metrics_["accuracy"], abs=1e-6) == spread[i]
        assert t.record["test"]["log_loss"] == pytest.approx(alone.metrics_["log_loss"], abs=1e-6)
        assert t.record["refit"]["epochs"] == alone.record_["refit"]["epochs"]
    assert len({t.record["epochs_run"] for t in trained}) >= 1 and len(set(spread)) > 1


def test_seeds_do_not_change_the_saved_model(snapshot, blended_seeds):
    recipe, trained = blended_seeds
    one = training.train(recipe, select_rows(snapshot, recipe), snapshot.path, seeds=1)[0]
    assert _weights_equal(one.params, trained[0].params)
    assert (
        one.record["test"] == trained[0].record["test"] and one.record["kept_epoch"] == trained[0].record["kept_epoch"]
    )
    assert np.array_equal(one.heldout["outputs"], trained[0].heldout["outputs"])


def test_a_recommended_model_is_the_same_with_one_seed_or_three(snapshot):
    """Learned vocabularies, text, the blend, early stopping and the refit: --seeds 3 saves --seeds 1's model."""
    frame = snapshot.frame.head(4000)
    overrides = {"fit__epochs": 5, "fit__early_stopping": 1, "features__text__buckets": 4096}
    one = SalaryNet("recommended", **overrides).fit(frame)
    three = SalaryNet("recommended", **overrides).fit(frame, seeds=3)
    assert _weights_equal(one.params_, three.params_) and one.record_["kept_epoch"] == three.record_["kept_epoch"]
    assert one.metrics_ == three.metrics_ == {k: v for k, v in three.metrics_.items()}
    assert three.record_["seeds"]["test"]["auc"]["values"][0] == one.metrics_["auc"]


def test_a_range_recipes_seeds_are_each_calibrated(snapshot):
    recipe = load_recipe("recommended-range", ["fit.epochs=2", "fit.refit=false", "features.text.buckets=4096"])
    trained = training.train(recipe, subset(select_rows(snapshot, recipe), np.arange(3000)), "rows", seeds=2)
    assert all(t.conformal is not None and "conformal" in t.record for t in trained)


def test_a_sweep_over_the_blend_scores_blended_models_and_train_fold_reproduces_a_trial(snapshot, tmp_path):
    base = tmp_path / "base.toml"
    recipe = load_recipe("tutorial", BLENDED + ["fit.refit=false"])
    import tomli_w

    base.write_text(tomli_w.dumps(recipe.model_dump(mode="json", exclude_none=True)))
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"blend.linear" = [0.1, 0.7]\n')
    the_plan = sweep.plan(str(base), grid, 2, 1, "sha")
    outcome = sweep.sweep(snapshot, the_plan, tmp_path / "out", 2, 1, serial=True)
    results = {r["values"]["blend.linear"]: r for r in outcome.results.values()}
    assert results[0.1]["summary"]["auc"]["mean"] != results[0.7]["summary"]["auc"]["mean"]
    best = json.loads((tmp_path / "out" / "results.json").read_text())["results"][0]
    fold1 = next(r for r in best["runs"] if r["fold"] == 1)
    result = CliRunner().invoke(
        app, ["train", "--recipe", str(tmp_path / "out" / "best.toml"), "--fold", "1/2", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["fold"]
    assert saved["test"]["auc"] == pytest.approx(fold1["auc"], abs=1e-9)
    assert saved["test"]["accuracy"] == pytest.approx(fold1["accuracy"], abs=1e-9)
    # evaluate on the run's own file scores the fold's held-out rows again, with the saved model
    again = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run"), "--json"])
    assert again.exit_code == 0, again.output
    evaluated = json.loads(again.stdout)
    assert evaluated["rows_used"] == "fold 1/2's held-out rows" and evaluated["test"]["auc"] == saved["test"]["auc"]


@pytest.mark.parametrize("fold", ["0/5", "6/5", "1/1", "a/b", "3"])
def test_a_bad_fold_is_one_line(fold, tmp_path):
    result = CliRunner().invoke(app, ["train", "--fold", fold, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--fold" in result.output and not (tmp_path / "run").exists()


# ---------------------------------------------------------------- every recipe that validates trains

_COLUMNS = [
    "age",
    "experience_overall",
    "experience_field",
    "education",
    "gender",
    "industry",
    "country",
    "state",
    "race",
    "city",
]


@st.composite
def recipes(draw):
    base = draw(st.sampled_from(["tutorial", "recommended", "recommended-bands", "recommended-range"]))
    values: dict[str, object] = {"fit.epochs": 1, "fit.refit": draw(st.booleans())}
    if base != "tutorial":
        values["features.text.buckets"] = 1024
    if draw(st.booleans()):
        values["fit.early_stopping"] = draw(st.integers(1, 3))
    values["fit.validation_split"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
    values["fit.batch_size"] = draw(st.sampled_from([1, 7, 64, 100000]))
    values["fit.average"] = draw(st.sampled_from([None, 0.9]))
    values["fit.class_weight"] = draw(st.sampled_from(["none", "balanced"]))
    values["model.dropout"] = draw(st.sampled_from([0.0, 0.5]))
    values["model.wide"] = draw(st.booleans())
    values["model.l2"] = draw(st.sampled_from([0.0, 1e-3]))
    values["compile.optimizer"] = draw(st.sampled_from(["adagrad", "sgd", "adam", "rmsprop"]))
    if draw(st.integers(0, 3)) == 0:  # any output and loss (mostly refused); else the base's own, or the softmax pair
        values["model.layers.2.activation"] = draw(st.sampled_from(["relu", "sigmoid", "softmax", "tanh", "linear"]))
        values["compile.loss"] = draw(
            st.sampled_from(["binary_crossentropy", "categorical_crossentropy", "mse", "mse_quantiles"])
        )
    elif base == "tutorial" and draw(st.booleans()):
        values["model.layers.2.activation"], values["compile.loss"] = "softmax", "categorical_crossentropy"
    softmax = base in ("recommended", "recommended-bands") or values.get("model.layers.2.activation") == "softmax"
    if draw(st.booleans()) and (softmax or draw(st.integers(0, 3)) == 0):  # a blend needs softmax classes
        values["blend.linear"] = draw(st.sampled_from([0.2, 0.9]))
    if draw(st.booleans()) and (base == "recommended-range" or draw(st.integers(0, 3)) == 0):  # ranges only
        values["conformal.fraction"] = 0.2
    if base != "tutorial":
        for i in draw(st.lists(st.integers(0, len(_COLUMNS) - 1), max_size=3, unique=True)):
            fitting = (
                ["category"] + (["ordinal"] if i < 4 else []) + (["multi"] if _COLUMNS[i] in ("state", "race") else [])
            )
            values[f"features.columns.{i}.encoding"] = draw(st.sampled_from(fitting))
    rows = draw(st.sampled_from([60, 300]))
    return base, values, rows


TRIED = {"refused": 0, "too_few_rows": 0, "trained": 0}


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(recipes())
def test_every_recipe_that_validates_trains(snapshot, drawn):
    base, values, rows = drawn
    try:
        recipe = load_recipe(base, [f"{k}={json.dumps(v)}" for k, v in values.items() if v is not None])
    except SalarynetError as e:  # refused by validation: one line
        assert "\n" not in str(e)
        TRIED["refused"] += 1
        return
    try:
        net = SalaryNet(recipe).fit(snapshot.frame.head(rows))
    except SalarynetError as e:  # too few rows for this recipe's split, classes or calibration: one line
        assert "\n" not in str(e)
        TRIED["too_few_rows"] += 1
        return
    assert net.metrics_["rows"] > 0
    TRIED["trained"] += 1


def test_the_drawn_recipes_trained_mostly():
    """The recipe test above is not vacuous: most drawn recipes validate and train."""
    print(TRIED)
    assert TRIED["trained"] >= 10, TRIED


def test_ctrl_c_in_the_first_fit_stops_the_models_beside_it(snapshot, monkeypatch):
    """The models vmapped beside the first stop at their next chunk, not after every epoch."""
    from salarynet.nn import train as nn_train

    chunks = []
    real = nn_train.fit_many

    def counted(*args, **kwargs):
        given = args[4]

        def on_chunk(done, latest):
            chunks.append(done)
            given(done, latest)

        return real(*args[:4], on_chunk, *args[5:], **kwargs)

    monkeypatch.setattr(nn_train, "fit_many", counted)

    def interrupt(done, latest):
        raise KeyboardInterrupt

    recipe = load_recipe("tutorial", ["fit.epochs=1000"])
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, select_rows(snapshot, recipe), snapshot.path, seeds=3, on_chunk=interrupt)
    assert len(chunks) < 10 and (not chunks or chunks[-1] < 1000)  # 10 chunks of 100 epochs had it run to the end
