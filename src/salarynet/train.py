"""The fit, as Keras's model.fit does it, compiled once: nested lax.scan over epochs and batches."""

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import model
from .losses import LOSSES

# Keras's default learning rates; the other defaults are passed where optax's differ.
KERAS_LEARNING_RATES = {"adagrad": 0.001, "sgd": 0.01, "adam": 0.001, "rmsprop": 0.001}


class FitSpec(NamedTuple):
    model: model.ModelSpec
    loss: str
    optimizer: str
    learning_rate: float | None
    batch_size: int
    shuffle: bool


class FitData(NamedTuple):
    """x: float32[rows, features]; y: float32[rows, outputs] (targets); *_val likewise."""

    x: jax.Array
    y: jax.Array
    x_val: jax.Array
    y_val: jax.Array


class TrainState(NamedTuple):
    params: model.Params
    opt_state: optax.OptState
    shuffle_key: jax.Array
    epoch: jax.Array  # int32 scalar: epochs done, so chunked fits shuffle as one long fit


class EpochMetrics(NamedTuple):
    """float32[epochs] each; Keras's History: running means over the epoch's samples."""

    loss: jax.Array
    accuracy: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array


def make_optimizer(name: str, learning_rate: float | None) -> optax.GradientTransformation:
    """optax's optimizer with Keras's default hyper-parameters."""
    lr = KERAS_LEARNING_RATES[name] if learning_rate is None else learning_rate
    if name == "adagrad":  # Keras: initial_accumulator_value=0.1, epsilon=1e-7, update g / sqrt(acc + eps)
        return optax.adagrad(lr, initial_accumulator_value=0.1, eps=1e-7)
    if name == "sgd":
        return optax.sgd(lr)
    if name == "adam":  # Keras: beta_1=0.9, beta_2=0.999, epsilon=1e-7
        return optax.adam(lr, b1=0.9, b2=0.999, eps=1e-7)
    if name == "rmsprop":  # Keras: rho=0.9, epsilon=1e-7 inside the square root
        return optax.rmsprop(lr, decay=0.9, eps=1e-7, eps_in_sqrt=True)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(KERAS_LEARNING_RATES)}")


def targets(labels: np.ndarray, out_size: int) -> np.ndarray:
    """int[rows] class labels -> float32[rows, out_size]: one-hot (to_categorical) or one column."""
    labels = np.asarray(labels)
    if out_size == 2:
        return np.eye(2, dtype=np.float32)[labels]
    return labels.astype(np.float32)[:, None]


def hits(outputs: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example accuracy: argmax agreement for two outputs, 0.5 threshold for one -> float32[batch]."""
    if outputs.shape[-1] == 1:
        return ((outputs[:, 0] > 0.5) == (y[:, 0] > 0.5)).astype(jnp.float32)
    return (jnp.argmax(outputs, -1) == jnp.argmax(y, -1)).astype(jnp.float32)


def validation_split(n_rows: int, fraction: float) -> int:
    """Rows kept for fitting: Keras takes the last floor-complement as validation, before shuffling."""
    return int(math.floor(n_rows * (1.0 - fraction)))


def make_train(spec: FitSpec) -> tuple[Callable[[jax.Array], TrainState], Callable[..., tuple[TrainState, EpochMetrics]]]:
    """init(key) -> state; run(state, data, n_epochs) -> (state, EpochMetrics), compiled once per n_epochs."""
    optimizer = make_optimizer(spec.optimizer, spec.learning_rate)
    loss_per_example = LOSSES[spec.loss]
    bs = spec.batch_size

    def init(key: jax.Array) -> TrainState:
        init_key, shuffle_key = jax.random.split(key)
        params = model.init(init_key, spec.model)
        return TrainState(params, optimizer.init(params), shuffle_key, jnp.zeros((), jnp.int32))

    def _loss_fn(params, x, y, weight):
        outputs = model.apply(spec.model, params, x)
        per_example = loss_per_example(y, outputs)
        return jnp.sum(per_example * weight) / jnp.sum(weight), outputs

    def _epoch(state: TrainState, data: FitData) -> tuple[TrainState, tuple[jax.Array, ...]]:
        n = data.x.shape[0]
        steps = -(-n // bs)
        key = jax.random.fold_in(state.shuffle_key, state.epoch)
        order = jax.random.permutation(key, n) if spec.shuffle else jnp.arange(n)
        # The last partial batch is padded with weight-0 rows: it trains on its real rows only, as Keras's does.
        pad = steps * bs - n
        index = jnp.concatenate([order, jnp.zeros(pad, order.dtype)]).reshape(steps, bs)
        weight = jnp.concatenate([jnp.ones(n, jnp.float32), jnp.zeros(pad, jnp.float32)]).reshape(steps, bs)

        def _update_step(carry, batch):
            params, opt_state = carry
            rows, w = batch
            x, y = data.x[rows], data.y[rows]
            (loss, outputs), grads = jax.value_and_grad(_loss_fn, has_aux=True)(params, x, y, w)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), (loss * jnp.sum(w), jnp.sum(hits(outputs, y) * w))

        (params, opt_state), (loss_sums, hit_sums) = jax.lax.scan(
            _update_step, (state.params, state.opt_state), (index, weight))
        if data.x_val.shape[0]:
            val_out = model.apply(spec.model, params, data.x_val)
            val_loss = jnp.mean(loss_per_example(data.y_val, val_out))
            val_acc = jnp.mean(hits(val_out, data.y_val))
        else:
            val_loss = val_acc = jnp.float32(jnp.nan)
        new_state = TrainState(params, opt_state, state.shuffle_key, state.epoch + 1)
        return new_state, (jnp.sum(loss_sums) / n, jnp.sum(hit_sums) / n, val_loss, val_acc)

    def run(state: TrainState, data: FitData, n_epochs: int) -> tuple[TrainState, EpochMetrics]:
        state, per_epoch = jax.lax.scan(lambda s, _: _epoch(s, data), state, None, length=n_epochs)
        return state, EpochMetrics(*per_epoch)

    return init, jax.jit(run, static_argnames="n_epochs")


def chunk_length(epochs: int, updates: int = 10) -> int:
    """The largest divisor of epochs giving at least `updates` progress updates: one compile, even chunks."""
    target = max(1, epochs // updates)
    return max(d for d in range(1, target + 1) if epochs % d == 0)


def fit(spec: FitSpec, key: jax.Array, data: FitData, epochs: int,
        on_chunk: Callable[[int, dict[str, float]], None] | None = None) -> tuple[model.Params, dict[str, np.ndarray]]:
    """Train for `epochs`; call on_chunk(epochs_done, latest metrics) between compiled chunks.

    Returns the trained params and the history {loss, accuracy, val_loss, val_accuracy: float32[epochs]}.
    """
    init, run = make_train(spec)
    state = init(key)
    chunk = chunk_length(epochs) if on_chunk else epochs
    parts = []
    for done in range(chunk, epochs + 1, chunk):
        state, metrics = run(state, data, chunk)
        parts.append(jax.device_get(metrics))
        if on_chunk:
            on_chunk(done, {k: float(v[-1]) for k, v in parts[-1]._asdict().items()})
    history = {k: np.concatenate([getattr(p, k) for p in parts]) for k in EpochMetrics._fields}
    return jax.device_get(state.params), history
