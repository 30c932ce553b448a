"""Keras 3 (JAX backend) and salarynet compute the same fit: same weights, same losses, same accuracies."""

import os

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from salarynet.fitted import FittedModel  # noqa: E402
from salarynet.fitting import model_spec  # noqa: E402
from salarynet.nn import metrics, model, train  # noqa: E402
from salarynet.predictor import Predictor  # noqa: E402
from salarynet.recipe import load_recipe  # noqa: E402

TOL = 1e-4


def keras_tutorial_model(in_size: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    net = keras.Sequential(
        [
            keras.Input((in_size,)),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(2, activation="sigmoid"),
        ]
    )
    net.compile(loss="binary_crossentropy", optimizer="adagrad", metrics=["accuracy"])
    return net


def params_of(net: keras.Model) -> model.Params:
    return {"dense": [{"kernel": np.asarray(l.kernel), "bias": np.asarray(l.bias)} for l in net.layers]}


@pytest.fixture(scope="module")
def one_epoch(trained, prepared):
    """The tutorial's data, one epoch without shuffling, in Keras and in salarynet from the same weights."""
    prep = prepared
    x, y = prep.x_train.numeric, metrics.one_hot(prep.y_train, 2)
    net = keras_tutorial_model(x.shape[1], seed=0)
    initial = params_of(net)
    history = net.fit(x, y, batch_size=5, epochs=1, shuffle=False, validation_split=0.2, verbose=0).history

    spec = train.FitSpec(trained.spec_, "binary_crossentropy", "adagrad", None, 5, False)
    init, run = train.make_train(spec)
    n_fit = train.fit_rows(len(x), 0.2)
    data = train.FitData(
        *(jnp.asarray(a) for a in (x[:n_fit], y[:n_fit], np.ones(n_fit, np.float32), x[n_fit:], y[n_fit:]))
    )
    state = init(np.random.default_rng(0))._replace(params=initial)
    state = state._replace(opt_state=train.make_optimizer("adagrad", None).init(initial))
    state, ours = run(state, data, train.epoch_orders(None, n_fit, 1, shuffle=False))
    return net, history, state.params, ours, prep, initial


def test_weights_after_one_epoch_agree(one_epoch):
    net, _, params, _, _, initial = one_epoch
    for got, want in zip(params["dense"], params_of(net)["dense"]):
        np.testing.assert_allclose(got["kernel"], want["kernel"], atol=TOL)
        np.testing.assert_allclose(got["bias"], want["bias"], atol=TOL)
    # ... and they moved: an epoch of Adagrad at 0.001 is not nothing.
    assert np.abs(np.asarray(params["dense"][0]["kernel"]) - initial["dense"][0]["kernel"]).max() > 10 * TOL


def test_epoch_loss_accuracy_and_validation_agree(one_epoch):
    _, history, _, ours, _, _ = one_epoch
    assert float(ours.loss[0]) == pytest.approx(history["loss"][0], abs=TOL)
    assert float(ours.accuracy[0]) == pytest.approx(history["accuracy"][0], abs=TOL)
    assert float(ours.val_loss[0]) == pytest.approx(history["val_loss"][0], abs=TOL)
    assert float(ours.val_accuracy[0]) == pytest.approx(history["val_accuracy"][0], abs=TOL)


def test_evaluate_agrees_on_the_test_rows(one_epoch):
    net, _, params, _, prep, _ = one_epoch
    loss, accuracy = net.evaluate(prep.x_test.numeric, metrics.one_hot(prep.y_test, 2), verbose=0)
    recipe = load_recipe("tutorial")
    model = Predictor(FittedModel(recipe, prep.state, model_spec(recipe, prep.state), params))
    ours = model.metrics_of(model.raw(prep.x_test), prep.y_test, prep.salary_test, 0)
    assert ours["loss"] == pytest.approx(loss, abs=TOL) and ours["accuracy"] == pytest.approx(accuracy, abs=TOL)


def test_glorot_uniform_ranges_agree():
    keras.utils.set_random_seed(1)
    layer = keras.layers.Dense(200)
    layer.build((None, 300))
    ours = model.init(np.random.default_rng(1), model.ModelSpec(300, (200,), ("linear",)))["dense"][0]["kernel"]
    keras_kernel = np.asarray(layer.kernel)
    assert np.abs(ours).max() == pytest.approx(np.abs(keras_kernel).max(), rel=1e-3)
    assert np.std(ours) == pytest.approx(np.std(keras_kernel), rel=0.01)
    assert not np.asarray(layer.bias).any()


def _noisy(seed: int, rows: int = 60):
    """Few rows with noisy labels: at a high rate the validation loss falls, then wanders; early stopping has
    work to do, and stops at an epoch that a check every few epochs would miss."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 4), dtype=np.float32)
    labels = ((x[:, 0] + x[:, 1] + rng.normal(0, 0.35, rows)) > 1).astype(int)
    return x, metrics.one_hot(labels, 2)


# Not Adam: Keras adds its epsilon before the bias correction and optax after, and over tens of epochs at these
# rates that alone moves the validation loss (the one-epoch tests above hold Adam's first steps to Keras's).
# The first four stopped elsewhere, or kept another epoch, when patience was checked only between compiled chunks.
@pytest.mark.parametrize(
    "seed, patience, optimizer, rate",
    [
        (3, 4, "adagrad", 0.5),
        (3, 2, "rmsprop", 0.03),
        (5, 2, "rmsprop", 0.03),
        (8, 3, "sgd", 0.8),
        (2, 4, "sgd", 0.5),
        (4, 1, "rmsprop", 0.05),
    ],
)
def test_early_stopping_stops_and_restores_as_kerass(seed, patience, optimizer, rate):
    """Keras 3's EarlyStopping(patience, restore_best_weights=True), epoch by epoch: the same epochs run, the same
    history, and the best epoch's weights kept."""
    x, y = _noisy(seed)
    keras.utils.set_random_seed(seed)
    net = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")]
    )
    net.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": rate}}),
        metrics=["accuracy"],
    )
    initial = params_of(net)
    stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    keras_history = net.fit(
        x, y, batch_size=8, epochs=40, shuffle=False, validation_split=0.5, verbose=0, callbacks=[stop]
    ).history

    spec = train.FitSpec(
        model.ModelSpec(4, (16, 2), ("relu", "softmax")),
        "categorical_crossentropy",
        optimizer,
        rate,
        8,
        False,
        early_stopping=patience,
    )
    n_fit = train.fit_rows(len(x), 0.5)
    data = train.FitData(x[:n_fit], y[:n_fit], np.ones(n_fit, np.float32), x[n_fit:], y[n_fit:])
    params, history = train.fit(spec, 0, data, 40, params=initial)
    assert len(history["val_loss"]) == len(keras_history["val_loss"]) < 40
    np.testing.assert_allclose(history["val_loss"], keras_history["val_loss"], atol=TOL)
    assert train.kept_epoch(history) == stop.best_epoch + 1
    # The best epoch's weights, restored: the same outputs (a few weights of units with tiny gradients differ by
    # 1e-3 with Adam, where Keras adds epsilon before the bias correction and optax after).
    np.testing.assert_allclose(model.apply(spec.model, params, x), net.predict(x, verbose=0), atol=TOL)
