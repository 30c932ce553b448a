"""One path from a recipe and its rows to fitted models: the split, the preprocessing, the network (one model, or
many in one compiled call), the [blend], the [conformal] calibration, the test metrics and the refit.

SalaryNet.fit trains here, and so does evaluation.cross_validate (and through it compare, sweep and the
benchmarks): a sweep's trial, a comparison's fold and `salarynet train` build the same model from the same rows.
Arrays and frames in, fitted models out; nothing is printed or written.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from . import conformal, features, linear
from .errors import DataError, RecipeError
from .fitted import FittedModel
from .fitting import Prepared, fit_data, fit_spec, model_spec, prepare
from .nn import train as nn_train
from .nn.metrics import mean_sd
from .nn.spec import ModelSpec, Params
from .predictor import Predictor
from .recipe import Recipe
from .rows import Selection, calibration_rows, split_rows

Chunk = Callable[
    [int, dict[str, float]], None
]  # (epochs done, latest epoch's metrics): progress between compiled chunks


@dataclass
class _Split:
    """One model's rows: the prepared split (preprocessing fitted on its training part) and its calibration rows."""

    train: np.ndarray
    test: np.ndarray
    calibration: np.ndarray | None
    prep: Prepared
    linear: "linear.LinearState | None" = field(default=None)


def train(
    recipes: Recipe | list[Recipe],
    sel: Selection,
    source: str,
    *,
    seeds: int = 1,
    on_chunk: Chunk | None = None,
    on_refit: Callable[[int], Chunk] | None = None,
) -> list[FittedModel]:
    """Fit one model per (recipe, seed), recipe by recipe: `recipes` differ at most in compile.learning_rate,
    and each is fitted with its seed, +1, ... (`seeds` of them).

    Each model is what a fit of that recipe and seed alone gives: its own early-stopping epoch, history and
    weights, its [blend] fitted on its training rows, its [conformal] correction from its calibration rows, its
    test metrics (blended and calibrated), and with fit.refit its refit on every row for its own kept epoch.
    The first model trains alone (train.fit), the others in one vmapped call beside it: an internal speed-up
    that changes no model. on_chunk and on_refit report the first model's progress.

    Seeds vary the split too, unless the recipe learns vocabularies (their sizes, and so the network's shapes,
    would differ between splits): then every seed uses the recipe seed's split and varies the weights, the
    shuffles and the dropout.
    """
    with features.hashing_memo():
        return _train(recipes if isinstance(recipes, list) else [recipes], sel, source, seeds, on_chunk, on_refit)


def _train(
    recipes: list[Recipe],
    sel: Selection,
    source: str,
    seeds: int,
    on_chunk: Chunk | None,
    on_refit: Callable[[int], Chunk] | None,
) -> list[FittedModel]:
    _check_batchable(recipes)
    first = recipes[0]
    members = [(r, r.seed + s) for r in recipes for s in range(seeds)]
    splits = _splits(sel, first, source, [seed for _, seed in members])
    spec, params, histories, seconds = _networks(
        first, [s.prep for s in splits], members, [first.fit.epochs] * len(members), on_chunk
    )
    out = []
    for (recipe, seed), split, p, history in zip(members, splits, params, histories):
        if split.linear is None:  # one [blend] per split: the seeds of a learned recipe share theirs
            split.linear = _fit_linear(recipe, sel.frame.iloc[split.train], sel.labels[split.train])
            for other in splits:
                if other.prep is split.prep:
                    other.linear = split.linear
        model = FittedModel(recipe, split.prep.state, spec, p, split.linear)
        if split.calibration is not None:
            model = model.with_(conformal=_calibrate(model, sel, split.calibration))
        out.append(_measured(model, split, sel, history, seconds, seed))
    if first.fit.refit:
        out = _refit(out, splits, members, sel, source, on_refit)
    if seeds > 1:
        spread = summarise([t.record["test"] for t in out[:seeds]])
        out[0].record["seeds"] = {
            "seeds": [seed for _, seed in members[:seeds]],
            "models_per_second": round(len(members) / seconds, 3),
            "test": spread,
        }
    return out


def _check_batchable(recipes: list[Recipe]) -> None:
    """Recipes trained in one call may differ only in their learning rate (a value in the compiled fit)."""

    def rest(r: Recipe) -> dict[str, Any]:
        raw = r.model_dump(mode="json")
        raw["compile"].pop("learning_rate", None)
        return raw

    base = rest(recipes[0])
    if any(rest(r) != base for r in recipes[1:]):
        raise ValueError("recipes trained together may differ only in compile.learning_rate")


