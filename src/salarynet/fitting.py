"""From selected rows to the compiled fit's inputs: fit the preprocessing on the training rows, encode both parts,
and the network's and the fit's specs (training.py runs the fit)."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import features
from .errors import DataError
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
    latest: np.ndarray | None = None  # bool[train]: a training row of the latest survey year among them


def prepare(
    sel: Selection,
    recipe: Recipe,
    source: str,
    seed: int | None = None,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> Prepared:
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
    rows = sel.rows | {
        "train": len(train_idx),
        "fit": n_fit,
        "validation": len(train_idx) - n_fit,
        "test": len(test_idx),
    }
    bands = recipe.features.label_bands
    y_fit = None if bands is None else np.searchsorted(bands, sel.salary[train_idx], side="left").astype(np.int32)
    latest = None
    if "survey_year" in sel.frame.columns and len(train_idx):
        years = sel.frame["survey_year"].to_numpy()[train_idx].astype(str)
        if len(set(years)) > 1:  # one year alone: every row is the latest, and no row counts more
            latest = years == max(years, key=lambda y: (y.isdigit(), y))
    return Prepared(
        x_all.take(train_idx),
        sel.labels[train_idx],
        x_all.take(test_idx),
        sel.labels[test_idx],
        sel.salary[test_idx],
        state,
        rows,
        y_fit,
        latest,
    )


def model_spec(recipe: Recipe, state: features.FeatureState) -> model.ModelSpec:
    layers = recipe.model.layers
    by_name = {c.column: c for c in recipe.features.columns}
    embeddings = tuple(
        (len(c.codes) + 1, features.embedding_width(len(c.codes) + 1, by_name[c.column].dim)) for c in state.categories
    )
    text = (state.text.vocabulary, recipe.features.text.dim) if state.text and recipe.features.text else None
    in_size = int(sum(c.width() for c in state.columns))
    bands = recipe.features.label_bands
    collapse = None if bands is None else int(np.searchsorted(bands, recipe.features.threshold, side="left")) + 1
    return model.ModelSpec(
        in_size,
        tuple(l.units for l in layers),
        tuple(l.activation for l in layers),
        embeddings,
        text,
        recipe.model.dropout,
        recipe.model.wide,
        collapse,
    )


def fit_spec(recipe: Recipe, spec: model.ModelSpec) -> train.FitSpec:
    return train.FitSpec(
        spec,
        recipe.compile.loss,
        recipe.compile.optimizer,
        recipe.compile.learning_rate,
        recipe.fit.batch_size,
        recipe.fit.shuffle,
        recipe.model.l2,
        recipe.fit.early_stopping,
        tuple(recipe.features.quantiles),
        recipe.fit.average,
    )


def fit_data(prep: Prepared, spec: model.ModelSpec, recipe: Recipe) -> train.FitData:
    """Keras's validation_split: the last rows of the training part, before any shuffling."""
    task = task_of(prep.state)
    n_fit = prep.rows["fit"]
    y = task.targets(prep.y_train, spec.out_size) if prep.y_fit is None else metrics.one_hot(prep.y_fit, spec.out_size)
    w = task.weights(prep.y_train[:n_fit], recipe.fit.class_weight)
    if recipe.fit.latest_weight != 1 and prep.latest is not None:
        w = np.where(prep.latest[:n_fit], w * recipe.fit.latest_weight, w).astype(np.float32)
    x = prep.x_train
    if not (prep.state.categories or prep.state.text):  # numbers only (the tutorial): a plain array is a leaner loop
        return train.FitData(x.numeric[:n_fit], y[:n_fit], w, x.numeric[n_fit:], y[n_fit:])
    return train.FitData(x.take(slice(0, n_fit)), y[:n_fit], w, x.take(slice(n_fit, None)), y[n_fit:])
