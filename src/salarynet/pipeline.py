"""data -> features -> train -> metrics -> artifacts: the tutorial's steps, end to end."""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from . import artifacts, features, metrics, model, plots, train
from .data import Survey, salary_rows
from .errors import DataError
from .losses import LOSSES
from .recipe import Recipe


@dataclass
class Selection:
    """The rows a recipe can use: coded answers float64[kept, features], labels int32[kept]."""

    codes: np.ndarray
    labels: np.ndarray
    rows: dict[str, Any]  # read, kept, excluded {reason: count}


@dataclass
class Prepared:
    x_train: np.ndarray  # float32[train, features], scaled
    y_train: np.ndarray  # int32[train]
    x_test: np.ndarray
    y_test: np.ndarray
    state: features.FeatureState
    rows: dict[str, Any]


def select_rows(survey: Survey, recipe: Recipe) -> Selection:
    """Keep the rows with a usable salary and encodable answers; count every other row by its first reason."""
    salary, reason = salary_rows(survey, recipe.data.currency)
    columns, codes = features.recipe_codes(recipe.features)
    coded, answer_reason = features.encode_answers(survey.frame, columns, codes, survey.path)
    reason = np.where(reason.to_numpy() == "", answer_reason, reason.to_numpy())
    keep = reason == ""
    excluded = Counter(reason[~keep].tolist())
    rows = {"read": int(len(keep)), "kept": int(keep.sum()), "excluded": dict(excluded.most_common())}
    return Selection(coded[keep], features.label(salary.to_numpy()[keep], recipe.features.threshold), rows)


