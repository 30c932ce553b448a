"""The network's forward pass in plain numpy: what a prediction runs, without importing JAX (half a second)
or compiling anything. It computes what `model.apply` computes without dropout (tests/test_model.py holds
the two to 1e-6); training and its gradients stay in JAX."""

import numpy as np

from .spec import Inputs, ModelSpec, Params


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Both halves computed where they cannot overflow (jax.nn.sigmoid is exact at either end too).
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype)


ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "tanh": np.tanh,
    "linear": lambda z: z,
}


def _bag(table: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """model._bag: np.take and a batched matmul (3x faster here than indexing and einsum)."""
    summed = np.matmul(weights[:, None, :], np.take(table, tokens, axis=0))[:, 0]
    return summed / np.maximum(np.sqrt(np.sum(np.square(weights), axis=1, keepdims=True)), 1e-6)


Bags = tuple  # (the text bag of the first layer, the wide part's): what text_bags() computes, or (None, None)


def text_bags(spec: ModelSpec, params: Params, x: Inputs) -> Bags:
    """The rows' text bags, the costly part of a forward pass: computed once where only other answers change
    between passes (permutation importance), and passed to apply(bags=...)."""
    if not (spec.text and isinstance(x, Inputs)):
        return None, None
    return (
        _bag(params["text"], x.tokens, x.weights),
        _bag(params["wide"]["text"], x.tokens, x.weights) if spec.wide else None,
    )


def _first_inputs(spec: ModelSpec, params: Params, x: Inputs | np.ndarray, bag: np.ndarray | None) -> np.ndarray:
    if not isinstance(x, Inputs):
        return np.asarray(x, np.float32)
    parts = [np.asarray(x.numeric, np.float32)]
    parts += [params["embed"][i][x.cats[:, i]] for i in range(len(spec.embeddings))]
    if spec.text:
        parts.append(bag)
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _wide(spec: ModelSpec, wide: dict, x: Inputs, bag: np.ndarray | None) -> np.ndarray:
    z = np.asarray(x.numeric, np.float32) @ wide["numeric"]
    for i in range(len(spec.embeddings)):
        z = z + wide["embed"][i][x.cats[:, i]]
    if spec.text:
        z = z + bag
    return z


def apply(spec: ModelSpec, params: Params, x: Inputs | np.ndarray, bags: Bags | None = None) -> np.ndarray:
    """x: Inputs (or float32[batch, in_size]) -> float32[batch, answers], as model.apply(spec, params, x);
    bags: the rows' text_bags(spec, params, x), where computed already."""
    deep_bag, wide_bag = bags if bags is not None else text_bags(spec, params, x)
    h = _first_inputs(spec, params, x, deep_bag)
    last = len(params["dense"]) - 1
    for i, (layer, activation) in enumerate(zip(params["dense"], spec.activations)):
        z = h @ layer["kernel"] + layer["bias"]
        if i == last and spec.wide and isinstance(x, Inputs):
            z = z + _wide(spec, params["wide"], x, wide_bag)
        h = ACTIVATIONS[activation](z)
    if spec.collapse is not None:
        return np.stack([h[:, : spec.collapse].sum(axis=1), h[:, spec.collapse :].sum(axis=1)], axis=1)
    return h
