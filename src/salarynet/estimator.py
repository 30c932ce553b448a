"""The fitted model: one object (scikit-learn's estimator protocol) that notebooks, the command line, the
server, sweeps, comparisons and reports all train, load, predict and score with.

    survey = salarynet.load_survey()
    net = salarynet.SalaryNet("tutorial", fit__epochs=2).fit(survey)
    net.predict_proba(survey.head())

A frame goes through exactly the reading and tidying of the command line (any of the header schemas, or
the canonical names of the HTTP API), so the three give the same number for the same person.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import artifacts, drift, features, reasons, years
from .answerset import canonical_names
from .data.survey import Survey, survey_of
from .errors import ArtifactError, DataError, RecipeError
from .explain import explain as explained
from .fitted import FittedModel
from .nn.spec import Inputs
from .predictor import Predictor
from .reasons import Flag
from .recipe import Recipe, apply_values, read_recipe_source, validate_recipe
from .rows import Selection, fold_of, parse_fold, select_rows, split_rows

if TYPE_CHECKING:
    from .training import Chunk

OWN_TEST_ROWS = "the run's test rows"
HELDOUT_ROWS = "the run's test rows, by the model before its refit on every row"
NEW_FILE_ROWS = "every usable row of a new file"


Rows = Any  # what the API predicts for: a DataFrame (any header schema), a Survey, a dict (one answer set) or a list of dicts


class Unanswerable(DataError, ValueError):
    """predict()/predict_proba() given a row the model cannot answer (answerset.py's contract)."""


def rows_of(frame: Rows, reads: list[str] | None = None) -> Survey:
    """What the API reads as rows: a DataFrame or Survey (a file's rows: headers of any schema, other columns
    ignored), a dict (one person's answers) or a list of dicts (several). An answer set's names are checked as the
    HTTP API checks them (answerset.canonical_names); anything else is a TypeError."""
    if isinstance(frame, Survey):
        return frame
    if isinstance(frame, pd.DataFrame):
        return survey_of(frame, "DataFrame")
    if isinstance(frame, dict):
        frame = [frame]
    if isinstance(frame, list) and frame and all(isinstance(r, dict) for r in frame):
        rows = [canonical_names(r, reads=reads or ()) for r in frame]
        # every answer the model reads is a column: one left out of an answer set is a blank
        columns = list(dict.fromkeys([*(reads or ()), *(name for r in rows for name in r)]))
        return survey_of(pd.DataFrame(rows, columns=columns, dtype=object).astype(object), "answers")
    got = "an empty list" if isinstance(frame, list) and not frame else type(frame).__name__
    raise TypeError(
        f"expected a pandas DataFrame of survey rows, a dict of one person's answers or a list of such dicts; got {got}"
    )


def _all_answered(source: str, why: np.ndarray) -> None:
    """Unanswerable, naming the first row the model cannot answer and why, where there is one (why: a record per
    row, None where it can; Predictor.answerable)."""
    bad = np.flatnonzero(~reasons.unset(why))
    if len(bad):
        raise Unanswerable(
            f"{source}: row {bad[0] + 1}: {why[bad[0]]}"
            + (f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else "")
            + "; predict_frame() keeps such rows, with the reason"
        )


@dataclass
class Evaluation:
    """A model's evaluation rows: its own test rows when the survey is its training file, else every usable row."""

    frame: pd.DataFrame
    labels: np.ndarray
    salary: np.ndarray
    rows_used: str
    rows: dict[str, Any]
    row_ids: np.ndarray  # the evaluation rows' indices among the file's usable rows


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

    def fit(
        self,
        frame: "pd.DataFrame | Survey | Selection",
        y: Any = None,
        *,
        on_chunk: "Chunk | None" = None,
        seeds: int = 1,
        provenance: dict[str, Any] | None = None,
        on_refit: "Callable[[int], Chunk] | None" = None,
    ) -> "SalaryNet":
        """Train the recipe on the frame's rows (training.train); its split holds out test rows (metrics_). The
        label comes from the salary column, as the recipe defines it: y may be left out, and a y given must be that
        label on every row the recipe keeps (classes_' values; a range model's: the salary in dollars), else
        ValueError. seeds > 1: models for the recipe's seed, +1, ... (record_["seeds"] holds their spread, each that
        seed's own model, blended and calibrated; the model is the recipe seed's, the same as with seeds=1). With
        fit.refit, the model is then fitted again on every kept row (on_refit(epochs) -> its progress). frame may be
        rows already selected (a Selection: a comparison's fold), trained on exactly as a file's."""
        from .training import train  # JAX: imported where a model trains, not where one predicts

        recipe = self.resolved_recipe()
        sel, source, provenance = _selection(frame, recipe, provenance)
        if y is not None:
            _check_y(y, sel)
        first = train(recipe, sel, source, seeds=seeds, on_chunk=on_chunk, on_refit=on_refit)[0]
        # the survey years it learned (years.py), recorded here for a frame from Python as for a file from the CLI
        learned = years.of_rows(sel.frame[years.COLUMN]) if years.COLUMN in sel.frame else []
        self.model_ = first.with_(data=provenance | {"rows": first.record["rows"], "learned_years": learned})
        return self

    heldout_ = property(
        lambda self: self._fitted().heldout, doc="fit.refit: the outputs before the refit, on its test rows."
    )
    record_ = property(lambda self: self._fitted().record, doc="What its training measured (metrics.json).")
    metrics_ = property(lambda self: self._fitted().record.get("test", {}), doc="The held-out rows' metrics.")
    rows_ = property(lambda self: self._fitted().data.get("rows", {}), doc="The row accounting.")

    @property
    def history_(self) -> pd.DataFrame:
        """Per epoch of the measured fit (a loaded run's history.csv; empty where it has none)."""
        model = self._fitted()
        cached = getattr(self, "_history_frame", None)
        if cached is None or cached[0] is not model:
            if model.history is not None:
                epochs = np.arange(1, len(model.history["loss"]) + 1)
                frame = pd.DataFrame({"epoch": epochs} | model.history)
            else:
                found = model.path / "history.csv" if model.path is not None else None
                frame = pd.read_csv(found) if found is not None and found.is_file() else pd.DataFrame()
            self._history_frame = cached = (model, frame)
        return cached[1]

    # -------------------------------------------------------- the network on encoded rows (encode, raw, finish, outputs,
    # metrics_of: Predictor)

    # -------------------------------------------------------- predicting

    def _survey(self, frame: "Rows") -> Survey:
        return rows_of(frame, [f.name for f in self.fields_])

    @property
    def classes_(self) -> np.ndarray:
        """The class labels predict() returns, as scikit-learn's classifiers have them: 0 and 1 (at or below the
        threshold, above it), or the salary bands' indices 0..k-1 (class_names_ names them). A salary-range model
        has none (AttributeError)."""
        task = self.task_
        if not task.classes:
            raise AttributeError("a salary-range model has no classes_: predict() gives the salary")
        return np.arange(task.width())

    @property
    def class_names_(self) -> list[str]:
        """classes_ in words: "at or below" and "above" the threshold, or each band's salaries."""
        return self.task_.class_names()

    def predict_frame(
        self,
        frame: "pd.DataFrame | Survey",
        outputs: Callable[[Inputs], np.ndarray] | None = None,
        flags: list[list[Flag]] | None = None,
        year: int | None = None,
    ) -> pd.DataFrame:
        """The command line's predictions table: one row per input row, in order (probability, prediction, band
        or salary/low/high, and the year whose dollars they are in), or empty values and the reason a row could
        not be encoded. outputs: encoded rows -> the network's outputs (default: the network in numpy,
        Predictor.raw); flags: the rows' flags, where the caller has them already; year: the dollars' year
        (default: the latest survey year the model learned; see Predictor.dollars_year)."""
        survey = self._survey(frame)
        table, why = self._predicted(survey, year, outputs)
        table["reason"] = ["" if w is None else str(w) for w in why]
        table["flags"] = ["; ".join(f.message for f in found) for found in (flags or self.flags(survey))]
        return table

    def _predicted(
        self, survey: Survey, year: int | None, outputs: Callable[[Inputs], np.ndarray] | None = None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """(predict_frame's table without its reason and flags, why each row cannot be answered: records)."""
        answered = self.answer(survey.frame, year, outputs, survey.path)
        rows = len(answered.why)
        table = pd.DataFrame(answered.decoded, index=np.flatnonzero(answered.ok)).reindex(range(rows))
        table["year"] = answered.year
        if "prediction" in table:
            table["prediction"] = table["prediction"].astype("Int64")
        if "band" in table:
            table["band"] = table["band"].fillna("")
        table.insert(0, "row", np.arange(1, rows + 1))
        return table, answered.why

    def flags(self, frame: "pd.DataFrame | Survey") -> list[list[Flag]]:
        """Per row, what the model made of answers it did not learn, or read through the alias table (see
        features.flags): [{field, kind, answer, message}]."""
        survey = self._survey(frame)
        return features.flags(self._check_fitted().features_, survey.frame, survey.given)

    def predict_proba(self, frame: "Rows", year: int | None = None) -> np.ndarray:
        """float[rows, classes]: each row's class probabilities (columns in classes_' order), at a survey year it
        learned (default: the latest). Every row must be one the model can answer (answerset.py: the answers it
        requires, the choices it learned); else Unanswerable, a ValueError naming the first such row and why
        (predict_frame() keeps them, with the reason). A range model has no classes: use predict()."""
        if not self.task_.classes:
            raise RecipeError("a salary-range model has no class probabilities; predict() gives the salary")
        survey = self._survey(frame)
        answered = self.answer(survey.frame, year, source=survey.path)
        _all_answered(survey.path, answered.why)
        return answered.outputs

    def predict(self, frame: "Rows", year: int | None = None) -> np.ndarray:
        """int[rows]: each row's class, one of classes_ (the likeliest: 1 where P(above) > 0.5, or the band's
        index); a range model's: float[rows], the salary in `year`'s dollars (default: the latest survey year it
        learned). Rows it cannot answer: Unanswerable, as predict_proba."""
        survey = self._survey(frame)
        table, why = self._predicted(survey, year)
        _all_answered(survey.path, why)
        if "salary" in table:
            return table["salary"].astype(float).to_numpy()
        return table["prediction"].astype(int).to_numpy()

    def explain(self, answers: "Rows", year: int | None = None) -> dict[str, Any]:
        """One person's answer explained (the first row of `answers`, at `year`: see predict): the answers that
        move it most against the commonest ones, and the single change that would move it across the threshold
        (or band): {sentence, reasons, counterfactual, counterfactual_sentence}, as POST /predict's explanation."""
        survey = self._survey(answers)
        return explained(self, self.at_year(survey.frame.head(1), self.dollars_year(year)[1]))

    # -------------------------------------------------------- scoring

    def evaluation_rows(self, survey: Survey, provenance: dict[str, Any]) -> Evaluation:
        """Its own test rows when the survey is the file it was trained on (same sha256; a `train --fold K/N`
        run: that fold's held-out rows), else every usable row."""
        sel = select_rows(survey, self._check_fitted().recipe_)
        same = provenance.get("sha256") is not None and provenance.get("sha256") == self.data_.get("sha256")
        fold = self.data_.get("fold") if same else None
        if fold:
            if (parsed := parse_fold(fold)) is None:
                raise ArtifactError(
                    f"{self.path_ or 'this run'}: data.json's fold {fold!r} is not K/N; train the run again"
                )
            k, n = parsed
            rows, used = fold_of(sel, self.recipe_, k, n)[1], f"fold {fold}'s held-out rows"
        elif same:
            rows, used = split_rows(sel, self.recipe_, survey.path)[1], OWN_TEST_ROWS
        else:
            rows, used = np.arange(len(sel.labels)), NEW_FILE_ROWS
        return Evaluation(
            sel.frame.iloc[rows].reset_index(drop=True), sel.labels[rows], sel.salary[rows], used, sel.rows, rows
        )

    def evaluation_outputs(
        self, survey: Survey, provenance: dict[str, Any]
    ) -> tuple[Evaluation, Inputs, np.ndarray, dict[str, Any]]:
        """Its evaluation rows, encoded, the outputs on them (class probabilities or log salary) and their
        metrics. For a refitted model on its own training file: the outputs and metrics of the model before
        the refit, saved with the run for exactly these rows (the refitted one has trained on every row)."""
        ev = self.evaluation_rows(survey, provenance)
        x, _ = self.encode(ev.frame, survey.path)
        heldout = getattr(self, "heldout_", None)
        if ev.rows_used == OWN_TEST_ROWS and heldout is not None:
            if not np.array_equal(heldout["rows"], ev.row_ids):
                raise ArtifactError(
                    f"{self.path_ or 'this run'}: its held-out outputs are for other rows than its "
                    f"test rows of {survey.path} ({len(heldout['rows'])} saved, {len(ev.row_ids)} "
                    "now); train the run again"
                )
            ev.rows_used = HELDOUT_ROWS
            return ev, x, heldout["outputs"], self.record_["test"]
        outputs, metrics = self.scored(ev.frame, ev.labels, ev.salary, x=x)
        return ev, x, outputs, metrics

    def evaluation(self, survey: Survey, provenance: dict[str, Any]) -> dict[str, Any]:
        """{rows_used, rows, test}: the metrics on its evaluation rows (see evaluation_outputs)."""
        ev, _, _, test = self.evaluation_outputs(survey, provenance)
        return {"rows_used": ev.rows_used, "rows": ev.rows, "test": test}

    def drift(self, training: "pd.DataFrame | Survey", frame: "pd.DataFrame | Survey") -> list[dict[str, Any]]:
        """How far the frame's usable rows' answers moved from the training survey's, per question (drift.drift)."""
        return self.moved(training, frame, salaries=False)["answers"]

    def moved(
        self, training: "pd.DataFrame | Survey", frame: "pd.DataFrame | Survey", salaries: bool = True
    ) -> dict[str, Any]:
        """How the frame's usable rows moved from the training survey's, each side's rows selected once:
        {answers: per question (drift.drift), salaries: the share above the recipe's threshold, the median and
        an index over the training salaries' deciles (drift.salaries)}."""
        recipe = self._check_fitted().recipe_
        before, after = (select_rows(self._survey(f), recipe) for f in (training, frame))
        found: dict[str, Any] = {"answers": drift.drift(self.features_, before.frame, after.frame)}
        if salaries:
            found["salaries"] = drift.salaries(before.salary, after.salary, recipe.features.threshold)
        return found

    def evaluate(self, frame: "pd.DataFrame | Survey") -> dict[str, Any]:
        """Every metric the command line prints, on every usable row of the frame."""
        return self.evaluation(self._survey(frame), {})["test"]  # no sha256: never the run's own file

    def score(self, frame: "Rows", y: Any = None) -> float:
        """scikit-learn's score: accuracy (higher is better); for a range model, minus the median $ error. y: as
        fit's (left out, or the recipe's own label)."""
        survey = self._survey(frame)
        if y is not None:
            _check_y(y, select_rows(survey, self._check_fitted().recipe_))
        return self.task_.score(self.evaluate(survey))

    # -------------------------------------------------------- saving

    def _curves(self) -> dict[str, bytes]:
        """history.csv and curves.png of a model fitted here."""
        from . import plots  # matplotlib: only where a run is saved
        from .nn import train

        recipe, history = self.recipe_, self.model_.history
        fine = recipe.features.label_bands is not None  # the fit's loss and accuracy are over the label bands
        metric = "band_accuracy" if fine else train.metric_name(recipe.compile.loss)
        return {
            "history.csv": self.history_.rename(columns={"accuracy": metric, "val_accuracy": f"val_{metric}"})
            .to_csv(index=False, float_format="%.6g")
            .encode(),
            "curves.png": plots.curves_png(
                history,
                f"salarynet: {recipe.name} recipe" + (" (fit on the label bands)" if fine else ""),
                None if fine else self.record_["baseline"]["majority_accuracy"],
                "accuracy over the label bands" if fine else metric,
                self.record_.get("kept_epoch"),
            ),
        }

    def save(self, path: str | Path) -> Path:
        """The run folder `salarynet train` writes (never over a folder that is not a salarynet run). A loaded
        model is saved as well: the same files, its history and curves copied from the folder it was loaded from."""
        self._check_fitted()
        if "test" not in self.record_:
            raise RecipeError("this model has no metrics record: fit() it, or salarynet.load() a run")
        files = artifacts.run_files(self.model_)
        if self.model_.history is not None:
            files.update(self._curves())
        else:  # loaded: what its folder holds
            for name in ("history.csv", "curves.png"):
                if self.path_ is not None and (self.path_ / name).is_file():
                    files[name] = (self.path_ / name).read_bytes()
        return artifacts.write_run(Path(path), files)


def load(path: "str | Path | FittedModel") -> SalaryNet:
    """A saved run folder (or the model it holds, read and checked already: artifacts.load_run) as a fitted
    SalaryNet."""
    model = path if isinstance(path, FittedModel) else artifacts.load_run(Path(path))
    net = SalaryNet(model.recipe)
    net.model_ = model
    return net


def _selection(
    frame: "pd.DataFrame | Survey | Selection", recipe: Recipe, provenance: dict[str, Any] | None
) -> tuple[Selection, str, dict[str, Any]]:
    """The rows a fit uses, where they come from, and the provenance its run records."""
    if isinstance(frame, Selection):
        return frame, "rows", provenance or {"source": "rows"}
    survey = rows_of(frame)
    if provenance is None:
        provenance = {"source": "DataFrame", "rows": len(survey.frame), "schema": survey.schema, "notes": survey.notes}
    return select_rows(survey, recipe), survey.path, provenance


def _check_y(y: Any, sel: Selection) -> None:
    """y, given to fit: one value per row of the frame, equal to the label the recipe derives from the salary on
    every row it keeps (scikit-learn passes y through; salarynet's label is the recipe's, never another)."""
    y, rows = np.asarray(y), sel.rows.get("read")
    if y.ndim != 1 or len(y) != rows or sel.index is None:
        shape = "x".join(map(str, y.shape))
        raise ValueError(f"y has shape ({shape}); expected one label per row of the frame ({rows} rows), or no y")
    mine = sel.labels if sel.labels.dtype.kind in "iu" else sel.salary
    given = y[sel.index]
    try:
        same = np.isclose(given.astype(float), mine.astype(float), rtol=1e-6, atol=0)
    except (TypeError, ValueError):
        same = np.zeros(len(mine), bool)
    if not same.all():
        first = int(np.flatnonzero(~same)[0])
        raise ValueError(
            f"y disagrees with the label the recipe derives from the salary column on {int((~same).sum())} of "
            f"{len(mine)} kept rows (row {int(sel.index[first]) + 1}: y {given[first]!r}, the recipe's "
            f"{mine[first]!r}); the label is the recipe's (features.task, threshold, bands): fit without y"
        )
