"""The fitted model: one object (scikit-learn's estimator protocol) that notebooks, the command line, the
server, sweeps, comparisons and reports all train, load, predict and score with.

    survey = salarynet.load_survey()
    net = salarynet.SalaryNet("tutorial", fit__epochs=2).fit(survey)
    net.predict_proba(survey.head())

A frame goes through exactly the reading and tidying of the command line (any of the header schemas, or
the canonical names of the HTTP API), so the three give the same number for the same person.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import artifacts, conformal, drift, features, linear
from .data.survey import Survey, survey_of
from .errors import DataError, RecipeError
from .nn.losses import loss_function
from .nn.spec import Inputs, ModelSpec, Params
from .nn.metrics import mean_sd
from .predictor import Predictor, reason_text
from .recipe import Recipe, apply_values, read_recipe_source, validate_recipe
from .rows import Selection, calibration_rows, select_rows, split_rows
from .tasks import Task

Chunk = Callable[[int, dict[str, float]], None]  # (epochs done, latest epoch's metrics): progress between compiled chunks
OWN_TEST_ROWS = "the run's test rows"
HELDOUT_ROWS = "the run's test rows, by the model before its refit on every row"
NEW_FILE_ROWS = "every usable row of a new file"


@dataclass
class Evaluation:
    """A model's evaluation rows: its own test rows when the survey is its training file, else every usable row."""

    frame: pd.DataFrame
    labels: np.ndarray
    salary: np.ndarray
    rows_used: str
    rows: dict[str, Any]


