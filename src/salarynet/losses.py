"""Keras's losses, per example, over the network's outputs (not logits)."""

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


LOSSES = {"binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy, "mse": mse}
