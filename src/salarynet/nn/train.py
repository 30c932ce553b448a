"""The fit, as Keras's model.fit runs it, compiled once: lax.scan over epochs, and over batches within each."""

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import model
from .losses import loss_function

# Keras's default learning rates; the other defaults are passed where optax's differ.
KERAS_LEARNING_RATES = {"adagrad": 0.001, "sgd": 0.01, "adam": 0.001, "rmsprop": 0.001}

# Steps per iteration of the compiled loop over an epoch's batches (lax.scan's unroll). Measured by
# benchmarks/fit_speed.py --ideas on the tutorial (2 cores): 2, 4 and 8 save 5-13% a step, within the
# machine's noise, and 4 and 8 double the compile; unrolled, XLA orders the recommended network's float sums
# differently, so every recorded result would move. Kept at 1.
UNROLL = 1


class FitSpec(NamedTuple):
    model: model.ModelSpec
    loss: str
    optimizer: str
    learning_rate: float | None
    batch_size: int
    shuffle: bool
    l2: float = 0.0
    early_stopping: int | None = None
    quantiles: tuple[float, float] = (0.1, 0.9)
    average: float | None = None  # decay of an exponential moving average of the weights, used as the model


class FitData(NamedTuple):
    """x: model.Inputs or float32[rows, features]; y: float32[rows, outputs] (targets);
    w: float32[rows] sample weights (class weights; ones for none); *_val likewise, unweighted."""

    x: "model.Inputs | jax.Array"
    y: jax.Array
    w: jax.Array
    x_val: "model.Inputs | jax.Array"
    y_val: jax.Array


def rows(x: "model.Inputs | jax.Array") -> int:
    """Rows of an input batch (the axis before the features; a leading seed axis may come first)."""
    return (x.numeric if isinstance(x, model.Inputs) else x).shape[-2]


class TrainState(NamedTuple):
    params: model.Params
    opt_state: optax.OptState
    best_params: model.Params  # the weights of the epoch with the lowest validation loss so far
    best_loss: jax.Array
    bad_epochs: jax.Array  # epochs since the validation loss last improved
    key: jax.Array  # dropout
    # A value, not part of the compiled program: models with different rates train in one vmapped call.
    learning_rate: jax.Array
    average: model.Params  # with spec.average: the moving average of the weights (else unused)
    steps: jax.Array


class EpochMetrics(NamedTuple):
    """float32[epochs] each; Keras's History: running means over the epoch's samples."""

    loss: jax.Array
    accuracy: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array


def resolved_rate(name: str, given: float | None) -> float:
    """The learning rate given, or Keras's default for the optimizer."""
    return KERAS_LEARNING_RATES[name] if given is None else given


def make_optimizer(name: str, learning_rate: float | None) -> optax.GradientTransformation:
    """optax's optimizer with Keras's default hyper-parameters."""
    lr = resolved_rate(name, learning_rate)
    if name == "adagrad":  # Keras: initial_accumulator_value=0.1, epsilon=1e-7, update g / sqrt(acc + eps)
        return optax.adagrad(lr, initial_accumulator_value=0.1, eps=1e-7)
    if name == "sgd":
        return optax.sgd(lr)
    if name == "adam":  # Keras: beta_1=0.9, beta_2=0.999, epsilon=1e-7
        return optax.adam(lr, b1=0.9, b2=0.999, eps=1e-7)
    if name == "rmsprop":  # Keras: rho=0.9, epsilon=1e-7 inside the square root
        return optax.rmsprop(lr, decay=0.9, eps=1e-7, eps_in_sqrt=True)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(KERAS_LEARNING_RATES)}")


def hits(outputs: jax.Array, y: jax.Array, loss: str = "") -> jax.Array:
    """Per-example accuracy: argmax agreement for two or more outputs, 0.5 threshold for one -> float32[batch].

    For a salary range (mse_quantiles) it is the coverage: the true value inside the low-high range.
    """
    if loss == "mse_quantiles":
        return ((outputs[:, 1] <= y[:, 0]) & (y[:, 0] <= outputs[:, 2])).astype(jnp.float32)
    if outputs.shape[-1] == 1:
        return ((outputs[:, 0] > 0.5) == (y[:, 0] > 0.5)).astype(jnp.float32)
    return (jnp.argmax(outputs, -1) == jnp.argmax(y, -1)).astype(jnp.float32)


