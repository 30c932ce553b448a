"""Keras's losses, per example, over the network's outputs (not logits); and the range loss for salaries."""

import jax.numpy as jnp

# keras.backend.epsilon(): Keras clips probabilities to [eps, 1 - eps] before taking logs.
EPSILON = 1e-7


def binary_crossentropy(y: jnp.ndarray, p: jnp.ndarray) -> jnp.ndarray:
    """y, p: float32[batch, outputs] -> float32[batch], the mean over outputs as Keras takes it."""
    p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
    return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p), axis=-1)


def categorical_crossentropy(y: jnp.ndarray, p: jnp.ndarray) -> jnp.ndarray:
    """Keras renormalises the outputs to sum to one, then clips."""
    p = jnp.clip(p / jnp.sum(p, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    return -jnp.sum(y * jnp.log(p), axis=-1)


def mse(y: jnp.ndarray, p: jnp.ndarray) -> jnp.ndarray:
    return jnp.mean(jnp.square(y - p), axis=-1)


def pinball(y: jnp.ndarray, q: jnp.ndarray, level: float) -> jnp.ndarray:
    """The quantile loss: minimised when q is the `level` quantile of y."""
    diff = y - q
    return jnp.maximum(level * diff, (level - 1.0) * diff)


def mse_quantiles(y: jnp.ndarray, p: jnp.ndarray, quantiles: tuple[float, float] = (0.1, 0.9)) -> jnp.ndarray:
    """y: float32[batch, 1] log salary; p: [batch, 3] = (estimate, low quantile, high quantile)."""
    y0 = y[:, 0]
    return jnp.square(p[:, 0] - y0) + pinball(y0, p[:, 1], quantiles[0]) + pinball(y0, p[:, 2], quantiles[1])


LOSSES = {"binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
          "mse": mse, "mse_quantiles": mse_quantiles}


def loss_function(name: str, quantiles: tuple[float, float] = (0.1, 0.9)):
    """The per-example loss for a recipe's compile.loss."""
    if name == "mse_quantiles":
        return lambda y, p: mse_quantiles(y, p, quantiles)
    return LOSSES[name]
