"""data -> features -> train -> metrics -> artifacts: the tutorial's steps, end to end, for every task."""

import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from . import artifacts, features, metrics, model, plots, train
from .data import Survey, conform, rows_text, salary_rows
from .errors import DataError, RecipeError
from .recipe import Recipe
from .tasks import band_names


@dataclass
class Selection:
    """The rows a recipe can use: their answers, salaries (USD where converted) and labels."""

    frame: pd.DataFrame
    salary: np.ndarray  # float64[kept]
    labels: np.ndarray  # int32[kept] classes, or float32[kept] log salary
    rows: dict[str, Any]  # read, kept, excluded {reason: count}


@dataclass
class Prepared:
    x_train: model.Inputs
    y_train: np.ndarray
    x_test: model.Inputs
    y_test: np.ndarray
    salary_test: np.ndarray
    state: features.FeatureState
    rows: dict[str, Any]
    y_fit: np.ndarray | None = None  # features.label_bands: the training rows' fine band, what the network fits


def input_columns(recipe: Recipe) -> tuple[list[str], list[str]]:
    """(required, optional) survey columns: the salary and the answers a row is excluded without (the
    tutorial's ordinal answers) are required; every other answer a recipe reads is read as blank when absent."""
    required = ["annual_salary"] + [c.column for c in recipe.features.columns
                                    if c.encoding == "ordinal" and c.unlisted == "exclude"]
    optional = [c.column for c in recipe.features.columns if c.column not in required]
    return required, optional + list(recipe.features.text.columns if recipe.features.text else [])


def select_rows(survey: Survey, recipe: Recipe) -> Selection:
    """Keep the rows with a usable salary and encodable answers; count every other row by its first reason."""
    required, optional = input_columns(recipe)
    survey = conform(survey, required, optional, f"recipe {recipe.name} needs {', '.join(required)}")
    salary, reason = salary_rows(survey, recipe.data.currency, recipe.data.min_salary, recipe.data.max_salary)
    if recipe.features.task == "regression":  # the label is log salary: log(0) is no number
        reason[(reason == "") & (salary == 0)] = "salary_zero"
    _, answer_reason = features.ordinal_codes(survey.frame, recipe.features.columns, survey.path)
    reason = np.where(reason.to_numpy() == "", answer_reason, reason.to_numpy())
    keep = reason == ""
    rows = {"read": int(len(keep)), "kept": int(keep.sum()), "excluded": dict(Counter(reason[~keep].tolist()).most_common())}
    if not keep.any():
        raise DataError(f"{survey.path}: no usable rows for recipe {recipe.name}: {rows_text(rows)}"
                        f"{offending_answers(survey.frame, reason, recipe)}")
    kept_salary = salary.to_numpy()[keep]
    return Selection(survey.frame[keep].reset_index(drop=True), kept_salary,
                     features.label(kept_salary, recipe.features), rows)


def offending_answers(frame: pd.DataFrame, reason: np.ndarray, recipe: Recipe, most: int = 4) -> str:
    """The commonest answers behind each `<column>_unlisted` reason, beside the answers the recipe lists."""
    listed = {c.column: list(c.mapping()) for c in recipe.features.columns if c.encoding == "ordinal"}
    parts = []
    for kind, _ in Counter(reason.tolist()).most_common():
        column = kind.removesuffix("_unlisted")
        if kind.endswith("_unlisted") and column in listed:
            common = frame.loc[reason == kind, column].value_counts().head(most)
            shown = ", ".join(f"{v!r} ({n})" for v, n in common.items())
            parts.append(f"{column} answers {shown} are not among {', '.join(map(repr, listed[column]))}")
    return ("; " + "; ".join(parts)) if parts else ""


def strata(sel: Selection, task: str) -> np.ndarray:
    """What a split is stratified on: the class, or for regression the salary's decile."""
    if task != "regression":
        return sel.labels
    return np.searchsorted(np.quantile(sel.labels, np.linspace(0.1, 0.9, 9)), sel.labels)