class SalaryNet(Predictor):
    """A recipe, and once fitted (or loaded) everything a prediction needs.

    recipe: a shipped recipe's name, a .toml/.json path or a Recipe; overrides: dotted recipe keys with `__`
    for the dots (`fit__epochs=2`, `compile__learning_rate=0.01`).

    Fitted: recipe_ (the resolved Recipe), features_ (the learned preprocessing), spec_ and params_ (the
    network), task_, history_ (a DataFrame per epoch), rows_ (the row accounting), metrics_ (the held-out
    rows' metrics), record_ (what metrics.json holds), data_ (where the rows came from), path_ (a loaded run's
    folder, else None).
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

    def __sklearn_tags__(self):
        """scikit-learn's tags (clone, cross_val_score read them): a plain estimator's. Not a BaseEstimator
        subclass, so that loading a model or training from the command line skips importing scikit-learn
        (1.3 s here); its protocol is get_params, set_params, fit, predict and score."""
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)

    def __repr__(self) -> str:
        shown = [repr(self.recipe) if isinstance(self.recipe, str) else f"Recipe({self.recipe.name!r})"]
        return f"SalaryNet({', '.join(shown + [f'{k}={v!r}' for k, v in self.overrides.items()])})"

    def resolved_recipe(self) -> Recipe:
        if isinstance(self.recipe, Recipe) and not self.overrides:
            return self.recipe
        if isinstance(self.recipe, Recipe):
            raw, origin = self.recipe.model_dump(mode="json"), f"recipe {self.recipe.name}"
        else:
            raw, origin = read_recipe_source(str(self.recipe))
        values = {key.replace("__", "."): value for key, value in self.overrides.items()}
        return validate_recipe(apply_values(raw, values, flag="SalaryNet"), origin)

    # -------------------------------------------------------- fitting

    def fit(self, frame: "pd.DataFrame | Survey | Selection", y: Any = None, *, on_chunk: Chunk | None = None,
            seeds: int = 1,
            provenance: dict[str, Any] | None = None,
            on_refit: Callable[[int], Chunk] | None = None) -> "SalaryNet":
        """Train the recipe on the frame's rows; its split holds out test rows (metrics_). y is ignored: the
        label comes from the salary column, as the recipe defines it. seeds > 1: models for the recipe's seed,
        +1, ... in one compiled call (record_["seeds"] holds their spread; the model is the recipe seed's).
        With fit.refit, the model is then fitted again on every kept row (on_refit(epochs) -> its progress).
        frame may be rows already selected (a Selection: a comparison's fold), trained on exactly as a file's."""
        from .fitting import prepare, train_prepared  # JAX: imported where a model trains, not where one predicts

        recipe = self.resolved_recipe()
        sel, source, provenance = _selection(frame, recipe, provenance)
        self.heldout_ = self.conformal_ = None  # an earlier fit's, if any
        seed_list = [recipe.seed + i for i in range(seeds)]
        split = split_rows(sel, recipe, source)
        calibration = None
        if recipe.conformal:  # set aside before anything is fitted: exchangeable with the test rows
            fit_rows, calibration = calibration_rows(sel, recipe, split[0], source)
            split = (fit_rows, split[1])
        first = prepare(sel, recipe, source, split=split)
        if calibration is not None:
            first.rows["calibration"] = len(calibration)
        # Vocabularies learned on different splits differ in size, and one compiled call needs one shape:
        # such recipes keep the recipe seed's split, and the seeds vary the weights, shuffles and dropout.
        learned = first.state.categories or first.state.text or any(c.encoding == "multi" for c in first.state.columns)
        preps = [first] + [first if learned else prepare(sel, recipe, source, seed) for seed in seed_list[1:]]
        spec, all_params, histories, seconds = train_prepared(recipe, preps, seed_list, on_chunk)
        self._fitted_from(recipe, first.state, spec, all_params[0], histories[0], provenance | {"rows": first.rows})
        # After the network, not beside it in a thread: on 2 cores the two slowed each other (the network's fit took
        # 40% longer) and the command took as long.
        self.linear_ = self._fit_linear(recipe, sel.frame.iloc[split[0]], sel.labels[split[0]])
        if calibration is not None:
            self.conformal_ = self._calibrate(sel, calibration)
        task = self.task_
        majorities = [task.majority(p.y_train) for p in preps]
        test_frames = [sel.frame.iloc[(split if prep is first else split_rows(sel, recipe, source, seed))[1]]
                       for prep, seed in zip(preps, seed_list)]
        nets = [self._with(recipe, prep.state, spec, params, linear=self.linear_) for params, prep in zip(all_params, preps)]
        nets[0].conformal_ = self.conformal_  # calibrated on the recipe seed's model only
        tests = [net.test_metrics(prep.x_test, prep.y_test, prep.salary_test, m, frame)
                 for net, prep, m, frame in zip(nets, preps, majorities, test_frames)]
        self.metrics_ = tests[0]
        self.record_ = _record(task, recipe, tests[0], majorities[0], histories[0], first.rows, seconds)
        if self.conformal_ is not None:
            plain = self._with(recipe, first.state, spec, all_params[0]).test_metrics(first.x_test, first.y_test,
                                                                                     first.salary_test)
            self.record_["conformal"] = self.conformal_.to_json() | {
                "test_before_calibration": {k: plain[k] for k in ("coverage", "median_range_width")}}
        if seeds > 1:
            self.record_["seeds"] = {"seeds": seed_list, "models_per_second": round(seeds / seconds, 3),
                                     "test": summarise(tests)}
        if recipe.fit.refit:
            raw = self._post(self.raw(first.x_test), test_frames[0])
            self.heldout_ = {"rows": split[1].astype(np.int32), "outputs": task.outputs(raw, spec.activations[-1])}
            self._refit(sel, source, on_refit, calibration)
        return self

    def _refit(self, sel: Selection, source: str, on_refit: Callable[[int], Chunk] | None = None,
               calibration: np.ndarray | None = None) -> None:
        """Fit again on every selected row (but a [conformal] recipe's calibration rows, on which the refitted
        model is calibrated again), for the epochs the measured fit ran (to its best epoch with early stopping),
        with no validation rows; the preprocessing is fitted again on those rows too."""
        from .fitting import prepare, train_prepared

        recipe = self.recipe_
        epochs = self.record_["kept_epoch"] or self.record_["epochs_run"]
        fit = recipe.fit.model_copy(update={"epochs": epochs, "early_stopping": None, "validation_split": 0.0})
        again = recipe.model_copy(update={"fit": fit})
        rows = np.arange(len(sel.labels)) if calibration is None else np.setdiff1d(np.arange(len(sel.labels)), calibration)
        every = prepare(sel, again, source, split=(rows, np.arange(0)))
        spec, params, _, seconds = train_prepared(again, [every], [recipe.seed], on_refit(epochs) if on_refit else None)
        self.features_, self.spec_, self.params_ = every.state, spec, params[0]
        self.linear_ = self._fit_linear(recipe, sel.frame.iloc[rows], sel.labels[rows])
        self.record_["refit"] = {"rows": len(rows), "epochs": epochs, "fit_seconds": round(seconds, 3),
                                 "test_metrics_from": "the model fitted before the refit, on the test rows it never saw"}
        if calibration is not None:
            self.conformal_ = self._calibrate(sel, calibration)
            self.record_["refit"]["calibration_rows"] = len(calibration)
            self.record_["conformal_refit"] = self.conformal_.to_json()

    def _fitted_from(self, recipe: Recipe, state: features.FeatureState, spec: ModelSpec, params: Params,
                     history: dict[str, np.ndarray] | None, data: dict[str, Any], path: Path | None = None) -> None:
        self.recipe_, self.features_, self.spec_, self.params_ = recipe, state, spec, params
        self.data_, self.rows_, self.path_ = data, data.get("rows", {}), path
        self._history = history
        epochs = {} if history is None else {"epoch": np.arange(1, len(history["loss"]) + 1)} | history
        self.history_ = pd.DataFrame(epochs)

    @classmethod
    def _with(cls, recipe: Recipe, state: features.FeatureState, spec: ModelSpec, params: Params,
              history: dict[str, np.ndarray] | None = None, data: dict[str, Any] | None = None,
              linear: "linear.LinearState | None" = None) -> "SalaryNet":
        """A fitted model from its parts (one of the models a sweep or a seed set trains together)."""
        net = cls(recipe)
        net._fitted_from(recipe, state, spec, params, history, data or {})
        net.linear_ = linear
        return net

    @staticmethod
    def _fit_linear(recipe: Recipe, frame: pd.DataFrame, labels: np.ndarray) -> "linear.LinearState | None":
        """The recipe's [blend] logistic regression on these rows, or None."""
        blend, section = recipe.blend, recipe.features
        if blend is None:
            return None
        return linear.fit(frame, labels, [c.column for c in section.columns],
                          list(section.text.columns) if section.text else [], blend.linear, blend.c, blend.min_count)

    def _calibrate(self, sel: Selection, rows: np.ndarray) -> "conformal.ConformalState":
        """The [conformal] corrections of this model's ranges, from calibration rows it never fitted on."""
        section, frame = self.recipe_.conformal, sel.frame.iloc[rows]
        x, _ = self.encode(frame)
        low, high = self.recipe_.features.quantiles
        target = self.task_.targets(sel.labels[rows], self.spec_.answers)[:, 0]
        try:
            return conformal.calibrate(self.raw(x), target, frame, high - low, self.features_.spread,
                                       section.by, section.min_rows)
        except ValueError as e:
            raise DataError(f"conformal.fraction={section.fraction}: {e}; raise it or use more rows") from None

    @classmethod
    def models(cls, recipes: list[Recipe], prep: Any, seeds: list[int],
               learning_rates: list[float] | None = None) -> list["SalaryNet"]:
        """Models for one prepared split, one per (recipe, seed), trained in one compiled call; the recipes
        differ at most in their learning rate (learning_rates, one per model)."""
        from .fitting import train_prepared

        spec, params, histories, _ = train_prepared(recipes[0], [prep] * len(seeds), seeds, learning_rates=learning_rates)
        return [cls._with(r, prep.state, spec, p, h, {"rows": prep.rows}) for r, p, h in zip(recipes, params, histories)]

    # -------------------------------------------------------- the network on encoded rows (encode, raw, _post: Predictor)

    def outputs(self, x: Inputs, frame: pd.DataFrame | None = None, linear_shares: np.ndarray | None = None,
                bags: tuple | None = None) -> np.ndarray:
        """Encoded rows -> class probabilities, or log salary (estimate, low, high), blended with the [blend]
        model where the rows' frame (or the sum of its questions' linear.parts) is given; bags: see raw()."""
        raw = self._post(self.raw(x, bags), frame, linear_shares)
        return self.task_.outputs(raw, self.spec_.activations[-1])

    def compiled_raw(self) -> Callable[[Inputs], np.ndarray]:
        """Encoded rows -> the network's outputs through one jitted network, the rows padded to a power of two:
        one compile per size (the server warms the sizes load brings)."""
        import jax

        from .nn import model

        apply = jax.jit(functools.partial(model.apply, self.spec_))
        params = jax.device_put(self.params_)

        def raw(x: Inputs) -> np.ndarray:
            n = x.numeric.shape[0]
            size = 1 << max(n - 1, 0).bit_length()
            padded = jax.tree.map(lambda a: np.concatenate([a, np.zeros((size - n, *a.shape[1:]), a.dtype)]), x)
            return np.asarray(apply(params, padded))[:n]
        return raw

    def test_metrics(self, x: Inputs, labels: np.ndarray, salary: np.ndarray,
                     majority_class: int | None = None, frame: pd.DataFrame | None = None) -> dict[str, Any]:
        """Every metric of the task on encoded rows (blended where their frame is given): the recipe's loss,
        and accuracy/AUC or dollars and coverage."""
        return self.metrics_of(self._post(self.raw(x), frame), labels, salary, majority_class)

    def metrics_of(self, raw: np.ndarray, labels: np.ndarray, salary: np.ndarray,
                   majority_class: int | None = None) -> dict[str, Any]:
        """Every metric of the task from the network's outputs on rows with these labels and salaries."""
        task = self.task_
        if majority_class is None:
            majority_class = int(getattr(self, "record_", {}).get("baseline", {}).get("majority_class", 0))
        quantiles = tuple(self.recipe_.features.quantiles)
        loss = float(np.mean(loss_function(self.recipe_.compile.loss, quantiles)(
            task.targets(labels, self.spec_.answers), raw)))
        return {"loss": loss} | task.metrics(raw, labels, salary, self.spec_.activations[-1], majority_class)

    # -------------------------------------------------------- predicting

    def _survey(self, frame: "pd.DataFrame | Survey") -> Survey:
        return frame if isinstance(frame, Survey) else survey_of(frame, "DataFrame")

    def predict_frame(self, frame: "pd.DataFrame | Survey",
                      outputs: Callable[[Inputs], np.ndarray] | None = None,
                      flags: list[list[dict[str, str]]] | None = None) -> pd.DataFrame:
        """The command line's predictions table: one row per input row, in order (probability, prediction, band
        or salary/low/high), or empty values and the reason a row could not be encoded.
        outputs: encoded rows -> the network's outputs (default: op by op; the server passes its compiled one);
        flags: the rows' flags, where the caller has them already."""
        survey = self._survey(frame)
        rows = survey.frame
        x, reason = self.encode(rows, survey.path)
        ok = reason == ""
        raw = self._post((outputs or self.raw)(x.take(ok)), rows[ok]) if ok.any() else np.zeros((0, self.spec_.answers))
        decoded = self.task_.decode(raw, self.spec_.activations[-1]) if ok.any() else \
            {k: v[:0] for k, v in self.task_.decode(np.zeros((1, self.spec_.answers)), self.spec_.activations[-1]).items()}
        table = pd.DataFrame(decoded, index=np.flatnonzero(ok)).reindex(range(len(rows)))
        if "prediction" in table:
            table["prediction"] = table["prediction"].astype("Int64")
        if "band" in table:
            table["band"] = table["band"].fillna("")
        table.insert(0, "row", np.arange(1, len(rows) + 1))
        ordinal = {c.column: c.codes for c in self.features_.columns if c.encoding == "ordinal"}
        table["reason"] = [reason_text(r, rows.iloc[i][r.rpartition("_")[0]], ordinal[r.rpartition("_")[0]]) if r else ""
                           for i, r in enumerate(reason)]
        table["flags"] = ["; ".join(f["message"] for f in found) for found in (flags or self.flags(survey))]
        return table

    def flags(self, frame: "pd.DataFrame | Survey") -> list[list[dict[str, str]]]:
        """Per row, what the model made of answers it did not learn, or read through the alias table (see
        features.flags): [{field, kind, answer, message}]."""
        survey = self._survey(frame)
        return features.flags(self._check_fitted().features_, survey.frame, survey.given)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """float[rows, classes]: class probabilities (NaN rows for rows it cannot encode). A range model has no
        classes: use predict()."""
        if not self.task_.classes:
            raise RecipeError("a salary-range model has no class probabilities; predict() gives the salary")
        survey = self._survey(frame)
        x, reason = self.encode(survey.frame, survey.path)
        ok = reason == ""
        out = np.full((len(survey.frame), self.spec_.answers), np.nan)
        if ok.any():
            out[ok] = self.task_.outputs(self._post(self.raw(x.take(ok)), survey.frame[ok]), self.spec_.activations[-1])
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels: the class (0/1, or the band's index), or for a range model the salary in dollars;
        NaN (as float) for rows it cannot encode."""
        table = self.predict_frame(frame)
        column = "salary" if "salary" in table else "prediction"
        return table[column].astype(float).to_numpy()

    # -------------------------------------------------------- scoring

    def evaluation_rows(self, survey: Survey, provenance: dict[str, Any]) -> Evaluation:
        """Its own test rows when the survey is the file it was trained on (same sha256), else every usable row."""
        sel = select_rows(survey, self._check_fitted().recipe_)
        same = provenance.get("sha256") is not None and provenance.get("sha256") == self.data_.get("sha256")
        rows = split_rows(sel, self.recipe_, survey.path)[1] if same else np.arange(len(sel.labels))
        return Evaluation(sel.frame.iloc[rows].reset_index(drop=True), sel.labels[rows], sel.salary[rows],
                          OWN_TEST_ROWS if same else NEW_FILE_ROWS, sel.rows)

    def evaluation_outputs(self, survey: Survey, provenance: dict[str, Any]
                           ) -> tuple[Evaluation, Inputs, np.ndarray, dict[str, Any]]:
        """Its evaluation rows, encoded, the outputs on them (class probabilities or log salary) and their
        metrics. For a refitted model on its own training file: the outputs and metrics of the model before
        the refit, saved with the run (the refitted one has trained on every row)."""
        ev = self.evaluation_rows(survey, provenance)
        x, _ = self.encode(ev.frame, survey.path)
        heldout = getattr(self, "heldout_", None)
        if ev.rows_used == OWN_TEST_ROWS and heldout is not None and len(heldout["outputs"]) == len(ev.labels):
            ev.rows_used = HELDOUT_ROWS
            return ev, x, heldout["outputs"], self.record_["test"]
        raw = self._post(self.raw(x), ev.frame)
        return ev, x, self.task_.outputs(raw, self.spec_.activations[-1]), self.metrics_of(raw, ev.labels, ev.salary)

    def evaluation(self, survey: Survey, provenance: dict[str, Any]) -> dict[str, Any]:
        """{rows_used, rows, test}: the metrics on its evaluation rows (see evaluation_outputs)."""
        ev, _, _, test = self.evaluation_outputs(survey, provenance)
        return {"rows_used": ev.rows_used, "rows": ev.rows, "test": test}

    def drift(self, training: "pd.DataFrame | Survey", frame: "pd.DataFrame | Survey") -> list[dict[str, Any]]:
        """How far the frame's usable rows' answers moved from the training survey's, per question (drift.drift)."""
        recipe = self._check_fitted().recipe_
        before, after = (select_rows(self._survey(f), recipe).frame for f in (training, frame))
        return drift.drift(self.features_, before, after)

    def evaluate(self, frame: "pd.DataFrame | Survey") -> dict[str, Any]:
        """Every metric the command line prints, on every usable row of the frame."""
        return self.evaluation(self._survey(frame), {})["test"]  # no sha256: never the run's own file

    def score(self, frame: pd.DataFrame, y: Any = None) -> float:
        """scikit-learn's score: accuracy (higher is better); for a range model, minus the median $ error."""
        return self.task_.score(self.evaluate(frame))

    # -------------------------------------------------------- saving

    def save(self, path: str | Path) -> Path:
        """The run folder `salarynet train` writes (never over a folder that is not a salarynet run)."""
        self._check_fitted()
        if self._history is None or not hasattr(self, "record_") or "test" not in self.record_:
            raise RecipeError("only a model fitted by fit() is saved; a loaded run is saved already (copy its folder)")
        from . import plots  # matplotlib: only where a run is saved
        from .nn import train

        recipe, history = self.recipe_, self._history
        fine = recipe.features.label_bands is not None  # the fit's loss and accuracy are over the label bands
        metric = "band_accuracy" if fine else train.metric_name(recipe.compile.loss)
        files = {
            artifacts.WEIGHTS: artifacts.weights_bytes(self.params_),
            "preprocessing.json": artifacts.to_json_bytes(self.features_.to_json()),
            "recipe.json": artifacts.to_json_bytes(recipe.model_dump(mode="json")),
            "data.json": artifacts.to_json_bytes(self.data_),
            "metrics.json": artifacts.to_json_bytes(self.record_),
            "history.csv": self.history_.rename(columns={"accuracy": metric, "val_accuracy": f"val_{metric}"})
                                        .to_csv(index=False, float_format="%.6g").encode(),
            "curves.png": plots.curves_png(history, f"salarynet: {recipe.name} recipe"
                                           + (" (fit on the label bands)" if fine else ""),
                                           None if fine else self.record_["baseline"]["majority_accuracy"],
                                           "accuracy over the label bands" if fine else metric,
                                           self.record_.get("kept_epoch")),
        }
        if getattr(self, "heldout_", None) is not None:
            files[artifacts.HELDOUT] = artifacts.heldout_bytes(self.heldout_)
        if getattr(self, "linear_", None) is not None:
            files[artifacts.LINEAR] = artifacts.to_json_bytes(self.linear_.to_json())
        if getattr(self, "conformal_", None) is not None:
            files[artifacts.CONFORMAL] = artifacts.to_json_bytes(self.conformal_.to_json())
        files["model.json"] = artifacts.to_json_bytes(artifacts.model_json(self.spec_, recipe.compile.loss, files))
        return artifacts.write_run(Path(path), files)


def load(path: "str | Path | artifacts.RunFiles") -> SalaryNet:
    """A saved run folder (or its files, read and checked already: artifacts.load_run) as a fitted SalaryNet."""
    files = path if isinstance(path, artifacts.RunFiles) else artifacts.load_run(Path(path))
    net = SalaryNet(files.recipe)
    net._fitted_from(files.recipe, files.features, files.spec, files.params, None, files.data, files.path)
    net.record_, net.metrics_, net.heldout_ = files.metrics, files.metrics.get("test", {}), files.heldout
    net.linear_, net.conformal_ = files.linear, files.conformal
    history = files.path / "history.csv"
    if history.is_file():
        net.history_ = pd.read_csv(history)
    return net


def _selection(frame: "pd.DataFrame | Survey | Selection", recipe: Recipe, provenance: dict[str, Any] | None
               ) -> tuple[Selection, str, dict[str, Any]]:
    """The rows a fit uses, where they come from, and the provenance its run records."""
    if isinstance(frame, Selection):
        return frame, "rows", provenance or {"source": "rows"}
    survey = frame if isinstance(frame, Survey) else survey_of(frame, "DataFrame")
    if provenance is None:
        provenance = {"source": "DataFrame", "rows": len(survey.frame), "schema": survey.schema, "notes": survey.notes}
    return select_rows(survey, recipe), survey.path, provenance


def _record(task: Task, recipe: Recipe, test: dict[str, Any], majority_class: int, history: dict[str, np.ndarray],
            rows: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What metrics.json holds of a fit."""
    return {
        "task": task.name,
        "test": test,
        "baseline": {"majority_class": majority_class, "majority_accuracy": test.get("majority_accuracy")},
        "final_epoch": {k: float(v[-1]) if np.isfinite(v[-1]) else None for k, v in history.items()},
        "epochs_run": int(len(history["loss"])),
        # early stopping keeps the best epoch's weights (Keras's restore_best_weights)
        "kept_epoch": int(np.argmin(history["val_loss"])) + 1 if recipe.fit.early_stopping else None,
        "rows": rows,
        "fit_seconds": round(seconds, 3),
        "seed": recipe.seed,
    }


def summarise(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample sd and the values of every numeric test metric over seeds."""
    return {key: mean_sd([v[key] for v in values]) | {"values": [float(v[key]) for v in values]}
            for key, first in values[0].items()
            if isinstance(first, float) and all(isinstance(v[key], float) for v in values)}
