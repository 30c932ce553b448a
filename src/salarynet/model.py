"""Dense networks in Keras's vocabulary, as pure functions: init(key, spec) -> params; apply."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "tanh": jnp.tanh,
    "linear": lambda z: z,
}


class ModelSpec(NamedTuple):
    """The layer stack: hashable, so it can be a static argument of a compiled function."""

    in_size: int
    units: tuple[int, ...]
    activations: tuple[str, ...]

    @property
    def out_size(self) -> int:
        return self.units[-1]

    def to_json(self) -> dict:
        return {
            "in_size": self.in_size,
            "layers": [{"units": u, "activation": a} for u, a in zip(self.units, self.activations)],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        layers = data["layers"]
        return cls(int(data["in_size"]), tuple(int(l["units"]) for l in layers),
                   tuple(str(l["activation"]) for l in layers))


Params = list[dict[str, jax.Array]]  # per layer: kernel float32[in, out], bias float32[out]


def init(key: jax.Array, spec: ModelSpec) -> Params:
    """Keras's defaults: glorot_uniform kernels, U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), zero biases."""
    sizes = (spec.in_size, *spec.units)
    params = []
    for layer_key, fan_in, fan_out in zip(jax.random.split(key, len(spec.units)), sizes[:-1], sizes[1:]):
        limit = jnp.sqrt(6.0 / (fan_in + fan_out))
        kernel = jax.random.uniform(layer_key, (fan_in, fan_out), jnp.float32, -limit, limit)
        params.append({"kernel": kernel, "bias": jnp.zeros((fan_out,), jnp.float32)})
    return params


def apply(spec: ModelSpec, params: Params, x: jax.Array) -> jax.Array:
    """x: float32[batch, in_size] -> outputs float32[batch, out_size] (after the last activation)."""
    for layer, activation in zip(params, spec.activations):
        x = ACTIVATIONS[activation](x @ layer["kernel"] + layer["bias"])
    return x