def split_indices(labels: np.ndarray, train_fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (the seed's sample.split); both parts keep the file's order, as R's subset() does."""
    counts = np.bincount(labels, minlength=2)
    if len(labels) < 10 or counts.min() < 2:
        raise DataError(
            f"{source}: {len(labels)} usable rows, the rarest class has {int(counts.min())}; "
            "a stratified split needs at least 10 rows and 2 of each class"
        )
    try:
        train_idx, test_idx = train_test_split(np.arange(len(labels)), train_size=train_fraction,
                                               stratify=labels, random_state=seed)
    except ValueError:
        raise DataError(f"{source}: split.train_fraction={train_fraction} leaves too few rows on one side for "
                        f"{len(counts)} classes among {len(labels)} rows") from None
    return np.sort(train_idx), np.sort(test_idx)


def take(inputs: model.Inputs, rows) -> model.Inputs:
    return model.Inputs(*(a[rows] for a in inputs))


def prepare(survey: Survey, recipe: Recipe, seed: int | None = None, sel: Selection | None = None,
            split: tuple[np.ndarray, np.ndarray] | None = None) -> Prepared:
    """Select rows, split them with the seed (default: the recipe's) unless given a split, fit the
    features on the training part, encode both parts."""
    sel = sel or select_rows(survey, recipe)
    seed = recipe.seed if seed is None else seed
    train_idx, test_idx = split or split_indices(strata(sel, recipe.features.task), recipe.split.train_fraction,
                                                 seed, survey.path)
    state = features.fit(recipe.features, sel.frame.iloc[train_idx], sel.labels[train_idx])
    x_all, _ = features.encode(state, sel.frame, survey.path)
    n_fit = train.fit_rows(len(train_idx), recipe.fit.validation_split)
    if n_fit == 0:
        raise DataError(f"{survey.path}: fit.validation_split={recipe.fit.validation_split} leaves no rows to fit on")
    if recipe.fit.early_stopping and n_fit == len(train_idx):
        raise DataError(f"{survey.path}: fit.early_stopping needs validation rows; set fit.validation_split > 0")
    rows = sel.rows | {"train": len(train_idx), "fit": n_fit, "validation": len(train_idx) - n_fit,
                       "test": len(test_idx)}
    bands = recipe.features.label_bands
    y_fit = None if bands is None else np.searchsorted(bands, sel.salary[train_idx], side="left").astype(np.int32)
    return Prepared(take(x_all, train_idx), sel.labels[train_idx], take(x_all, test_idx), sel.labels[test_idx],
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


def targets(labels: np.ndarray, spec: model.ModelSpec, state: features.FeatureState) -> np.ndarray:
    """Labels -> float32[rows, outputs]: one-hot classes, one 0/1 column, or the scaled log salary."""
    if labels.dtype.kind == "f":
        return ((labels - state.shift) / state.spread).astype(np.float32)[:, None]
    return train.targets(labels, spec.answers)


def sample_weights(labels: np.ndarray, how: str) -> np.ndarray:
    if how == "none" or labels.dtype.kind == "f":
        return np.ones(len(labels), np.float32)
    counts = np.bincount(labels)
    return (len(labels) / (np.count_nonzero(counts) * counts[labels])).astype(np.float32)


def fit_data(prep: Prepared, spec: model.ModelSpec, recipe: Recipe) -> train.FitData:
    """Keras's validation_split: the last rows of the training part, before any shuffling."""
    n_fit = prep.rows["fit"]
    y = targets(prep.y_train, spec, prep.state) if prep.y_fit is None else train.targets(prep.y_fit, spec.out_size)
    w = sample_weights(prep.y_train[:n_fit], recipe.fit.class_weight)
    x = prep.x_train
    if not (prep.state.categories or prep.state.text):  # numbers only (the tutorial): a plain array is a leaner loop
        return train.FitData(x.numeric[:n_fit], y[:n_fit], w, x.numeric[n_fit:], y[n_fit:])
    return train.FitData(take(x, slice(0, n_fit)), y[:n_fit], w, take(x, slice(n_fit, None)), y[n_fit:])


def outputs_of(spec: model.ModelSpec, params: model.Params, x: model.Inputs) -> np.ndarray:
    return np.asarray(model.apply(spec, params, x))


def score(spec: model.ModelSpec, params: model.Params, recipe: Recipe, state: features.FeatureState,
          x: model.Inputs, labels: np.ndarray, majority_class: int, salary: np.ndarray | None = None) -> dict[str, Any]:
    """Test metrics for the recipe's task: the recipe's loss, and accuracy/AUC or dollars and coverage."""
    outputs = outputs_of(spec, params, x)
    loss = float(np.mean(train.loss_function(recipe.compile.loss, tuple(recipe.features.quantiles))(
        targets(labels, spec, state), outputs)))
    if recipe.features.task == "regression":
        return {"loss": loss} | metrics.regression_metrics(salary, state.unscale(outputs))
    return {"loss": loss} | metrics.classification_metrics(labels, outputs, spec.activations[-1], majority_class)


@dataclass
class Trained:
    recipe: Recipe
    prepared: Prepared
    spec: model.ModelSpec
    params: model.Params
    history: dict[str, np.ndarray]
    metrics: dict[str, Any]
    provenance: dict[str, Any]


def as_run(trained: Trained) -> artifacts.Run:
    """A freshly trained model in the shape a saved run is loaded in: it predicts without a save/load round trip."""
    return artifacts.Run(None, trained.spec, trained.params, trained.prepared.state, trained.recipe,
                         trained.recipe.compile.loss, trained.provenance | {"rows": trained.prepared.rows},
                         trained.metrics)


def summarise(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample sd and the values of every numeric test metric over seeds."""
    out = {}
    for key, first in values[0].items():
        if isinstance(first, float) and all(isinstance(v[key], float) for v in values):
            column = np.array([v[key] for v in values], dtype=float)
            out[key] = {"mean": float(column.mean()), "sd": float(column.std(ddof=1)) if len(column) > 1 else 0.0,
                        "values": column.tolist()}
    return out


def majority(labels: np.ndarray) -> int:
    return int(np.bincount(labels).argmax()) if labels.dtype.kind != "f" else 0


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


def train_run(survey: Survey, provenance: dict[str, Any], recipe: Recipe,
              on_chunk: Callable[[int, dict[str, float]], None] | None = None, seeds: int = 1) -> Trained:
    """Train the recipe; with seeds > 1, models for seeds recipe.seed, +1, ... in one compiled call.

    The run's model is the recipe's seed; metrics["seeds"] holds every seed's test metrics and their spread.
    """
    sel = select_rows(survey, recipe)
    seed_list = [recipe.seed + i for i in range(seeds)]
    first = prepare(survey, recipe, recipe.seed, sel)
    # Vocabularies learned on different splits differ in size, and one compiled call needs one shape:
    # such recipes keep the recipe seed's split, and the seeds vary the weights, shuffles and dropout.
    learned = first.state.categories or first.state.text or any(c.encoding == "multi" for c in first.state.columns)
    preps = [first] + [first if learned else prepare(survey, recipe, seed, sel) for seed in seed_list[1:]]
    spec, all_params, all_history, fit_seconds = train_prepared(recipe, preps, seed_list, on_chunk)
    majorities = [majority(p.y_train) for p in preps]
    tests = [score(spec, p, recipe, prep.state, prep.x_test, prep.y_test, m, prep.salary_test)
             for p, prep, m in zip(all_params, preps, majorities)]
    result = {
        "task": recipe.features.task,
        "test": tests[0],
        "baseline": {"majority_class": majorities[0], "majority_accuracy": tests[0].get("majority_accuracy")},
        "final_epoch": {k: float(v[-1]) if np.isfinite(v[-1]) else None for k, v in all_history[0].items()},
        "epochs_run": int(len(all_history[0]["loss"])),
        # early stopping keeps the best epoch's weights (Keras's restore_best_weights)
        "kept_epoch": int(np.argmin(all_history[0]["val_loss"])) + 1 if recipe.fit.early_stopping else None,
        "rows": preps[0].rows,
        "fit_seconds": round(fit_seconds, 3),
        "seed": recipe.seed,
    }
    if seeds > 1:
        result["seeds"] = {"seeds": seed_list, "models_per_second": round(seeds / fit_seconds, 3),
                           "test": summarise(tests)}
    return Trained(recipe, preps[0], spec, all_params[0], all_history[0], result, provenance)


def save_run(trained: Trained, out) -> Any:
    history = pd.DataFrame({"epoch": np.arange(1, len(trained.history["loss"]) + 1)} | trained.history)
    fine = trained.recipe.features.label_bands is not None  # the fit's loss and accuracy are over the label bands
    metric = "band_accuracy" if fine else train.metric_name(trained.recipe.compile.loss)
    files = {
        artifacts.WEIGHTS: artifacts.weights_bytes(trained.params),
        "preprocessing.json": artifacts.to_json_bytes(trained.prepared.state.to_json()),
        "recipe.json": artifacts.to_json_bytes(trained.recipe.model_dump(mode="json")),
        "data.json": artifacts.to_json_bytes(trained.provenance | {"rows": trained.prepared.rows}),
        "metrics.json": artifacts.to_json_bytes(trained.metrics),
        "history.csv": history.rename(columns={"accuracy": metric, "val_accuracy": f"val_{metric}"})
                              .to_csv(index=False, float_format="%.6g").encode(),
        "curves.png": plots.curves_png(trained.history, f"salarynet: {trained.recipe.name} recipe"
                                       + (" (fit on the label bands)" if fine else ""),
                                       None if fine else trained.metrics["baseline"]["majority_accuracy"],
                                       "accuracy over the label bands" if fine else metric,
                                       trained.metrics.get("kept_epoch")),
    }
    files["model.json"] = artifacts.to_json_bytes(artifacts.model_json(trained.spec, trained.recipe.compile.loss, files))
    return artifacts.write_run(out, files)


@dataclass
class Evaluation:
    """A run's evaluation rows: its own test rows when the survey is its training file, else every usable row."""

    frame: pd.DataFrame
    labels: np.ndarray
    salary: np.ndarray
    rows_used: str
    rows: dict[str, Any]


def evaluation_rows(run: artifacts.Run, survey: Survey, provenance: dict[str, Any]) -> Evaluation:
    sel = select_rows(survey, run.recipe)
    same = provenance.get("sha256") is not None and provenance.get("sha256") == run.data.get("sha256")
    if same:
        _, rows = split_indices(strata(sel, run.recipe.features.task), run.recipe.split.train_fraction,
                                run.recipe.seed, survey.path)
    else:
        rows = np.arange(len(sel.labels))
    return Evaluation(sel.frame.iloc[rows].reset_index(drop=True), sel.labels[rows], sel.salary[rows],
                      "the run's test rows" if same else "every usable row of a new file", sel.rows)


def predictor(spec: model.ModelSpec, params: model.Params, state: features.FeatureState
              ) -> Callable[[model.Inputs], np.ndarray]:
    """Inputs -> class probabilities, or log salary (estimate, low, high) in the label's own units;
    the network compiled once per batch shape (many calls on the same rows: importance, bootstrap)."""
    apply = jax.jit(functools.partial(model.apply, spec))

    def outputs(x: model.Inputs) -> np.ndarray:
        out = np.asarray(apply(params, x))
        if state.task == "regression":
            return state.unscale(out)
        return metrics.class_probabilities(out, spec.activations[-1])
    return outputs


def run_outputs(spec: model.ModelSpec, params: model.Params, state: features.FeatureState,
                rows: pd.DataFrame, source: str = "input") -> np.ndarray:
    """Rows -> class probabilities, or log salary (estimate, low, high) in the label's own units."""
    return predictor(spec, params, state)(features.encode(state, rows, source)[0])


def evaluate_run(run: artifacts.Run, survey: Survey, provenance: dict[str, Any]) -> dict[str, Any]:
    """Metrics of a saved run on its evaluation rows (see evaluation_rows)."""
    ev = evaluation_rows(run, survey, provenance)
    x, _ = features.encode(run.features, ev.frame, survey.path)
    test = score(run.spec, run.params, run.recipe, run.features, x, ev.labels,
                 int(run.metrics.get("baseline", {}).get("majority_class", 0)), ev.salary)
    return {"rows_used": ev.rows_used, "rows": ev.rows, "test": test}


def _reason_text(reason: str, value: Any, codes: dict[str, float]) -> str:
    column, _, kind = reason.rpartition("_")
    if kind == "blank":
        return f"{column} is blank"
    return f"{column} {value!r} is not one of: {', '.join(codes)}"


def predict_frame(run: artifacts.Run, frame: pd.DataFrame, source: str = "input",
                  outputs_fn: Callable[[model.Inputs], np.ndarray] | None = None) -> pd.DataFrame:
    """One output row per input row, in order: the prediction, or empty values and a reason.
    outputs_fn: inputs -> the network's outputs (default: the run's network, uncompiled)."""
    state = run.features
    x, reason = features.encode(state, frame, source)
    ok = reason == ""
    n = len(frame)
    outputs_fn = outputs_fn or (lambda inputs: outputs_of(run.spec, run.params, inputs))
    outputs = outputs_fn(take(x, ok)) if ok.any() else np.zeros((0, run.spec.answers))
    out: dict[str, Any] = {"row": np.arange(1, n + 1)}  # one DataFrame at the end: served batches are small
    if state.task == "regression":
        for j, name in enumerate(("salary", "low", "high")):
            out[name] = np.full(n, np.nan)
            out[name][ok] = np.round(np.exp(state.unscale(outputs[:, j])), -2)  # dollars, to the hundred
    else:
        prob = np.full(n, np.nan)
        pred = pd.array([pd.NA] * n, dtype="Int64")
        if ok.any():
            prob[ok] = metrics.probability(outputs, run.spec.activations[-1])
            pred[ok] = metrics.predicted_class(outputs)
        out["probability"], out["prediction"] = prob, pred
        if state.task == "bands":
            names = band_names(state.bands)
            out["band"] = [names[p] if p is not pd.NA else "" for p in pred]
    ordinal = {c.column: c.codes for c in state.columns if c.encoding == "ordinal"}
    out["reason"] = ["" if r == "" else _reason_text(r, frame.iloc[i][r.rpartition("_")[0]], ordinal[r.rpartition("_")[0]])
                     for i, r in enumerate(reason)]
    return pd.DataFrame(out)
