"""salarynet from Python: load the survey, fit a recipe, predict on a DataFrame, save and load a run.

    survey = salarynet.load_survey()
    net = salarynet.SalaryNet("tutorial", fit__epochs=2).fit(survey)
    net.predict_proba(survey.head())

A frame goes through exactly the reading and tidying of the command line (any of the header schemas, or
the canonical names of the HTTP API), so the three give the same number for the same person.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from . import artifacts, features, pipeline, source
from .data import survey_of
from .errors import RecipeError
from .recipe import Recipe, apply_values, read_recipe_source, validate_recipe
from .tasks import task_of


def load_survey(path: str | Path | None = None) -> pd.DataFrame:
    """The survey as a DataFrame under canonical column names: the embedded snapshot, "live", or any file
    the command line reads."""
    return source.open_survey(path)[0].frame


class SalaryNet(BaseEstimator):
    """A recipe, fitted: scikit-learn's estimator protocol over a salarynet run.

    recipe: a shipped recipe's name, a .toml/.json path or a Recipe; overrides: dotted recipe keys with
    `__` for the dots (`fit__epochs=2`, `compile__learning_rate=0.01`). After fit: run_ (the fitted run),
    history_ (a DataFrame per epoch), rows_ (the row accounting), metrics_ (the held-out rows' metrics).
    """

    def __init__(self, recipe: str | Recipe = "tutorial", **overrides: Any):
        self.recipe = recipe
        self.overrides = overrides

    # -------------------------------------------------------- scikit-learn's parameter protocol
    # (its own reads __init__'s signature; the recipe's keys are open-ended, so they are listed here)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"recipe": self.recipe, **self.overrides}

    def set_params(self, **params: Any) -> "SalaryNet":
        if "recipe" in params:
            self.recipe = params.pop("recipe")
        self.overrides = {**self.overrides, **params}
        return self

    def __repr__(self) -> str:
        shown = [repr(self.recipe) if isinstance(self.recipe, str) else "Recipe(...)"]
        return f"SalaryNet({', '.join(shown + [f'{k}={v!r}' for k, v in self.overrides.items()])})"

    def resolved_recipe(self) -> Recipe:
        if isinstance(self.recipe, Recipe):
            raw, origin = self.recipe.model_dump(mode="json"), f"recipe {self.recipe.name}"
        else:
            raw, origin = read_recipe_source(str(self.recipe))
        values = {key.replace("__", "."): value for key, value in self.overrides.items()}
        return validate_recipe(apply_values(raw, values, flag="SalaryNet"), origin)

    # -------------------------------------------------------- fitting

    def fit(self, frame: pd.DataFrame, y: Any = None, on_chunk=None) -> "SalaryNet":
        """Train the recipe on the frame's rows (its split holds out test rows: metrics_). y is ignored: the
        label comes from the salary column, as the recipe defines it."""
        survey = survey_of(frame, "DataFrame")
        provenance = {"source": "DataFrame", "rows": len(survey.frame), "schema": survey.schema, "notes": survey.notes}
        trained = pipeline.train_run(survey, provenance, self.resolved_recipe(), on_chunk)
        self._trained = trained
        self.run_ = pipeline.as_run(trained)
        self.history_ = pd.DataFrame({"epoch": np.arange(1, len(trained.history["loss"]) + 1)} | trained.history)
        self.rows_ = trained.prepared.rows
        self.metrics_ = trained.metrics["test"]
        return self

    def _fitted(self) -> artifacts.Run:
        if not hasattr(self, "run_"):
            raise RecipeError("this SalaryNet is not fitted yet: call fit(frame) first, or salarynet.load(RUN)")
        return self.run_

    # -------------------------------------------------------- predicting

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The command line's predictions table: one row per input row (probability, prediction, band or
        salary/low/high, and the reason a row could not be encoded)."""
        return pipeline.predict_frame(self._fitted(), survey_of(frame, "DataFrame").frame, "DataFrame")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """float[rows, classes]: class probabilities (NaN rows for rows it cannot encode). A range model has no
        classes: use predict()."""
        run = self._fitted()
        if not task_of(run.features).classes:
            raise RecipeError("a salary-range model has no class probabilities; predict() gives the salary")
        survey = survey_of(frame, "DataFrame")
        x, reason = features.encode(run.features, survey.frame, "DataFrame")
        ok = reason == ""
        out = np.full((len(frame), run.spec.answers), np.nan)
        if ok.any():
            out[ok] = pipeline.predictor(run.spec, run.params, run.features)(pipeline.take(x, ok))
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels: the class (0/1, or the band's index), or for a range model the salary in dollars;
        NaN (as float) for rows it cannot encode."""
        table = self.predict_frame(frame)
        column = "salary" if "salary" in table else "prediction"
        return table[column].astype(float).to_numpy()

    # -------------------------------------------------------- scoring

    def evaluate(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Every metric the command line prints, on every usable row of the frame."""
        run = self._fitted()
        survey = survey_of(frame, "DataFrame")
        return pipeline.evaluate_run(run, survey, {})["test"]  # no sha256: never the run's own file

    def score(self, frame: pd.DataFrame, y: Any = None) -> float:
        """scikit-learn's score: accuracy (higher is better); for a range model, minus the median $ error."""
        test = self.evaluate(frame)
        return float(test["accuracy"]) if "accuracy" in test else -float(test["median_absolute_error"])

    # -------------------------------------------------------- saving

    def save(self, path: str | Path) -> Path:
        """The run folder `salarynet train` writes (never over a folder that is not a salarynet run)."""
        self._fitted()
        if not hasattr(self, "_trained"):
            raise RecipeError("a loaded run is saved already; copy its folder instead")
        return pipeline.save_run(self._trained, Path(path))


def load(path: str | Path) -> SalaryNet:
    """A saved run folder as a fitted SalaryNet."""
    run = artifacts.load_run(Path(path))
    net = SalaryNet(run.recipe)
    net.run_, net.rows_, net.metrics_ = run, run.data.get("rows", {}), run.metrics.get("test", {})
    history = Path(path) / "history.csv"
    net.history_ = pd.read_csv(history) if history.is_file() else pd.DataFrame()
    return net
