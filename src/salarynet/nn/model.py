"""Dense networks in Keras's vocabulary, with embeddings for answers and a bag of text n-grams: pure functions."""

import jax
import jax.numpy as jnp

from .spec import Inputs, ModelSpec, Params, flatten, init, shapes, unflatten  # noqa: F401 (the model's vocabulary)

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "tanh": jnp.tanh,
    "linear": lambda z: z,
}


# Below this many multiply-adds a layer is computed as broadcast-multiply-sum rather than a dot:
# XLA:CPU runs each dot as a library call with a fixed cost of microseconds, while the
# elementwise form fuses with the bias, the activation and its neighbours. For the tutorial's
# batches of 5 this makes a training step 2.5x faster; large batches still use the dot.
FUSED_DENSE_MAX = 16_384


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """x: float32[batch, in] -> float32[batch, out]."""
    if x.shape[0] * kernel.shape[0] * kernel.shape[1] <= FUSED_DENSE_MAX:
        return jnp.sum(x[:, :, None] * kernel[None], axis=1) + bias
    return x @ kernel + bias


def _dropout(key: jax.Array | None, rate: float, x: jax.Array) -> tuple[jax.Array | None, jax.Array]:
    if key is None or rate == 0.0:
        return key, x
    key, sub = jax.random.split(key)
    return key, jnp.where(jax.random.bernoulli(sub, 1.0 - rate, x.shape), x / (1.0 - rate), 0.0)


def first_inputs(spec: ModelSpec, params: Params, x: "Inputs | jax.Array") -> jax.Array:
    """The first dense layer's input: numeric answers, embedded categories, the mean of the text n-grams."""
    if not isinstance(x, Inputs):
        return x
    parts = [x.numeric]
    for i in range(len(spec.embeddings)):
        parts.append(params["embed"][i][x.cats[:, i]])
    if spec.text:
        parts.append(_bag(params["text"], x.tokens, x.weights))
    return jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _bag(table: jax.Array, tokens: jax.Array, weights: jax.Array) -> jax.Array:
    """The n-grams' rows weighted by TF-IDF, over the weights' norm: common n-grams ("manager") count
    less than telling ones ("counsel"), and long titles don't shout."""
    summed = jnp.einsum("bt,btd->bd", weights, table[tokens])
    return summed / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(weights), axis=1, keepdims=True)), 1e-6)


def _wide(spec: ModelSpec, wide: dict, x: "Inputs") -> jax.Array:
    z = x.numeric @ wide["numeric"]
    for i in range(len(spec.embeddings)):
        z = z + wide["embed"][i][x.cats[:, i]]
    if spec.text:
        z = z + _bag(wide["text"], x.tokens, x.weights)
    return z


def apply(
    spec: ModelSpec, params: Params, x: "Inputs | jax.Array", key: jax.Array | None = None, fine: bool = False
) -> jax.Array:
    """x: Inputs (or float32[batch, in_size]) -> outputs float32[batch, answers] (after the last activation;
    with fine=True, the last layer's own classes before any collapse: what training fits).

    With a `key`, dropout is applied to the first layer's inputs and after each hidden layer (training).
    """
    h = first_inputs(spec, params, x)
    key, h = _dropout(key, spec.dropout, h)
    last = len(params["dense"]) - 1
    for i, (layer, activation) in enumerate(zip(params["dense"], spec.activations)):
        z = dense(h, layer["kernel"], layer["bias"])
        if i == last and spec.wide and isinstance(x, Inputs):
            z = z + _wide(spec, params["wide"], x)
        h = ACTIVATIONS[activation](z)
        if i < last:
            key, h = _dropout(key, spec.dropout, h)
    if spec.collapse is not None and not fine:
        return jnp.stack([h[:, : spec.collapse].sum(axis=1), h[:, spec.collapse :].sum(axis=1)], axis=1)
    return h
