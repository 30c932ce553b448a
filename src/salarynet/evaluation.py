"""Scoring a recipe honestly: k-fold cross-validation on rows.folds (the only place folds are made),
each fold's model trained by training.train exactly as `salarynet train` trains the model it saves (its own test
and validation split, early stopping, the [blend], the calibration and, with fit.refit, the refit on every row
of the fold), then scored on the fold's held-out rows (Predictor.scored). `salarynet sweep` and benchmarks/cv.py
score here, so a trial's score is the score of the model `train --recipe best.toml` would save (`train --fold K/N`
reproduces one fold). `salarynet compare` makes the same folds (rows.folds) and trains the network on each the
same way (training.train), in a loop of its own that scores the peers on those folds beside it."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .predictor import Predictor
from .recipe import Recipe
from .rows import Selection, folds, subset
from .tasks import task_of
from .training import train


@dataclass
class Scored:
    """A trained model's outputs and metrics on held-out rows."""

    outputs: np.ndarray  # class probabilities float[rows, K], or log salary float[rows, 3]
    metrics: dict[str, Any]  # every metric of the task (the recipe's loss too)


def score(model: Predictor, sel: Selection, rows: np.ndarray, majority_class: int) -> Scored:
    """The model (blended and calibrated, as it answers) on the selection's rows at these indices."""
    return Scored(*model.scored(sel.frame.iloc[rows], sel.labels[rows], sel.salary[rows], majority_class))


@dataclass
class CrossValidation:
    """Per model (recipe by recipe, seed by seed, as training.train orders them): one run per fold
    ({fold, seed, epochs, seconds, **metrics}) and the out-of-fold outputs (NaN for rows of folds not run)."""

    runs: list[list[dict[str, Any]]]
    oof: list[np.ndarray]


def cross_validate(
    recipes: Recipe | list[Recipe],
    sel: Selection,
    k: int = 5,
    seeds: int = 1,
    only: list[int] | None = None,
    on_fold: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> CrossValidation:
    """Train every (recipe, seed) on each fold's training rows (training.train, in one call a fold) and score it
    on the fold's test rows. recipes: differ at most in compile.learning_rate; only: 1-based folds to run."""
    recipes = recipes if isinstance(recipes, list) else [recipes]
    task = task_of(recipes[0].features)
    members = len(recipes) * seeds
    runs: list[list[dict[str, Any]]] = [[] for _ in range(members)]
    oof = [np.full((len(sel.labels), task.output_width()), np.nan) for _ in range(members)]
    for fold, (train_idx, test_idx) in enumerate(folds(sel, recipes[0], k), 1):
        if only is not None and fold not in only:
            continue
        started = time.perf_counter()
        trained = train(recipes, subset(sel, train_idx), "fold", seeds=seeds)
        seconds = (time.perf_counter() - started) / members
        majority = task.majority(sel.labels[train_idx])
        for i, t in enumerate(trained):
            scored = score(Predictor(t), sel, test_idx, majority)
            oof[i][test_idx] = scored.outputs
            runs[i].append(
                {
                    "fold": fold,
                    "seed": t.record["seed"],
                    "epochs": t.record["kept_epoch"] or t.record["epochs_run"],
                    "seconds": round(seconds, 2),
                    **scored.metrics,
                }
            )
        if on_fold:
            on_fold(fold, [r[-1] for r in runs])
    return CrossValidation(runs, oof)
