"""From selected rows to trained weights: fit the preprocessing on the training rows, encode, and run the
compiled fit (one model, or many in one call: seeds, learning rates). Arrays in, parameters out."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from . import features
from .errors import DataError, RecipeError
from .nn import metrics, model, train
from .recipe import Recipe
from .rows import Selection, split_rows
from .tasks import task_of


@dataclass
class Prepared:
    """A split's encoded rows, and the preprocessing fitted on its training part."""

    x_train: model.Inputs
    y_train: np.ndarray
    x_test: model.Inputs
    y_test: np.ndarray
    salary_test: np.ndarray
    state: features.FeatureState
    rows: dict[str, Any]
    y_fit: np.ndarray | None = None  # features.label_bands: the training rows' fine band, what the network fits


def prepare(sel: Selection, recipe: Recipe, source: str, seed: int | None = None,
            split: tuple[np.ndarray, np.ndarray] | None = None) -> Prepared:
    """Split the rows with the seed (default: the recipe's) unless given a split, fit the features on the
    training part, encode both parts."""
    train_idx, test_idx = split or split_rows(sel, recipe, source, seed)
    state = features.fit(recipe.features, sel.frame.iloc[train_idx], sel.labels[train_idx])
    x_all, _ = features.encode(state, sel.frame, source)
    n_fit = train.fit_rows(len(train_idx), recipe.fit.validation_split)
    if n_fit == 0:
        raise DataError(f"{source}: fit.validation_split={recipe.fit.validation_split} leaves no rows to fit on")
    if recipe.fit.early_stopping and n_fit == len(train_idx):
        raise DataError(f"{source}: fit.early_stopping needs validation rows; set fit.validation_split > 0")
    rows = sel.rows | {"train": len(train_idx), "fit": n_fit, "validation": len(train_idx) - n_fit,
                       "test": len(test_idx)}
    bands = recipe.features.label_bands
    y_fit = None if bands is None else np.searchsorted(bands, sel.salary[train_idx], side="left").astype(np.int32)
    return Prepared(x_all.take(train_idx), sel.labels[train_idx], x_all.take(test_idx), sel.labels[test_idx],
                    sel.salary[test_idx], state, rows, y_fit)


def model_spec(recipe: Recipe, state: features.FeatureState) -> model.ModelSpec:
    layers = recipe.model.layers
    by_name = {c.column: c for c in recipe.features.columns}
    embeddings = tuple((len(c.codes) + 1, features.embedding_width(len(c.codes) + 1, by_name[c.column].dim))
                       for c in state.categories)
    text = (state.text.vocabulary, recipe.features.text.dim) if state.text and recipe.features.text else None
    in_size = int(sum(c.width() for c in state.columns))
    bands = recipe.features.label_bands
    collapse = None if bands is None else int(np.searchsorted(bands, recipe.features.threshold, side="left")) + 1
    return model.ModelSpec(in_size, tuple(l.units for l in layers), tuple(l.activation for l in layers),
                           embeddings, text, recipe.model.dropout, recipe.model.wide, collapse)


def fit_spec(recipe: Recipe, spec: model.ModelSpec) -> train.FitSpec:
    return train.FitSpec(spec, recipe.compile.loss, recipe.compile.optimizer, recipe.compile.learning_rate,
                         recipe.fit.batch_size, recipe.fit.shuffle, recipe.model.l2, recipe.fit.early_stopping,
                         tuple(recipe.features.quantiles), recipe.fit.average)


def fit_data(prep: Prepared, spec: model.ModelSpec, recipe: Recipe) -> train.FitData:
    """Keras's validation_split: the last rows of the training part, before any shuffling."""
    task = task_of(prep.state)
    n_fit = prep.rows["fit"]
    y = task.targets(prep.y_train, spec.out_size) if prep.y_fit is None else metrics.one_hot(prep.y_fit, spec.out_size)
    w = task.weights(prep.y_train[:n_fit], recipe.fit.class_weight)
    x = prep.x_train
    if not (prep.state.categories or prep.state.text):  # numbers only (the tutorial): a plain array is a leaner loop
        return train.FitData(x.numeric[:n_fit], y[:n_fit], w, x.numeric[n_fit:], y[n_fit:])
    return train.FitData(x.take(slice(0, n_fit)), y[:n_fit], w, x.take(slice(n_fit, None)), y[n_fit:])


def train_prepared(recipe: Recipe, preps: list[Prepared], seeds: list[int],
                   on_chunk: Callable[[int, dict[str, float]], None] | None = None,
                   learning_rates: list[float] | None = None):
    """Fit one model per prepared split (with its seed, and its learning rate when given), in one
    compiled call -> (spec, params list, history list, seconds)."""
    spec = model_spec(recipe, preps[0].state)
    fitting = fit_spec(recipe, spec)
    started = time.perf_counter()
    if len(seeds) == 1 and not learning_rates:
        params, history = train.fit(fitting, seeds[0], fit_data(preps[0], spec, recipe), recipe.fit.epochs, on_chunk)
        all_params, all_history = [params], [history]
    else:
        datas = [fit_data(p, spec, recipe) for p in preps]
        stacked = jax.tree.map(lambda *parts: np.stack(parts), *datas)
        params, history = train.fit_many(fitting, seeds, stacked, recipe.fit.epochs, on_chunk,
                                         learning_rates=learning_rates)
        all_params = [jax.tree.map(lambda a, i=i: a[i], params) for i in range(len(seeds))]
        all_history = [{k: v[i] for k, v in history.items()} for i in range(len(seeds))]
    for history in all_history:
        if not np.isfinite(history["loss"]).all():
            epoch = int(np.argmin(np.isfinite(history["loss"]))) + 1
            raise RecipeError(f"recipe {recipe.name}: training diverged at epoch {epoch} (the loss is not a number); "
                              f"lower compile.learning_rate (now {recipe.compile.learning_rate or 'the default'})")
    return spec, all_params, all_history, time.perf_counter() - started