def metric_name(loss: str) -> str:
    """What hits() measures: accuracy, or for a salary range its coverage."""
    return "coverage" if loss == "mse_quantiles" else "accuracy"


def fit_rows(n_rows: int, fraction: float) -> int:
    """Rows kept for fitting: Keras takes the last floor-complement as validation, before shuffling."""
    return int(math.floor(n_rows * (1.0 - fraction)))


@functools.lru_cache(maxsize=32)  # one compile per spec and shapes, however many fits a process runs
def make_train(spec: FitSpec) -> tuple[Callable[..., TrainState], Callable[..., tuple[TrainState, EpochMetrics]]]:
    """init(rng, learning_rate=None) -> state; run(state, data, orders int32[epochs, rows]) -> (state, EpochMetrics).

    `run` is pure and compiled once per shape; each row of `orders` is one epoch's order of the rows.
    The optimizer runs at rate 1 and its step is scaled by the state's learning rate: the same numbers
    as optax's own scaling (u * -lr == (u * -1) * lr exactly), with the rate a value instead of a constant.
    """
    optimizer = make_optimizer(spec.optimizer, 1.0)
    loss_per_example = loss_function(spec.loss, spec.quantiles)

    def init(rng: np.random.Generator, rate: float | None = None) -> TrainState:
        params = model.init(rng, spec.model)
        # A raw uint32[2] key (not a typed one), so that fit_many can stack states with numpy.
        key = np.asarray(jax.random.PRNGKey(int(rng.integers(2**31))) if spec.model.dropout else np.zeros(2, np.uint32))
        rate = resolved_rate(spec.optimizer, spec.learning_rate if rate is None else rate)
        return TrainState(params, optimizer.init(params), params, jnp.float32(jnp.inf), jnp.int32(0), key,
                          np.float32(rate), params, np.int32(0))

    def _loss_fn(params, x, y, weight, key):
        outputs = model.apply(spec.model, params, x, key if spec.model.dropout else None, fine=True)
        per_example = loss_per_example(y, outputs)
        if spec.model.collapse is not None:  # finer classes: the answer itself (below/above) is fitted too
            c = spec.model.collapse
            per_example = per_example + loss_per_example(
                jnp.stack([y[:, :c].sum(1), y[:, c:].sum(1)], 1), jnp.stack([outputs[:, :c].sum(1), outputs[:, c:].sum(1)], 1))
        loss = jnp.sum(per_example * weight) / jnp.sum(weight > 0)
        if spec.l2:
            penalised = ([l["kernel"] for l in params["dense"]] + jax.tree.leaves(params.get("wide", {}))
                         + jax.tree.leaves(params.get("embed", [])) + jax.tree.leaves(params.get("text", [])))
            loss = loss + spec.l2 * sum(jnp.sum(jnp.square(k)) for k in penalised)
        return loss, outputs

    def _update_step(rate, carry, batch):
        # Only what a step changes is carried: a larger loop state costs copies on every step.
        params, opt_state, key, average, step = carry
        x, y, weight = batch
        key, sub = jax.random.split(key) if spec.model.dropout else (key, None)
        (loss, outputs), grads = jax.value_and_grad(_loss_fn, has_aux=True)(params, x, y, weight, sub)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: u * rate, updates)
        real = (weight > 0).astype(jnp.float32)
        params = optax.apply_updates(params, updates)
        if spec.average:  # the decay warms up (TensorFlow's num_updates rule): early weights don't linger
            decay = jnp.minimum(spec.average, (1.0 + step) / (10.0 + step))
            average = jax.tree.map(lambda a, p: decay * a + (1 - decay) * p, average, params)
        return ((params, opt_state, key, average, step + 1),
                (loss * jnp.sum(real), jnp.sum(hits(outputs, y, spec.loss) * real)))

    def _epoch(state: TrainState, order: jax.Array, data: FitData):
        n = rows(data.x)
        bs = min(spec.batch_size, n)  # a batch larger than the data is the data, as in Keras
        steps = -(-n // bs)
        pad = steps * bs - n

        def batches(a):  # rows in this epoch's order, cut into batches; the padding rows weigh 0
            a = jnp.concatenate([a[order], jnp.zeros((pad, *a.shape[1:]), a.dtype)])
            return a.reshape(steps, bs, *a.shape[1:])

        # The last partial batch trains on its real rows only, as Keras's does.
        xs, ys, ws = jax.tree.map(batches, (data.x, data.y, data.w))
        carry = (state.params, state.opt_state, state.key, state.average if spec.average else (), state.steps)
        (params, opt_state, key, average, steps), (loss_sums, hit_sums) = jax.lax.scan(
            functools.partial(_update_step, state.learning_rate), carry, (xs, ys, ws), unroll=UNROLL)
        state = state._replace(params=params, opt_state=opt_state, key=key, steps=steps,
                               average=average if spec.average else state.average)
        used = state.average if spec.average else state.params  # the weights the model is judged by
        if rows(data.x_val):
            val_out = model.apply(spec.model, used, data.x_val, fine=True)
            val_loss = jnp.mean(loss_per_example(data.y_val, val_out))
            val_acc = jnp.mean(hits(val_out, data.y_val, spec.loss))
        else:
            val_loss = val_acc = jnp.float32(jnp.nan)
        if rows(data.x_val) and spec.early_stopping:  # compiled only where it is used: it costs compile time
            better = val_loss < state.best_loss
            state = state._replace(
                best_params=jax.tree.map(lambda new, old: jnp.where(better, new, old), used, state.best_params),
                best_loss=jnp.where(better, val_loss, state.best_loss),
                bad_epochs=jnp.where(better, 0, state.bad_epochs + 1))
        return state, (jnp.sum(loss_sums) / n, jnp.sum(hit_sums) / n, val_loss, val_acc)

    def run(state: TrainState, data: FitData, orders: jax.Array) -> tuple[TrainState, EpochMetrics]:
        state, per_epoch = jax.lax.scan(lambda s, order: _epoch(s, order, data), state, orders)
        return state, EpochMetrics(*per_epoch)

    return init, jax.jit(run)


def epoch_orders(rng: np.random.Generator, n_rows: int, epochs: int, shuffle: bool) -> np.ndarray:
    """int32[epochs, rows]: a fresh permutation per epoch (Keras's shuffle=True), else the rows in order.

    Drawn on the host with numpy: in the compiled loop a random permutation (threefry + sort)
    doubled the compile time and cost a third of the run.
    """
    if not shuffle:
        return np.broadcast_to(np.arange(n_rows, dtype=np.int32), (epochs, n_rows))
    return np.stack([rng.permutation(n_rows).astype(np.int32) for _ in range(epochs)])


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the initial weights and the epochs' orders."""
    init_rng, shuffle_rng = np.random.default_rng(seed).spawn(2)
    return init_rng, shuffle_rng


def chunk_length(epochs: int, updates: int = 10, most: int | None = None) -> int:
    """The largest divisor of epochs giving at least `updates` progress updates (and at most `most`
    epochs a chunk): one compile, even chunks."""
    target = max(1, min(epochs // updates, most or epochs))
    return max(d for d in range(1, target + 1) if epochs % d == 0)


def _chunked(run, state, orders_for: Callable[[int], np.ndarray], epochs: int, on_chunk,
             patience: int | None) -> tuple:
    """Run the compiled epochs in even chunks, reporting between them and stopping early when every
    model's validation loss has not improved for `patience` epochs -> (final state, history [..., epochs run])."""
    chunk = chunk_length(epochs, most=patience) if (on_chunk or patience) else epochs
    parts = []
    for done in range(chunk, epochs + 1, chunk):
        state, metrics = run(state, orders_for(chunk))
        parts.append(jax.device_get(metrics))
        if on_chunk:
            on_chunk(done, {k: float(np.mean(v[..., -1])) for k, v in parts[-1]._asdict().items()})
        if patience and np.all(np.asarray(state.bad_epochs) >= patience):
            break
    history = {k: np.concatenate([getattr(p, k) for p in parts], axis=-1) for k in EpochMetrics._fields}
    return state, history


def _result(spec: FitSpec, params, best_params, history: dict[str, np.ndarray]) -> tuple[model.Params, dict]:
    """With early stopping, Keras's restore_best_weights: the best epoch's weights, the history to where it stopped."""
    if not spec.early_stopping:
        return jax.device_get(params), history
    if history["val_loss"].ndim == 1:
        stop = int(np.argmin(history["val_loss"])) + spec.early_stopping + 1
        history = {k: v[:stop] for k, v in history.items()}
    return jax.device_get(best_params), history


def fit(spec: FitSpec, seed: int, data: FitData, epochs: int,
        on_chunk: Callable[[int, dict[str, float]], None] | None = None) -> tuple[model.Params, dict[str, np.ndarray]]:
    """Train for `epochs`; call on_chunk(epochs_done, latest metrics) between compiled chunks.

    The seed's generator draws the initial weights, then each epoch's order: the same seed gives
    the same numbers however the epochs are chunked. Returns the trained params and the history
    {loss, accuracy, val_loss, val_accuracy: float32[epochs]}.
    """
    init, run = make_train(spec)
    init_rng, shuffle_rng = seed_streams(seed)
    n = rows(data.x)
    state, history = _chunked(lambda st, orders: run(st, data, orders), init(init_rng),
                              lambda chunk: epoch_orders(shuffle_rng, n, chunk, spec.shuffle), epochs, on_chunk,
                              spec.early_stopping)
    return _result(spec, state.average if spec.average else state.params, state.best_params, history)


@functools.lru_cache(maxsize=32)
def _run_many(spec: FitSpec):
    return jax.jit(jax.vmap(make_train(spec)[1]))


def fit_many(spec: FitSpec, seeds: list[int], data: FitData, epochs: int,
             on_chunk: Callable[[int, dict[str, float]], None] | None = None,
             workers: int | None = None, learning_rates: list[float] | None = None
             ) -> tuple[model.Params, dict[str, np.ndarray]]:
    """Train one model per seed with one compiled, vmapped program; `data` has a leading seed axis,
    and `learning_rates` (default: the spec's for all) one rate per model.

    Each model sees exactly what fit(spec, seed, data[i]) would show it. The seeds are cut into
    one equal group per core (the last padded with a repeat, so that one compile serves all) and
    the groups run side by side: XLA:CPU runs a loop on one core. Returns params and history
    with a leading seed axis; on_chunk gets the mean over seeds.
    """
    init = make_train(spec)[0]
    run_many = _run_many(spec)
    count = len(seeds)
    per_group = -(-count // max(1, min(workers or os.cpu_count() or 1, count)))
    workers = -(-count // per_group)  # as few padded models as the cores allow
    members = np.minimum(np.arange(per_group * workers), count - 1).reshape(workers, per_group)
    streams = [seed_streams(seeds[i]) for i in members.ravel()]
    rates = [learning_rates[i] if learning_rates else None for i in members.ravel()]
    states = [jax.tree.map(lambda *leaves: np.stack(leaves), *(init(streams[j][0], rates[j]) for j in row))
              for row in np.arange(members.size).reshape(members.shape)]
    datas = [jax.tree.map(lambda a, row=row: a[row], data) for row in members]
    n = rows(data.x)

    def run(states, orders):
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(lambda g: run_many(states[g], datas[g], orders[g]), range(workers)))
        metrics = EpochMetrics(*(np.concatenate([np.asarray(getattr(m, k)) for _, m in done])[:count]
                                 for k in EpochMetrics._fields))
        return _Groups(st for st, _ in done), metrics

    def orders_for(chunk: int) -> np.ndarray:
        every = np.stack([epoch_orders(rng, n, chunk, spec.shuffle) for _, rng in streams])
        return every.reshape(workers, per_group, chunk, n)

    states, history = _chunked(run, _Groups(states), orders_for, epochs, on_chunk, spec.early_stopping)

    def merged(field: str):
        return jax.tree.map(lambda *groups: np.concatenate(groups)[:count], *(jax.device_get(getattr(st, field)) for st in states))

    return _result(spec, merged("average" if spec.average else "params"), merged("best_params"), history)


class _Groups(list):
    """fit_many's per-core states, seen by _chunked's early stop as one state."""

    @property
    def bad_epochs(self) -> np.ndarray:
        return np.concatenate([np.atleast_1d(np.asarray(st.bad_epochs)) for st in self])
