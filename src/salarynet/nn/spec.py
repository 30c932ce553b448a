"""The network's shape, its weights' names and its inputs: plain data, no JAX (what loading a run needs)."""

from typing import NamedTuple

import numpy as np


class Inputs(NamedTuple):
    """One batch of encoded answers.

    numeric: float32[batch, in_size] (ordinal codes, multi-select 0/1, scaled);
    cats: int32[batch, categories] (vocabulary index, 0 = unseen or rare);
    tokens: int32[batch, max_tokens] (n-gram index, 0 = padding or unseen);
    weights: float32[batch, max_tokens] (each n-gram's inverse document frequency, 0 for padding).
    """

    numeric: np.ndarray
    cats: np.ndarray
    tokens: np.ndarray
    weights: np.ndarray

    def take(self, rows) -> "Inputs":
        """The same rows of every block (an index array, a slice or a bool mask)."""
        return Inputs(*(a[rows] for a in self))


class ModelSpec(NamedTuple):
    """The network's shape: hashable, so it can be a static argument of a compiled function."""

    in_size: int
    units: tuple[int, ...]
    activations: tuple[str, ...]
    embeddings: tuple[tuple[int, int], ...] = ()  # per categorical answer: (vocabulary incl. index 0, width)
    text: tuple[int, int] | None = None  # (buckets incl. index 0, width)
    dropout: float = 0.0
    wide: bool = False  # add a linear model of every input (categories, n-grams) to the last layer
    # The last layer's classes are finer than the answer (salary bands): the answer is the two sums
    # [P(class < collapse), P(class >= collapse)]. Training fits the fine classes and that answer.
    collapse: int | None = None

    @property
    def out_size(self) -> int:
        """The last layer's width."""
        return self.units[-1]

    @property
    def answers(self) -> int:
        """The outputs' width: the last layer's, or 2 where its classes are collapsed."""
        return 2 if self.collapse is not None else self.units[-1]

    @property
    def first_width(self) -> int:
        return self.in_size + sum(w for _, w in self.embeddings) + (self.text[1] if self.text else 0)

    def to_json(self) -> dict:
        return {
            "in_size": self.in_size,
            "layers": [{"units": u, "activation": a} for u, a in zip(self.units, self.activations)],
            "embeddings": [list(e) for e in self.embeddings],
            "text": list(self.text) if self.text else None,
            "dropout": self.dropout,
            "wide": self.wide,
            "collapse": self.collapse,
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        layers = data["layers"]
        return cls(
            int(data["in_size"]),
            tuple(int(l["units"]) for l in layers),
            tuple(str(l["activation"]) for l in layers),
            tuple((int(v), int(w)) for v, w in data.get("embeddings", [])),
            tuple(int(v) for v in data["text"]) if data.get("text") else None,
            float(data.get("dropout", 0.0)),
            bool(data.get("wide", False)),
            None if data.get("collapse") is None else int(data["collapse"]),
        )


Params = dict  # {"dense": [{"kernel": f32[in, out], "bias": f32[out]}], "embed": [f32[vocab, width]], "text": f32[buckets, width]}


def init(rng: np.random.Generator, spec: ModelSpec) -> Params:
    """Keras's defaults: glorot_uniform kernels, U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), zero biases;
    embeddings U(-0.05, 0.05) like Keras's Embedding.

    Drawn with numpy: the seed's generator is the run's explicit key, and it costs no compile.
    """
    sizes = (spec.first_width, *spec.units)
    dense = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
        dense.append({"kernel": kernel, "bias": np.zeros((fan_out,), np.float32)})
    params: Params = {"dense": dense}
    if spec.embeddings:
        params["embed"] = [rng.uniform(-0.05, 0.05, shape).astype(np.float32) for shape in spec.embeddings]
    if spec.text:
        params["text"] = rng.uniform(-0.05, 0.05, spec.text).astype(np.float32)
    if spec.wide:  # starts at zero: the network begins as the deep part alone
        wide = {"numeric": np.zeros((spec.in_size, spec.out_size), np.float32)}
        if spec.embeddings:
            wide["embed"] = [np.zeros((v, spec.out_size), np.float32) for v, _ in spec.embeddings]
        if spec.text:
            wide["text"] = np.zeros((spec.text[0], spec.out_size), np.float32)
        params["wide"] = wide
    return params


def shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every weight's flat name and shape, as `init` makes them: counted, not allocated, so that a
    spec read from a file is checked against its weights before anything of its size exists."""
    sizes = (spec.first_width, *spec.units)
    named: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        named |= {f"dense.{i}.kernel": (fan_in, fan_out), f"dense.{i}.bias": (fan_out,)}
    named |= {f"embed.{i}": tuple(shape) for i, shape in enumerate(spec.embeddings)}
    if spec.text:
        named["text"] = tuple(spec.text)
    if spec.wide:
        named["wide.numeric"] = (spec.in_size, spec.out_size)
        named |= {f"wide.embed.{i}": (v, spec.out_size) for i, (v, _) in enumerate(spec.embeddings)}
        if spec.text:
            named["wide.text"] = (spec.text[0], spec.out_size)
    return named


def flatten(params: Params) -> dict[str, np.ndarray]:
    """{"dense.0.kernel": ..., "embed.1": ..., "text": ...}: names for saving."""
    flat: dict[str, np.ndarray] = {}

    def walk(prefix: str, node) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else None
        if items is None:
            flat[prefix] = np.asarray(node)
            return
        for key, child in items:
            walk(f"{prefix}.{key}" if prefix else str(key), child)

    walk("", params)
    return flat


def unflatten(spec: ModelSpec, flat: dict[str, np.ndarray]) -> Params:
    """The nested params from flat names, "dense.0.kernel" -> params["dense"][0]["kernel"], without
    drawing a skeleton of the weights first."""
    tree: dict = {}
    for name in shapes(spec):
        *parents, leaf = name.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = flat[name]
    return _listed(tree)


def _listed(node: dict | np.ndarray) -> dict | list | np.ndarray:
    """{"0": a, "1": b} -> [a, b] at every level: the dense layers and the embeddings are lists."""
    if not isinstance(node, dict):
        return node
    items = {key: _listed(value) for key, value in node.items()}
    return [items[str(i)] for i in range(len(items))] if all(k.isdigit() for k in items) else items
