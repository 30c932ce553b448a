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
    # Models of one vmapped call that stop at different epochs (a refit of each model for its own kept epoch):
    # compiles the guard that freezes a model once its epochs are done. Early stopping compiles it too.
    budgets: bool = False


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
    bad_epochs: jax.Array  # epochs since the validation loss last improved (Keras's EarlyStopping.wait)
    epoch: jax.Array  # epochs run
    last_epoch: jax.Array  # this model's epoch budget: it is frozen once `epoch` reaches it
    stopped: jax.Array  # early stopping stopped this model: it is frozen from then on
    key: jax.Array  # dropout
    # A value, not part of the compiled program: models with different rates train in one vmapped call.
    learning_rate: jax.Array
    average: model.Params  # with spec.average: the moving average of the weights (else unused)
    steps: jax.Array


class EpochMetrics(NamedTuple):
    """float32[epochs] each; Keras's History: running means over the epoch's samples. ran: bool[epochs], whether
    the model trained in that epoch (a model that stopped early, or whose budget is spent, is frozen)."""

    loss: jax.Array
    accuracy: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array
    ran: jax.Array


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
    """init(rng, rate=None, epochs=no limit, params=None) -> state; run(state, data, orders int32[epochs, rows]) ->
    (state, EpochMetrics).

    `run` is pure and compiled once per shape; each row of `orders` is one epoch's order of the rows.
    The optimizer runs at rate 1 and its step is scaled by the state's learning rate: the same numbers
    as optax's own scaling (u * -lr == (u * -1) * lr exactly), with the rate a value instead of a constant.
    """
    optimizer = make_optimizer(spec.optimizer, 1.0)
    loss_per_example = loss_function(spec.loss, spec.quantiles)

    def init(
        rng: np.random.Generator, rate: float | None = None, epochs: int = 2**31 - 1, params: model.Params | None = None
    ) -> TrainState:
        """A model's first state: its weights drawn from rng (or given), its learning rate, and its epoch budget."""
        drawn = model.init(rng, spec.model)
        params = drawn if params is None else params
        # A raw uint32[2] key (not a typed one), so that fit_many can stack states with numpy.
        key = np.asarray(jax.random.PRNGKey(int(rng.integers(2**31))) if spec.model.dropout else np.zeros(2, np.uint32))
        rate = resolved_rate(spec.optimizer, spec.learning_rate if rate is None else rate)
        return TrainState(
            params,
            optimizer.init(params),
            params,
            np.float32(np.inf),
            np.int32(0),
            np.int32(0),
            np.int32(epochs),
            np.bool_(False),
            key,
            np.float32(rate),
            params,
            np.int32(0),
        )

    def _loss_fn(params, x, y, weight, key):
        outputs = model.apply(spec.model, params, x, key if spec.model.dropout else None, fine=True)
        per_example = loss_per_example(y, outputs)
        if spec.model.collapse is not None:  # finer classes: the answer itself (below/above) is fitted too
            c = spec.model.collapse
            per_example = per_example + loss_per_example(
                jnp.stack([y[:, :c].sum(1), y[:, c:].sum(1)], 1),
                jnp.stack([outputs[:, :c].sum(1), outputs[:, c:].sum(1)], 1),
            )
        loss = jnp.sum(per_example * weight) / jnp.sum(weight > 0)
        if spec.l2:
            penalised = (
                [l["kernel"] for l in params["dense"]]
                + jax.tree.leaves(params.get("wide", {}))
                + jax.tree.leaves(params.get("embed", []))
                + jax.tree.leaves(params.get("text", []))
            )
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
        return (
            (params, opt_state, key, average, step + 1),
            (loss * jnp.sum(real), jnp.sum(hits(outputs, y, spec.loss) * real)),
        )

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
            functools.partial(_update_step, state.learning_rate), carry, (xs, ys, ws), unroll=UNROLL
        )
        state = state._replace(
            params=params, opt_state=opt_state, key=key, steps=steps, average=average if spec.average else state.average
        )
        used = state.average if spec.average else state.params  # the weights the model is judged by
        if rows(data.x_val):
            val_out = model.apply(spec.model, used, data.x_val, fine=True)
            val_loss = jnp.mean(loss_per_example(data.y_val, val_out))
            val_acc = jnp.mean(hits(val_out, data.y_val, spec.loss))
        else:
            val_loss = val_acc = jnp.float32(jnp.nan)
        if rows(data.x_val) and spec.early_stopping:  # compiled only where it is used: it costs compile time
            state = _early_stopping(state, used, val_loss)
        state = state._replace(epoch=state.epoch + 1)
        return state, (jnp.sum(loss_sums) / n, jnp.sum(hit_sums) / n, val_loss, val_acc, jnp.bool_(True))

    def _early_stopping(state: TrainState, used: model.Params, val_loss: jax.Array) -> TrainState:
        """Keras 3's EarlyStopping(monitor="val_loss", patience, restore_best_weights=True), at the end of an
        epoch: the first epoch is always the best so far (Keras's best starts as None); an epoch improves only
        if its loss is strictly lower (NaN never is); after `patience` epochs without improvement it stops."""
        better = (state.epoch == 0) | (val_loss < state.best_loss)
        bad = jnp.where(better, 0, state.bad_epochs + 1)
        return state._replace(
            best_params=jax.tree.map(lambda new, old: jnp.where(better, new, old), used, state.best_params),
            best_loss=jnp.where(better, val_loss, state.best_loss),
            bad_epochs=bad,
            stopped=state.stopped | (~better & (bad >= spec.early_stopping) & (state.epoch > 0)),
        )

    def _guarded_epoch(state: TrainState, order: jax.Array, data: FitData):
        """An epoch, or nothing for a model that stopped early or spent its budget (its metrics NaN, ran False)."""

        def frozen(state, order, data):
            nan = jnp.float32(jnp.nan)
            return state, (nan, nan, nan, nan, jnp.bool_(False))

        active = ~state.stopped & (state.epoch < state.last_epoch)
        return jax.lax.cond(active, _epoch, frozen, state, order, data)

    step = _guarded_epoch if (spec.early_stopping or spec.budgets) else _epoch

    def run(state: TrainState, data: FitData, orders: jax.Array) -> tuple[TrainState, EpochMetrics]:
        state, per_epoch = jax.lax.scan(lambda s, order: step(s, order, data), state, orders)
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