def _splits(sel: Selection, recipe: Recipe, source: str, seeds: list[int]) -> list[_Split]:
    """Each model's split (see train), prepared once per distinct split."""

    def one(seed: int | None) -> _Split:
        train_idx, test_idx = split_rows(sel, recipe, source, seed)
        calibration = None
        if recipe.conformal:  # set aside before anything is fitted: exchangeable with the test rows
            train_idx, calibration = calibration_rows(sel, recipe, train_idx, source)
        prep = prepare(sel, recipe, source, split=(train_idx, test_idx))
        if calibration is not None:
            prep.rows["calibration"] = len(calibration)
        return _Split(train_idx, test_idx, calibration, prep)

    base = one(None)
    state = base.prep.state
    learned = state.categories or state.text or any(c.encoding == "multi" for c in state.columns)
    by_seed = {recipe.seed: base}
    for seed in seeds:
        if seed not in by_seed:
            by_seed[seed] = base if learned else one(seed)
    return [by_seed[seed] for seed in seeds]


def _networks(
    recipe: Recipe, preps: list[Prepared], members: list[tuple[Recipe, int]], epochs: list[int], on_chunk: Chunk | None
) -> tuple[ModelSpec, list[Params], list[dict[str, np.ndarray]], float]:
    """The networks: the first member alone (train.fit), the rest in one vmapped call (train.fit_many) beside it
    -> (spec, params per member, history per member, seconds)."""
    spec = model_spec(recipe, preps[0].state)
    fitting = fit_spec(recipe, spec)
    datas = [fit_data(p, spec, recipe) for p in preps]
    started = time.perf_counter()

    stop = threading.Event()  # set when the first fit is interrupted (Ctrl-C): the others stop at their next chunk

    def stopped(done: int, latest: dict[str, float]) -> None:
        if stop.is_set():
            raise KeyboardInterrupt

    def rest() -> tuple[list[Params], list[dict[str, np.ndarray]]]:
        if len(members) == 1:
            return [], []
        stacked = jax.tree.map(lambda *parts: np.stack(parts), *datas[1:])
        rates = [nn_train.resolved_rate(r.compile.optimizer, r.compile.learning_rate) for r, _ in members[1:]]
        params, histories = nn_train.fit_many(
            fitting, [s for _, s in members[1:]], stacked, epochs[1:], stopped, learning_rates=rates
        )
        return [jax.tree.map(lambda a, i=i: a[i], params) for i in range(len(members) - 1)], histories

    with ThreadPoolExecutor(1) as pool:  # the vmapped models run beside the first (JAX releases the GIL)
        others = pool.submit(rest)
        try:
            params, history = nn_train.fit(fitting, members[0][1], datas[0], epochs[0], on_chunk)
            more_params, more_histories = others.result()  # a wait Ctrl-C interrupts
        except BaseException:
            stop.set()
            raise
    all_params, all_histories = [params, *more_params], [history, *more_histories]
    for (member, _), history in zip(members, all_histories):
        if not np.isfinite(history["loss"]).all():
            epoch = int(np.argmin(np.isfinite(history["loss"]))) + 1
            raise RecipeError(
                f"recipe {member.name}: training diverged at epoch {epoch} (the loss is not a number); "
                f"lower compile.learning_rate (now {member.compile.learning_rate or 'the default'})"
            )
    return spec, all_params, all_histories, time.perf_counter() - started


def _fit_linear(recipe: Recipe, frame, labels: np.ndarray) -> "linear.LinearState | None":
    """The recipe's [blend] logistic regression on these rows, or None."""
    blend, section = recipe.blend, recipe.features
    if blend is None:
        return None
    return linear.fit(
        frame,
        labels,
        [c.column for c in section.columns],
        list(section.text.columns) if section.text else [],
        blend.linear,
        blend.c,
        blend.min_count,
    )


def _calibrate(model: FittedModel, sel: Selection, rows: np.ndarray) -> "conformal.ConformalState":
    """The [conformal] corrections of this model's ranges, from calibration rows it never fitted on."""
    section, frame, predictor = model.recipe.conformal, sel.frame.iloc[rows], Predictor(model)
    x, _ = predictor.encode(frame)
    low, high = model.recipe.features.quantiles
    target = model.task.targets(sel.labels[rows], model.spec.answers)[:, 0]
    try:
        return conformal.calibrate(
            predictor.raw(x), target, frame, high - low, model.features.spread, section.by, section.min_rows
        )
    except ValueError as e:
        raise DataError(f"conformal.fraction={section.fraction}: {e}; raise it or use more rows") from None


