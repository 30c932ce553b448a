"""Keras's losses, per example, over the network's outputs (not logits); and the range loss for salaries.

Written once for both array modules: JAX arrays (training, traced) and numpy arrays (a saved run's metrics,
which need not import JAX)."""

from typing import Any

import numpy as np


def _xp(*arrays: Any) -> Any:
    """numpy where every input is numpy, else jax.numpy (imported only then)."""
    if all(isinstance(a, (np.ndarray, np.generic)) for a in arrays):
        return np
    import jax.numpy as jnp

    return jnp


# keras.backend.epsilon(): Keras clips probabilities to [eps, 1 - eps] before taking logs.
EPSILON = 1e-7


def binary_crossentropy(y: Any, p: Any) -> Any:
    """y, p: float32[batch, outputs] -> float32[batch], the mean over outputs as Keras takes it."""
    xp = _xp(y, p)
    p = xp.clip(p, EPSILON, 1.0 - EPSILON)
    return -xp.mean(y * xp.log(p) + (1.0 - y) * xp.log(1.0 - p), axis=-1)


def categorical_crossentropy(y: Any, p: Any) -> Any:
    """Keras renormalises the outputs to sum to one, then clips."""
    xp = _xp(y, p)
    p = xp.clip(p / xp.sum(p, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    return -xp.sum(y * xp.log(p), axis=-1)


def mse(y: Any, p: Any) -> Any:
    xp = _xp(y, p)
    return xp.mean(xp.square(y - p), axis=-1)


def pinball(y: Any, q: Any, level: float) -> Any:
    """The quantile loss: minimised when q is the `level` quantile of y."""
    diff = y - q
    return _xp(y, q).maximum(level * diff, (level - 1.0) * diff)


def mse_quantiles(y: Any, p: Any, quantiles: tuple[float, float] = (0.1, 0.9)) -> Any:
    """y: float32[batch, 1] log salary; p: [batch, 3] = (estimate, low quantile, high quantile)."""
    y0 = y[:, 0]
    return _xp(y, p).square(p[:, 0] - y0) + pinball(y0, p[:, 1], quantiles[0]) + pinball(y0, p[:, 2], quantiles[1])


LOSSES = {
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "mse": mse,
    "mse_quantiles": mse_quantiles,
}


def loss_function(name: str, quantiles: tuple[float, float] = (0.1, 0.9)):
    """The per-example loss for a recipe's compile.loss."""
    if name == "mse_quantiles":
        return lambda y, p: mse_quantiles(y, p, quantiles)
    return LOSSES[name]