def _chunked(run, state, orders_for: Callable[[int], np.ndarray], epochs: int, on_chunk, patience: int | None) -> tuple:
    """Run the compiled epochs in even chunks, reporting between them, until every model has stopped early or
    spent its epochs -> (final state, {name: float[..., epochs compiled]}, ran bool[..., epochs compiled]).
    Each model stops at its own epoch inside the compiled loop: a chunk only bounds the work after the last."""
    chunk = chunk_length(epochs, most=patience) if (on_chunk or patience) else epochs
    parts = []
    for done in range(chunk, epochs + 1, chunk):
        state, metrics = run(state, orders_for(chunk))
        parts.append(jax.device_get(metrics))
        if on_chunk:
            on_chunk(done, _latest(parts[-1]))
        if np.all(_finished(state)):
            break
    history = {k: np.concatenate([getattr(p, k) for p in parts], axis=-1) for k in EpochMetrics._fields}
    return state, history


def _latest(metrics: EpochMetrics) -> dict[str, float]:
    """Each metric of the latest epoch each model ran (mean over models), for progress."""
    ran = np.asarray(metrics.ran).reshape(-1, metrics.ran.shape[-1])
    last = ran.shape[1] - 1 - np.argmax(ran[:, ::-1], axis=1)
    out = {}
    for name in EpochMetrics._fields[:-1]:
        values = np.asarray(getattr(metrics, name)).reshape(ran.shape)[np.arange(len(ran)), last]
        out[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out


def _finished(state) -> np.ndarray:
    if isinstance(state, _Groups):
        return np.concatenate([np.atleast_1d(_finished(st)) for st in state])
    return np.asarray(state.stopped) | (np.asarray(state.epoch) >= np.asarray(state.last_epoch))


def _trimmed(history: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One model's history: the epochs it ran (Keras's History, to the epoch early stopping stopped at)."""
    ran = history["ran"].astype(bool)
    return {k: v[ran] for k, v in history.items() if k != "ran"}


def kept_epoch(history: dict[str, np.ndarray]) -> int:
    """The 1-based epoch whose weights early stopping keeps, by Keras's rule (as the compiled loop applies it): the
    first epoch is the best so far, and a later one only if its validation loss is strictly lower (NaN never is)."""
    best, kept = None, 0
    for epoch, value in enumerate(history["val_loss"]):
        if best is None or value < best:
            best, kept = value, epoch
    return kept + 1


def fit(
    spec: FitSpec,
    seed: int,
    data: FitData,
    epochs: int,
    on_chunk: Callable[[int, dict[str, float]], None] | None = None,
    params: model.Params | None = None,
) -> tuple[model.Params, dict[str, np.ndarray]]:
    """Train for `epochs` (fewer where early stopping stops); call on_chunk(epochs_done, latest metrics) between
    compiled chunks. params: start from these weights instead of the seed's (the Keras parity tests).

    The seed's generator draws the initial weights, then each epoch's order: the same seed gives
    the same numbers however the epochs are chunked. Returns the trained params (with early stopping, the best
    epoch's: Keras's restore_best_weights) and the history {loss, accuracy, val_loss, val_accuracy:
    float32[epochs run]}.
    """
    init, run = make_train(spec)
    init_rng, shuffle_rng = seed_streams(seed)
    n = rows(data.x)
    state, history = _chunked(
        lambda st, orders: run(st, data, orders),
        init(init_rng, None, epochs, params),
        lambda chunk: epoch_orders(shuffle_rng, n, chunk, spec.shuffle),
        epochs,
        on_chunk,
        spec.early_stopping,
    )
    kept = state.best_params if spec.early_stopping else state.average if spec.average else state.params
    return jax.device_get(kept), _trimmed(history)


@functools.lru_cache(maxsize=32)
def _run_many(spec: FitSpec):
    return jax.jit(jax.vmap(make_train(spec)[1]))


def fit_many(
    spec: FitSpec,
    seeds: list[int],
    data: FitData,
    epochs: int | list[int],
    on_chunk: Callable[[int, dict[str, float]], None] | None = None,
    workers: int | None = None,
    learning_rates: list[float] | None = None,
) -> tuple[model.Params, list[dict[str, np.ndarray]]]:
    """Train one model per seed with one compiled, vmapped program; `data` has a leading seed axis,
    `learning_rates` (default: the spec's for all) one rate per model, and `epochs` one budget for all or one
    per model (a refit of each model for its own kept epoch).

    Each model sees exactly what fit(spec, seed, data[i], epochs[i]) would show it, and stops early at its own
    epoch. The seeds are cut into one equal group per core (the last padded with a repeat, so that one compile
    serves all) and the groups run side by side: XLA:CPU runs a loop on one core. Returns params with a leading
    seed axis and each model's history; on_chunk gets the mean over seeds.
    """
    count = len(seeds)
    budgets = [epochs] * count if isinstance(epochs, int) else list(epochs)
    if len(set(budgets)) > 1:
        spec = spec._replace(budgets=True)
    init = make_train(spec)[0]
    run_many = _run_many(spec)
    per_group = -(-count // max(1, min(workers or os.cpu_count() or 1, count)))
    workers = -(-count // per_group)  # as few padded models as the cores allow
    members = np.minimum(np.arange(per_group * workers), count - 1).reshape(workers, per_group)
    streams = [seed_streams(seeds[i]) for i in members.ravel()]
    rates = [learning_rates[i] if learning_rates else None for i in members.ravel()]
    lasts = [budgets[i] for i in members.ravel()]
    states = [
        jax.tree.map(lambda *leaves: np.stack(leaves), *(init(streams[j][0], rates[j], lasts[j]) for j in row))
        for row in np.arange(members.size).reshape(members.shape)
    ]
    datas = [jax.tree.map(lambda a, row=row: a[row], data) for row in members]
    n = rows(data.x)

    def run(states, orders):
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(lambda g: run_many(states[g], datas[g], orders[g]), range(workers)))
        metrics = EpochMetrics(
            *(np.concatenate([np.asarray(getattr(m, k)) for _, m in done])[:count] for k in EpochMetrics._fields)
        )
        return _Groups(st for st, _ in done), metrics

    def orders_for(chunk: int) -> np.ndarray:
        every = np.stack([epoch_orders(rng, n, chunk, spec.shuffle) for _, rng in streams])
        return every.reshape(workers, per_group, chunk, n)

    states, history = _chunked(run, _Groups(states), orders_for, max(budgets), on_chunk, spec.early_stopping)

    def merged(field: str):
        return jax.tree.map(
            lambda *groups: np.concatenate(groups)[:count], *(jax.device_get(getattr(st, field)) for st in states)
        )

    kept = merged("best_params" if spec.early_stopping else "average" if spec.average else "params")
    return kept, [_trimmed({k: v[i] for k, v in history.items()}) for i in range(count)]


class _Groups(list):
    """fit_many's per-core states, seen by _chunked as one state."""