def _measured(
    model: FittedModel, split: _Split, sel: Selection, history: dict[str, np.ndarray], seconds: float, seed: int
) -> FittedModel:
    """The model with its test metrics (blended and calibrated, as it answers) in its record, and its history."""
    recipe, prep, task = model.recipe, split.prep, model.task  # the model's own task: its split's label scale
    predictor = Predictor(model)
    majority = task.majority(prep.y_train)
    outputs, test = predictor.scored(sel.frame.iloc[split.test], prep.y_test, prep.salary_test, majority, prep.x_test)
    record = {
        "task": task.name,
        "test": test,
        "baseline": {"majority_class": majority, "majority_accuracy": test.get("majority_accuracy")},
        "final_epoch": {k: float(v[-1]) if np.isfinite(v[-1]) else None for k, v in history.items()},
        "epochs_run": int(len(history["loss"])),
        # early stopping keeps the best epoch's weights (Keras's restore_best_weights)
        "kept_epoch": nn_train.kept_epoch(history) if recipe.fit.early_stopping else None,
        "rows": prep.rows,
        "fit_seconds": round(seconds, 3),
        "seed": seed,
    }
    if model.conformal is not None:
        plain = predictor.metrics_of(predictor.raw(prep.x_test), prep.y_test, prep.salary_test, majority)
        record["conformal"] = model.conformal.to_json() | {
            "test_before_calibration": {k: plain[k] for k in ("coverage", "median_range_width")}
        }
    heldout = None
    if recipe.fit.refit:
        heldout = {"rows": split.test.astype(np.int32), "outputs": outputs}
    return model.with_(record=record, history=history, heldout=heldout)


def _refit(
    trained: list[FittedModel],
    splits: list[_Split],
    members: list[tuple[Recipe, int]],
    sel: Selection,
    source: str,
    on_refit: Callable[[int], Chunk] | None,
) -> list[FittedModel]:
    """Fit each model again on every selected row (but a [conformal] recipe's calibration rows, on which the
    refitted model is calibrated again), for the epochs its measured fit ran (to its kept epoch with early
    stopping), with no validation rows; the preprocessing and the [blend] are fitted again on those rows too."""
    recipe = members[0][0]
    epochs = [t.record["kept_epoch"] or t.record["epochs_run"] for t in trained]
    again = [
        r.model_copy(
            update={"fit": r.fit.model_copy(update={"epochs": e, "early_stopping": None, "validation_split": 0.0})}
        )
        for (r, _), e in zip(members, epochs)
    ]
    every = np.arange(len(sel.labels))
    preps: dict[bytes, tuple[np.ndarray, Prepared, Any]] = {}
    for split in splits:  # one refit preparation per distinct set of calibration rows
        key = b"" if split.calibration is None else split.calibration.tobytes()
        if key not in preps:
            rows = every if split.calibration is None else np.setdiff1d(every, split.calibration)
            preps[key] = (
                rows,
                prepare(sel, again[0], source, split=(rows, np.arange(0))),
                _fit_linear(recipe, sel.frame.iloc[rows], sel.labels[rows]),
            )
    refit_preps = [preps[b"" if s.calibration is None else s.calibration.tobytes()] for s in splits]
    progress = on_refit(epochs[0]) if on_refit else None
    spec, params, _, seconds = _networks(
        again[0], [p for _, p, _ in refit_preps], list(zip(again, (s for _, s in members))), epochs, progress
    )
    refitted = []
    for t, split, (rows, prep, blend), p, e in zip(trained, splits, refit_preps, params, epochs):
        model = FittedModel(t.recipe, prep.state, spec, p, blend)
        record = t.record | {
            "refit": {
                "rows": len(rows),
                "epochs": e,
                "fit_seconds": round(seconds, 3),
                "test_metrics_from": "the model fitted before the refit, on the test rows it never saw",
            }
        }
        if split.calibration is not None:
            model = model.with_(conformal=_calibrate(model, sel, split.calibration))
            record["refit"]["calibration_rows"] = len(split.calibration)
            record["conformal_refit"] = model.conformal.to_json()
        refitted.append(model.with_(record=record, history=t.history, heldout=t.heldout))
    return refitted


def summarise(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample sd and the values of every numeric test metric over models."""
    return {
        key: mean_sd([v[key] for v in values]) | {"values": [float(v[key]) for v in values]}
        for key, first in values[0].items()
        if isinstance(first, float) and all(isinstance(v[key], float) for v in values)
    }
