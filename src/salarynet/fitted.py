"""A fitted model, in one shape: what training builds, a run folder holds (artifacts.py saves and loads it) and
every face predicts with (Predictor and SalaryNet are facades over it).

Frozen: a step that adds a part (the calibration, the refit, the record) makes a new one with `with_`.
"""

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .conformal import ConformalState
from .features import FeatureState
from .linear import LinearState
from .nn.spec import ModelSpec, Params
from .recipe import Recipe
from .tasks import Task, task_of
from .years import COLUMN, Years


@dataclass(frozen=True, eq=False)  # its arrays have no one truth value: compare the parts
class FittedModel:
    """recipe: the resolved recipe; features: the learned preprocessing (features.FeatureState); spec and params:
    the network; blend: the [blend] logistic regression beside it (its weight in the average is its state's), or
    None; conformal: a range's calibration, or None. The members are the network and the blend, combined by the
    blend's weight; a later learner adds a member and a combiner here.

    data: where its rows came from and the rows it kept (data.json, with `learned_years`, the survey years it
    learned: years.py); record: what its training measured (metrics.json); heldout: with fit.refit, the outputs
    of the model before its refit on its test rows {"rows", "outputs"}; history: per epoch of the measured fit
    (None for a loaded run: its history.csv); path: the run folder it was loaded from."""

    recipe: Recipe
    features: FeatureState
    spec: ModelSpec
    params: Params
    blend: LinearState | None = None
    conformal: ConformalState | None = None
    data: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, np.ndarray] | None = None
    history: dict[str, np.ndarray] | None = None
    path: Path | None = None

    def with_(self, **changes: Any) -> "FittedModel":
        """The same model with these parts replaced (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)

    @functools.cached_property
    def task(self) -> Task:
        return task_of(self.features)

    @functools.cached_property
    def years(self) -> Years:
        """The survey years it learned and how it answers for a year (years.Years)."""
        column = next((c for c in self.features.columns if c.column == COLUMN), None)
        return Years.of_model(column.codes if column else None, self.data, self.task.classes)