def split_indices(labels: np.ndarray, train_fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified on the label (the seed's sample.split); both parts keep the file's order, as R's subset() does."""
    if len(labels) < 10 or np.bincount(labels, minlength=2).min() < 2:
        raise DataError(
            f"{source}: {len(labels)} usable rows with {int(labels.sum())} above the threshold; "
            "a stratified split needs at least 10 rows and 2 of each class"
        )
    train_idx, test_idx = train_test_split(np.arange(len(labels)), train_size=train_fraction,
                                           stratify=labels, random_state=seed)
    return np.sort(train_idx), np.sort(test_idx)


def prepare(survey: Survey, recipe: Recipe, seed: int | None = None, sel: Selection | None = None) -> Prepared:
    """Select rows, split them with the seed (default: the recipe's), fit the scaler on the training part."""
    sel = sel or select_rows(survey, recipe)
    seed = recipe.seed if seed is None else seed
    train_idx, test_idx = split_indices(sel.labels, recipe.split.train_fraction, seed, survey.path)
    state = features.fit_from_recipe(sel.codes[train_idx], recipe.features)
    n_fit = train.validation_split(len(train_idx), recipe.fit.validation_split)
    if n_fit == 0:
        raise DataError(f"{survey.path}: fit.validation_split={recipe.fit.validation_split} leaves no rows to fit on")
    rows = sel.rows | {"train": len(train_idx), "fit": n_fit, "validation": len(train_idx) - n_fit,
                       "test": len(test_idx)}
    return Prepared(features.transform(state, sel.codes[train_idx]), sel.labels[train_idx],
                    features.transform(state, sel.codes[test_idx]), sel.labels[test_idx], state, rows)


def model_spec(recipe: Recipe, in_size: int) -> model.ModelSpec:
    layers = recipe.model.layers
    return model.ModelSpec(in_size, tuple(l.units for l in layers), tuple(l.activation for l in layers))


def fit_spec(recipe: Recipe, spec: model.ModelSpec) -> train.FitSpec:
    return train.FitSpec(spec, recipe.compile.loss, recipe.compile.optimizer, recipe.compile.learning_rate,
                         recipe.fit.batch_size, recipe.fit.shuffle)


def score(spec: model.ModelSpec, params: model.Params, loss: str, x: np.ndarray, labels: np.ndarray,
          majority_class: int) -> dict[str, Any]:
    """Test metrics: the recipe's loss and accuracy, as Keras's evaluate() reports them, and more."""
    outputs = np.asarray(model.apply(spec, params, jnp.asarray(x)))
    y = train.targets(labels, spec.out_size)
    result = metrics.classification_metrics(labels, outputs, spec.activations[-1], majority_class)
    return {"loss": float(jnp.mean(LOSSES[loss](jnp.asarray(y), jnp.asarray(outputs))))} | result


@dataclass
class Trained:
    recipe: Recipe
    prepared: Prepared
    spec: model.ModelSpec
    params: model.Params
    history: dict[str, np.ndarray]
    metrics: dict[str, Any]
    provenance: dict[str, Any]


def fit_data(prep: Prepared, out_size: int) -> train.FitData:
    """Keras's validation_split: the last rows of the training part, before any shuffling."""
    n_fit = prep.rows["fit"]
    y = train.targets(prep.y_train, out_size)
    return train.FitData(*(jnp.asarray(a) for a in (prep.x_train[:n_fit], y[:n_fit], prep.x_train[n_fit:], y[n_fit:])))


def summarise(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample sd and the values of every numeric test metric over seeds."""
    out = {}
    for key, first in values[0].items():
        if isinstance(first, float) and all(isinstance(v[key], float) for v in values):
            column = np.array([v[key] for v in values], dtype=float)
            out[key] = {"mean": float(column.mean()), "sd": float(column.std(ddof=1)) if len(column) > 1 else 0.0,
                        "values": column.tolist()}
    return out


def train_run(survey: Survey, provenance: dict[str, Any], recipe: Recipe,
              on_chunk: Callable[[int, dict[str, float]], None] | None = None, seeds: int = 1) -> Trained:
    """Train the recipe; with seeds > 1, models for seeds recipe.seed, +1, ... in one compiled call.

    The run's model is the recipe's seed; metrics["seeds"] holds every seed's test metrics and their spread.
    """
    sel = select_rows(survey, recipe)
    seed_list = [recipe.seed + i for i in range(seeds)]
    preps = [prepare(survey, recipe, seed, sel) for seed in seed_list]
    spec = model_spec(recipe, preps[0].x_train.shape[1])
    fitting = fit_spec(recipe, spec)
    started = time.perf_counter()
    if seeds == 1:
        params, history = train.fit(fitting, recipe.seed, fit_data(preps[0], spec.out_size), recipe.fit.epochs, on_chunk)
        all_params, all_history = [params], [history]
    else:
        datas = [fit_data(p, spec.out_size) for p in preps]
        stacked = train.FitData(*(jnp.stack(parts) for parts in zip(*datas)))
        params, history = train.fit_many(fitting, seed_list, stacked, recipe.fit.epochs, on_chunk)
        all_params = [jax.tree.map(lambda a, i=i: a[i], params) for i in range(seeds)]
        all_history = [{k: v[i] for k, v in history.items()} for i in range(seeds)]
    fit_seconds = time.perf_counter() - started
    majority = [int(np.mean(p.y_train) > 0.5) for p in preps]
    tests = [score(spec, p, recipe.compile.loss, prep.x_test, prep.y_test, m)
             for p, prep, m in zip(all_params, preps, majority)]
    result = {
        "test": tests[0],
        "baseline": {"majority_class": majority[0], "majority_accuracy": tests[0]["majority_accuracy"]},
        "final_epoch": {k: float(v[-1]) if np.isfinite(v[-1]) else None for k, v in all_history[0].items()},
        "rows": preps[0].rows,
        "fit_seconds": round(fit_seconds, 3),
        "seed": recipe.seed,
    }
    if seeds > 1:
        result["seeds"] = {"seeds": seed_list, "models_per_second": round(seeds / fit_seconds, 3),
                           "test": summarise(tests)}
    return Trained(recipe, preps[0], spec, all_params[0], all_history[0], result, provenance)


def save_run(trained: Trained, out) -> Any:
    weights = artifacts.weights_bytes(trained.params)
    history = pd.DataFrame({"epoch": np.arange(1, len(trained.history["loss"]) + 1)} | trained.history)
    files = {
        artifacts.WEIGHTS: weights,
        "model.json": artifacts.to_json_bytes(artifacts.model_json(trained.spec, trained.recipe.compile.loss, weights)),
        "preprocessing.json": artifacts.to_json_bytes(trained.prepared.state.to_json()),
        "recipe.json": artifacts.to_json_bytes(trained.recipe.model_dump(mode="json")),
        "data.json": artifacts.to_json_bytes(trained.provenance | {"rows": trained.prepared.rows}),
        "metrics.json": artifacts.to_json_bytes(trained.metrics),
        "history.csv": history.to_csv(index=False, float_format="%.6g").encode(),
        "curves.png": plots.curves_png(trained.history, f"salarynet: {trained.recipe.name} recipe",
                                       trained.metrics["baseline"]["majority_accuracy"]),
    }
    return artifacts.write_run(out, files)


def evaluate_run(run: artifacts.Run, survey: Survey, provenance: dict[str, Any]) -> dict[str, Any]:
    """Metrics of a saved run: on its own test rows when `survey` is its training file, else on every usable row."""
    sel = select_rows(survey, run.recipe)
    same = provenance.get("sha256") == run.data.get("sha256")
    if same:
        _, rows = split_indices(sel.labels, run.recipe.split.train_fraction, run.recipe.seed, survey.path)
    else:
        rows = np.arange(len(sel.labels))
    majority = int(run.metrics.get("baseline", {}).get("majority_class", 0))
    x = features.transform(run.features, sel.codes[rows])
    return {"rows_used": "the run's test rows" if same else "every usable row of a new file",
            "rows": sel.rows, "test": score(run.spec, run.params, run.loss, x, sel.labels[rows], majority)}


def _reason_text(reason: str, value: Any, codes: dict[str, float]) -> str:
    column, _, kind = reason.rpartition("_")
    if kind == "blank":
        return f"{column} is blank"
    return f"{column} {value!r} is not one of: {', '.join(codes)}"


def predict_frame(run: artifacts.Run, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """One output row per input row, in order: probability and prediction, or an empty probability and a reason."""
    state = run.features
    coded, reason = features.encode_answers(frame, state.columns, state.codes, source)
    ok = reason == ""
    prob = np.full(len(frame), np.nan)
    pred = pd.array([pd.NA] * len(frame), dtype="Int64")
    if ok.any():
        outputs = np.asarray(model.apply(run.spec, run.params, jnp.asarray(features.transform(state, coded[ok]))))
        prob[ok] = metrics.probability(outputs, run.spec.activations[-1])
        pred[ok] = metrics.predicted_class(outputs)
    by_column = dict(zip(state.columns, state.codes))
    text = [
        "" if r == "" else _reason_text(r, frame.at[i, r.rpartition("_")[0]], by_column[r.rpartition("_")[0]])
        for i, r in zip(frame.index, reason)
    ]
    return pd.DataFrame({"row": np.arange(1, len(frame) + 1), "probability": prob, "prediction": pred, "reason": text})
