"""The compiled fit against a plain step-by-step loop written the way Keras's fit runs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from salarynet.nn import metrics, model, train
from salarynet.nn.losses import LOSSES

SPEC = model.ModelSpec(3, (6, 2), ("relu", "sigmoid"))


def toy_data(n=13, n_val=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n + n_val, 3), dtype=np.float32)
    y = metrics.one_hot((x.sum(1) > 1.5).astype(int), 2)
    return train.FitData(x[:n], y[:n], np.ones(n, np.float32), x[n:], y[n:])


def reference_fit(fit_spec, params, data, epochs, orders=None):
    """Keras's loop, one step at a time: each epoch's rows in its order (default: as they are), the last batch partial."""
    opt = train.make_optimizer(fit_spec.optimizer, fit_spec.learning_rate)
    state = opt.init(params)
    loss_fn = LOSSES[fit_spec.loss]
    history = []
    for epoch in range(epochs):
        seen = total = hits = 0.0
        order = np.arange(len(data.x)) if orders is None else orders[epoch]
        for start in range(0, len(data.x), fit_spec.batch_size):
            rows = order[start : start + fit_spec.batch_size]
            xb, yb = data.x[rows], data.y[rows]

            def batch_loss(p):
                out = model.apply(fit_spec.model, p, xb)
                return jnp.mean(loss_fn(yb, out)), out

            (loss, out), grads = jax.value_and_grad(batch_loss, has_aux=True)(params)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            seen += len(xb)
            total += float(loss) * len(xb)
            hits += float(jnp.sum(jnp.argmax(out, 1) == jnp.argmax(yb, 1)))
        val_out = model.apply(fit_spec.model, params, data.x_val)
        history.append(
            (
                total / seen,
                hits / seen,
                float(jnp.mean(loss_fn(data.y_val, val_out))),
                float(jnp.mean(jnp.argmax(val_out, 1) == jnp.argmax(data.y_val, 1))),
            )
        )
    return params, np.array(history)


@pytest.mark.parametrize(
    "optimizer, loss",
    [
        ("adagrad", "binary_crossentropy"),
        ("sgd", "mse"),
        ("adam", "categorical_crossentropy"),
        ("rmsprop", "binary_crossentropy"),
    ],
)
def test_compiled_fit_equals_the_step_by_step_loop(optimizer, loss):
    fit_spec = train.FitSpec(SPEC, loss, optimizer, 0.05, batch_size=5, shuffle=False)
    data = toy_data()
    init, _ = train.make_train(fit_spec)
    params, history = train.fit(fit_spec, 4, data, epochs=3)
    ref_params, ref_history = reference_fit(fit_spec, init(train.seed_streams(4)[0]).params, data, 3)
    for got, want in zip(params["dense"], ref_params["dense"]):
        np.testing.assert_allclose(got["kernel"], want["kernel"], atol=1e-6)
        np.testing.assert_allclose(got["bias"], want["bias"], atol=1e-6)
    got = np.stack([history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")], 1)
    np.testing.assert_allclose(got, ref_history, atol=1e-6)


def test_shuffled_fit_equals_the_loop_over_the_same_permutations():
    fit_spec = train.FitSpec(SPEC, "binary_crossentropy", "adagrad", 0.05, batch_size=4, shuffle=True)
    data = toy_data(n=14)
    init, _ = train.make_train(fit_spec)
    params, history = train.fit(fit_spec, 9, data, epochs=3)
    init_rng, shuffle_rng = train.seed_streams(9)
    orders = train.epoch_orders(shuffle_rng, 14, 3, shuffle=True)
    ref_params, ref_history = reference_fit(fit_spec, init(init_rng).params, data, 3, orders)
    for got, want in zip(params["dense"], ref_params["dense"]):
        np.testing.assert_allclose(got["kernel"], want["kernel"], atol=1e-6)
    np.testing.assert_allclose(history["loss"], ref_history[:, 0], atol=1e-6)


def test_adagrad_is_kerass_update():
    opt = train.make_optimizer("adagrad", None)
    w, g = jnp.array([0.5, -1.0]), jnp.array([0.2, -3.0])
    updates, _ = opt.update(g, opt.init(w), w)
    keras = w - 0.001 * g / jnp.sqrt(0.1 + g**2 + 1e-7)
    np.testing.assert_allclose(optax.apply_updates(w, updates), keras, rtol=1e-6)


def test_validation_split_takes_the_last_rows_by_floor():
    assert [train.fit_rows(n, 0.2) for n in (10, 11, 14, 5)] == [8, 8, 11, 4]
    assert train.fit_rows(7, 0.0) == 7


def test_shuffle_is_seeded_and_changes_the_batches():
    data = toy_data(n=40)
    spec = train.FitSpec(SPEC, "binary_crossentropy", "adagrad", 0.05, 5, True)
    a, ha = train.fit(spec, 1, data, 4)
    b, hb = train.fit(spec, 1, data, 4)
    c, _ = train.fit(spec._replace(shuffle=False), 1, data, 4)
    assert all(np.array_equal(x["kernel"], y["kernel"]) for x, y in zip(a["dense"], b["dense"]))
    assert all(np.array_equal(ha[k], hb[k]) for k in ha)
    assert not np.allclose(a["dense"][0]["kernel"], c["dense"][0]["kernel"])


def test_progress_in_chunks_gives_the_same_fit():
    data = toy_data(n=40)
    spec = train.FitSpec(SPEC, "binary_crossentropy", "adagrad", 0.05, 5, True)
    seen = []
    chunked, h1 = train.fit(spec, 2, data, 20, on_chunk=lambda done, m: seen.append((done, m)))
    whole, h2 = train.fit(spec, 2, data, 20)
    assert [d for d, _ in seen] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert set(seen[-1][1]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for x, y in zip(chunked["dense"], whole["dense"]):
        np.testing.assert_allclose(x["kernel"], y["kernel"], atol=1e-7)
    np.testing.assert_allclose(h1["loss"], h2["loss"], atol=1e-7)


def test_no_validation_rows_gives_nan_validation_metrics():
    data = toy_data(n=10, n_val=0)
    _, history = train.fit(train.FitSpec(SPEC, "mse", "sgd", None, 4, True), 0, data, 2)
    assert np.isnan(history["val_loss"]).all() and np.isfinite(history["loss"]).all()


def test_epoch_orders():
    rng = np.random.default_rng(0)
    orders = train.epoch_orders(rng, 6, 3, shuffle=True)
    assert orders.shape == (3, 6) and orders.dtype == np.int32
    assert all(sorted(o) == list(range(6)) for o in orders) and len({tuple(o) for o in orders}) == 3
    assert train.epoch_orders(rng, 4, 2, shuffle=False).tolist() == [[0, 1, 2, 3]] * 2


def test_chunk_length_divides_epochs():
    assert [train.chunk_length(e) for e in (100, 20, 7, 1, 97)] == [10, 2, 1, 1, 1]


def test_one_output_targets_and_accuracy():
    spec = train.FitSpec(model.ModelSpec(3, (4, 1), ("relu", "sigmoid")), "binary_crossentropy", "adam", 0.05, 4, True)
    rng = np.random.default_rng(0)
    x = rng.random((64, 3), dtype=np.float32)
    y = metrics.one_hot((x[:, 0] > 0.5).astype(int), 1)
    assert y.shape == (64, 1)
    _, history = train.fit(spec, 0, train.FitData(x[:48], y[:48], np.ones(48, np.float32), x[48:], y[48:]), 60)
    assert history["accuracy"][-1] > 0.8 and history["loss"][-1] < history["loss"][0]


def test_many_seeds_in_one_call_equal_one_by_one():
    datas = [toy_data(n=40, seed=s) for s in (0, 1, 2)]  # different rows per seed, as different splits give
    stacked = train.FitData(*(np.stack(parts) for parts in zip(*datas)))
    spec = train.FitSpec(SPEC, "binary_crossentropy", "adagrad", 0.05, 5, True)
    params, history = train.fit_many(spec, [7, 8, 9], stacked, 6, workers=2)  # 2 groups, the last padded
    assert [h["loss"].shape for h in history] == [(6,)] * 3
    for i, (seed, data) in enumerate(zip([7, 8, 9], datas)):
        one, one_history = train.fit(spec, seed, data, 6)
        np.testing.assert_allclose(params["dense"][0]["kernel"][i], one["dense"][0]["kernel"], atol=1e-6)
        np.testing.assert_allclose(history[i]["val_loss"], one_history["val_loss"], atol=1e-6)
    assert not np.allclose(history[0]["loss"], history[1]["loss"])


@pytest.mark.parametrize("optimizer", ["adagrad", "adam", "sgd", "rmsprop"])
def test_learning_rates_in_one_call_equal_one_by_one(optimizer):
    data = toy_data(n=30)
    stacked = train.FitData(*(np.stack([p] * 3) for p in data))
    spec = train.FitSpec(SPEC, "binary_crossentropy", optimizer, None, 5, True)
    rates = [0.003, 0.03, 0.3]
    params, history = train.fit_many(spec, [5, 5, 5], stacked, 4, workers=1, learning_rates=rates)
    for i, rate in enumerate(rates):
        one, one_history = train.fit(spec._replace(learning_rate=rate), 5, data, 4)
        np.testing.assert_allclose(history[i]["loss"], one_history["loss"], atol=1e-6)  # vmap sums in its own order
        np.testing.assert_allclose(params["dense"][0]["kernel"][i], one["dense"][0]["kernel"], atol=1e-6)
    assert not np.allclose(history[0]["loss"], history[2]["loss"])


def test_early_stopping_keeps_the_best_epoch():
    data = toy_data(n=30, n_val=30)
    spec = train.FitSpec(SPEC, "binary_crossentropy", "adam", 0.5, 5, True, early_stopping=2)  # a rate that overshoots
    params, history = train.fit(spec, 0, data, 40)
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 3 < 40
    out = model.apply(SPEC, params, data.x_val)
    loss = float(jnp.mean(LOSSES["binary_crossentropy"](data.y_val, out)))
    assert loss == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_sample_weights_scale_the_loss():
    data = toy_data(n=20, n_val=5)
    spec = train.FitSpec(SPEC, "binary_crossentropy", "sgd", 0.1, 20, False)
    doubled = data._replace(w=np.full(20, 2.0, np.float32))
    (p1, _), (p2, _) = train.fit(spec, 0, data, 1), train.fit(spec, 0, doubled, 1)
    init = train.make_train(spec)[0](train.seed_streams(0)[0]).params
    step1 = p1["dense"][0]["kernel"] - init["dense"][0]["kernel"]
    step2 = p2["dense"][0]["kernel"] - init["dense"][0]["kernel"]
    np.testing.assert_allclose(step2, 2 * step1, rtol=1e-4, atol=1e-7)  # plain SGD: twice the gradient


def test_a_moving_average_of_the_weights_is_the_model():
    data = toy_data(n=13)
    spec = train.FitSpec(SPEC, "binary_crossentropy", "sgd", 0.1, 5, False, average=0.5)
    params, history = train.fit(spec, 3, data, epochs=2)
    # The same steps by hand: plain SGD, and the average with the decay's warm-up min(0.5, (1 + t) / (10 + t)).
    weights = train.make_train(spec)[0](train.seed_streams(3)[0]).params
    average, step = weights, 0
    loss_fn = LOSSES["binary_crossentropy"]
    for _ in range(2):
        for start in range(0, 13, 5):
            xb, yb = data.x[start : start + 5], data.y[start : start + 5]
            grads = jax.grad(lambda p: jnp.mean(loss_fn(yb, model.apply(SPEC, p, xb))))(weights)
            weights = jax.tree.map(lambda w, g: w - 0.1 * g, weights, grads)
            decay = min(0.5, (1 + step) / (10 + step))
            average = jax.tree.map(lambda a, w: decay * a + (1 - decay) * w, average, weights)
            step += 1
    np.testing.assert_allclose(params["dense"][0]["kernel"], average["dense"][0]["kernel"], atol=1e-6)
    assert not np.allclose(params["dense"][0]["kernel"], weights["dense"][0]["kernel"], atol=1e-4)
    val = float(jnp.mean(loss_fn(data.y_val, model.apply(SPEC, params, data.x_val))))
    assert val == pytest.approx(history["val_loss"][-1], rel=1e-5)  # validation judges the averaged weights


def test_finer_classes_fit_the_answer_too():
    spec = model.ModelSpec(3, (5, 4), ("relu", "softmax"), collapse=2)
    fit_spec = train.FitSpec(spec, "categorical_crossentropy", "sgd", 0.1, 13, False)
    rng = np.random.default_rng(0)
    x = rng.random((17, 3), dtype=np.float32)
    fine = rng.integers(0, 4, 17)
    data = train.FitData(
        x[:13], metrics.one_hot(fine[:13], 4), np.ones(13, np.float32), x[13:], metrics.one_hot(fine[13:], 4)
    )
    trained, history = train.fit(fit_spec, 2, data, epochs=1)  # one step: the loss is the initial weights'
    params = train.make_train(fit_spec)[0](train.seed_streams(2)[0]).params
    cce = LOSSES["categorical_crossentropy"]
    out = model.apply(spec, params, x[:13], fine=True)
    coarse = metrics.one_hot((fine[:13] >= 2).astype(int), 2)
    want = float(jnp.mean(cce(data.y, out)) + jnp.mean(cce(coarse, model.apply(spec, params, x[:13]))))
    assert history["loss"][0] == pytest.approx(want, rel=1e-5)  # the fine bands' loss plus the answer's
    val = float(jnp.mean(cce(data.y_val, model.apply(spec, trained, x[13:], fine=True))))
    assert history["val_loss"][0] == pytest.approx(val, rel=1e-5)  # validation (early stopping) watches the fine bands


def test_the_kept_epoch_follows_kerass_rule():
    assert train.kept_epoch({"val_loss": np.array([0.5, 0.4, 0.4, 0.45])}) == 2  # ties keep the first
    assert train.kept_epoch({"val_loss": np.array([np.nan, 0.1, 0.2])}) == 1  # Keras's best starts as the first epoch's
    assert train.kept_epoch({"val_loss": np.array([0.3, np.nan, 0.2])}) == 3


def test_each_model_of_one_call_stops_early_at_its_own_epoch_and_a_budget_freezes_it():
    datas = [toy_data(n=30, n_val=30, seed=s) for s in (0, 1, 2)]
    stacked = train.FitData(*(np.stack(parts) for parts in zip(*datas)))
    spec = train.FitSpec(SPEC, "binary_crossentropy", "adam", 0.5, 5, True, early_stopping=2)
    params, histories = train.fit_many(spec, [3, 4, 5], stacked, 40, workers=2)
    for i, (seed, data) in enumerate(zip([3, 4, 5], datas)):
        one, alone = train.fit(spec, seed, data, 40)
        assert len(histories[i]["val_loss"]) == len(alone["val_loss"]) < 40  # not until every model has stalled
        np.testing.assert_allclose(histories[i]["val_loss"], alone["val_loss"], atol=1e-6)
        np.testing.assert_allclose(params["dense"][0]["kernel"][i], one["dense"][0]["kernel"], atol=1e-6)
    plain = spec._replace(early_stopping=None)
    params, histories = train.fit_many(plain, [3, 4, 5], stacked, [2, 5, 3], workers=1)  # a refit's own epochs
    for i, (epochs, data) in enumerate(zip([2, 5, 3], datas)):
        one, alone = train.fit(plain, [3, 4, 5][i], data, epochs)
        assert len(histories[i]["loss"]) == epochs
        np.testing.assert_allclose(params["dense"][0]["kernel"][i], one["dense"][0]["kernel"], rtol=1e-5, atol=1e-6)
