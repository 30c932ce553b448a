"""What differs between the tasks (above a threshold, salary bands, a salary range): the label, what a
split is stratified on, the network's targets, how outputs decode into answers, the metrics, and how an
answer is worded. One class per task; adding a task means adding a class here and to TASKS.

A task is made from label settings (a recipe's FeaturesSection, or a fitted FeatureState): `task`,
`threshold`, `bands`, and for a fitted range model `shift`/`spread`, the scaling of log salary.
"""

from typing import Any, ClassVar, Literal

import numpy as np

from .nn import metrics
from .nn.metrics import one_hot


def _in(row: dict[str, Any], before: str, after: str = "") -> str:
    """' in 2025 dollars' for an answer that says its year, else ''."""
    year = row.get("year")
    return f"{before}{year}{after}" if year is not None and year == year else ""


def band_names(bands: tuple[float, ...]) -> list[str]:
    edges = [f"{b:,.0f}" for b in bands]
    return [f"<= {edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f"> {edges[-1]}"]


class Task:
    """The classes tasks (binary, bands) share; Range overrides what a salary range does differently."""

    name: ClassVar[str]
    classes: ClassVar[bool] = True  # whether the model gives class probabilities
    importance_measure: ClassVar[str] = "drop of the ROC AUC"
    sweep_metric: ClassVar[str] = "auc"  # what a sweep ranks trials by, unless its grid names another
    takes_label_bands: ClassVar[bool] = False  # features.label_bands: fit finer salary bands, answer this task
    auc_label: ClassVar[str] = "ROC AUC"

    def __init__(self, settings: Any):
        self.settings = settings

    # ------------------------------------------------------------ the recipe
    def width(self) -> int:
        """Classes of the label (0 for a range)."""
        raise NotImplementedError

    def check(self, units: int, loss: str) -> str | None:
        """What is wrong with a recipe's last layer and loss for this task, or None."""
        if loss == "mse_quantiles":
            return f'compile.loss mse_quantiles is for features.task = "regression", not {self.name!r}'
        return None

    # ------------------------------------------------------------ labels and targets
    def label(self, salary: np.ndarray) -> np.ndarray:
        """Salaries (dollars) -> the label: int32[rows] classes or float32[rows] log salary."""
        raise NotImplementedError

    def unlabelled(self, salary: np.ndarray) -> np.ndarray:
        """bool[rows]: usable salaries that still make no label for this task (counted as salary_zero)."""
        return np.zeros(len(salary), bool)

    def scale(self, labels: np.ndarray | None) -> tuple[float, float]:
        """(shift, spread) the network's targets are scaled by."""
        return 0.0, 1.0

    def strata(self, labels: np.ndarray) -> np.ndarray:
        """What a split is stratified on."""
        return labels

    def majority(self, labels: np.ndarray) -> int:
        return int(np.bincount(labels).argmax())

    def targets(self, labels: np.ndarray, out_size: int) -> np.ndarray:
        """labels -> float32[rows, outputs]: one-hot classes, or one 0/1 column."""
        return one_hot(labels, out_size)

    def weights(self, labels: np.ndarray, how: str) -> np.ndarray:
        """Per-row weights: none, or scikit-learn's "balanced"."""
        if how == "none":
            return np.ones(len(labels), np.float32)
        counts = np.bincount(labels)
        return (len(labels) / (np.count_nonzero(counts) * counts[labels])).astype(np.float32)

    # ------------------------------------------------------------ outputs
    def outputs(self, raw: np.ndarray, activation: str) -> np.ndarray:
        """The network's outputs -> class probabilities float[rows, K], or log salary float[rows, 3]
        (estimate, low, high) in the label's own units."""
        return metrics.class_probabilities(raw, activation)

    def decode(self, raw: np.ndarray, activation: str) -> dict[str, np.ndarray]:
        """The network's outputs -> the predictions table's columns (rows the model could encode)."""
        return {"probability": metrics.probability(raw, activation), "prediction": metrics.predicted_class(raw)}

    def metrics(
        self, raw: np.ndarray, labels: np.ndarray, salary: np.ndarray, activation: str, majority_class: int
    ) -> dict[str, Any]:
        """Every test metric of the task, from the network's outputs."""
        return metrics.classification_metrics(labels, raw, activation, majority_class)

    def fold_metrics(
        self, outputs: np.ndarray, labels: np.ndarray, salary: np.ndarray, majority_class: int
    ) -> dict[str, Any]:
        """The metrics a comparison tabulates, from outputs() (probabilities)."""
        m = metrics.classification_metrics(labels, outputs, "softmax", majority_class)
        return {k: m[k] for k in ("accuracy", "auc", "log_loss")}

    def headline(self, m: dict[str, Any]) -> float:
        """One number, higher is better: ROC AUC (accuracy where it is undefined)."""
        return m["auc"] if m.get("auc") is not None else m["accuracy"]

    def output_width(self) -> int:
        return self.width()

    def score(self, test: dict[str, Any]) -> float:
        """scikit-learn's score (higher is better): accuracy."""
        return float(test["accuracy"])

    def summary(self, test: dict[str, Any]) -> str:
        """The test metrics in one line."""
        return f"accuracy {test['accuracy']:.4f}"

    # ------------------------------------------------------------ a report's views of outputs()
    def hits(self, outputs: np.ndarray, labels: np.ndarray, salary: np.ndarray) -> np.ndarray:
        """bool[rows]: the answer is right (for a range: the salary is inside it)."""
        return np.argmax(outputs, axis=1) == labels

    def resample(self, outputs: np.ndarray, labels: np.ndarray, salary: np.ndarray) -> dict[str, float]:
        """The headline metrics on one bootstrap resample (fast forms)."""
        n = len(labels)
        sample = {
            "accuracy": float(np.mean(np.argmax(outputs, axis=1) == labels)),
            "log_loss": float(-np.mean(np.log(np.clip(outputs[np.arange(n), labels], 1e-7, 1)))),
        }
        return sample

    def decision(self, outputs: np.ndarray, salary: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        """(predicted bool[rows], true bool[rows], what is decided): a salary above a cut, for every task."""
        raise NotImplementedError

    def class_names(self) -> list[str]:
        raise NotImplementedError

    def confidence(self, outputs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str]:
        """(confidence, event happened, what the calibration is of, its short label)."""
        return outputs.max(axis=1), np.argmax(outputs, axis=1) == labels, "the predicted band is right", "correct"

    def scores(self, outputs: np.ndarray) -> np.ndarray | None:
        """The positive class's score, where there is one (ROC and precision-recall curves)."""
        return None

    # ------------------------------------------------------------ one person: reasons and what would change it
    explained_name = "the chance of earning over the threshold"

    def explained(self, outputs: np.ndarray) -> np.ndarray:
        """float[rows]: the number a person's reasons move (a probability, or dollars)."""
        raise NotImplementedError

    def effect_text(self, effect: float) -> str:
        """An effect on explained(), in words: "+12 points" (probabilities) or "+$8,300"."""
        points = round(100 * effect)
        return f"{points:+d} point{'' if abs(points) == 1 else 's'}"

    def small_effect(self, effect: float, value: float) -> bool:
        """Too small to name: under a point of probability (a salary: under 1% of it)."""
        return abs(effect) < 0.01

    def value_text(self, value: float) -> str:
        return f"{100 * value:.0f}%"

    def outcome(self, outputs: np.ndarray) -> np.ndarray:
        """int[rows]: the answer a counterfactual must change (the class; a range: above the threshold)."""
        return np.argmax(outputs, axis=1)

    def target(self, outcome: int) -> int:
        """The outcome a counterfactual looks for, from the person's own."""
        return 1 - outcome

    def outcome_text(self, outcome: int) -> str:
        return (
            f"above ${self.settings.threshold:,.0f}" if outcome == 1 else f"at or below ${self.settings.threshold:,.0f}"
        )

    # ------------------------------------------------------------ words
    def sentence(self, row: dict[str, Any]) -> str:
        """One person's answer, as `salarynet predict` prints it."""
        raise NotImplementedError

    def answer(self, row: dict[str, Any]) -> dict[str, Any]:
        """One person's answer, as POST /predict returns it."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What GET /model says of the label."""
        return {"task": self.name, "threshold": None, "bands": None}

    def metric_rows(self, test: dict[str, Any], majority: float | None) -> list[tuple[str, str]]:
        """(metric, value) rows of the test-metrics table."""
        auc = test["auc"]
        return [
            ("loss (recipe's loss)", f"{test['loss']:.4f}"),
            ("accuracy (argmax, Keras 3)", f"{test['accuracy']:.4f}"),
            ("binary accuracy (every output, Keras 2)", f"{test['binary_accuracy']:.4f}"),
            (self.auc_label, "n/a (a class is missing)" if auc is None else f"{auc:.4f}"),
            ("log loss", f"{test['log_loss']:.4f}"),
            ("majority-class accuracy", f"{majority if majority is not None else test['majority_accuracy']:.4f}"),
            *self.confusion_row(test["confusion_matrix"]),
        ]

    def confusion_row(self, cm: Any) -> list[tuple[str, str]]:
        return [("confusion [true rows; predicted columns]", "[" + "; ".join(" ".join(map(str, r)) for r in cm) + "]")]


class Binary(Task):
    """Salary above the threshold, or not (the tutorial's label)."""

    name = "binary"
    takes_label_bands = True

    def width(self) -> int:
        return 2

    def check(self, units: int, loss: str) -> str | None:
        fine = self.settings.label_bands
        if problem := super().check(units, loss):
            return problem
        if fine is not None:
            if units != len(fine) + 1 or loss != "categorical_crossentropy":
                return (
                    f"model.layers: features.label_bands makes {len(fine) + 1} classes: the last layer needs that "
                    f"many units and compile.loss categorical_crossentropy (has {units} units, loss {loss})"
                )
        elif units not in (1, 2):
            return (
                f"model.layers: the last layer has {units} units; the >threshold label needs "
                "1 (one probability) or 2 (one per class, as the tutorial's to_categorical)"
            )
        return None

    def label(self, salary: np.ndarray) -> np.ndarray:
        return (np.asarray(salary, dtype=float) > self.settings.threshold).astype(np.int32)

    def resample(self, outputs, labels, salary):
        sample = super().resample(outputs, labels, salary)
        if 0 < labels.sum() < len(labels):
            sample["auc"] = metrics.mann_whitney_auc(labels, outputs[:, 1])
        return sample

    def decision(self, outputs, salary):
        threshold = self.settings.threshold
        return outputs[:, 1] > 0.5, salary > threshold, f"salary above ${threshold:,.0f}"

    def class_names(self) -> list[str]:
        return ["at or below", "above"]

    def confidence(self, outputs, labels):
        return outputs[:, 1], labels == 1, "salary above the threshold", "above"

    def scores(self, outputs):
        return outputs[:, 1]

    def sentence(self, row):
        threshold = self.settings.threshold
        return (
            f"P(salary > ${threshold:,.0f}{_in(row, ' in ')}) = {row['probability']:.3f}  ->  "
            f"{'above' if row['prediction'] == 1 else 'at or below'} ${threshold:,.0f}{_in(row, ' in ', ' dollars')}"
        )

    def answer(self, row):
        predicted = int(row["prediction"])
        return {
            "probability": round(float(row["probability"]), 6),
            "class": predicted,
            "answer": f"{'above' if predicted == 1 else 'at or below'} ${self.settings.threshold:,.0f}"
            f"{_in(row, ' in ', ' dollars')}",
        }

    def describe(self):
        return super().describe() | {"threshold": self.settings.threshold}

    @property
    def explained_name(self):
        return f"the chance of earning over ${self.settings.threshold:,.0f}"

    def explained(self, outputs):
        return outputs[:, 1]

    def confusion_row(self, cm):
        return [("confusion [tn fp; fn tp]", f"[{cm['tn']} {cm['fp']}; {cm['fn']} {cm['tp']}]")]


class Bands(Task):
    """Which of the salary bands."""

    name = "bands"
    sweep_metric = "accuracy"
    auc_label = "ROC AUC (one band vs rest, mean)"

    def width(self) -> int:
        return len(self.settings.bands) + 1

    def check(self, units: int, loss: str) -> str | None:
        if problem := super().check(units, loss):
            return problem
        if units != self.width():
            return (
                f"model.layers: the last layer has {units} units; {len(self.settings.bands)} band edges "
                f"make {self.width()} classes"
            )
        return None

    def label(self, salary: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.settings.bands), np.asarray(salary, dtype=float), side="left").astype(
            np.int32
        )

    def decode(self, raw, activation):
        columns = super().decode(raw, activation)
        names = band_names(tuple(self.settings.bands))
        return columns | {"band": np.array([names[p] for p in columns["prediction"]], dtype=object)}

    def decision(self, outputs, salary):
        edges, threshold = np.asarray(self.settings.bands), self.settings.threshold
        lower = np.concatenate([[-np.inf], edges])[np.argmax(outputs, axis=1)]  # the predicted band's lower edge
        cut = float(edges[np.searchsorted(edges, threshold)]) if threshold <= edges[-1] else np.inf
        return lower >= cut, salary > cut, f"salary above ${cut:,.0f} (the predicted band)"

    def class_names(self) -> list[str]:
        return band_names(tuple(self.settings.bands))

    def sentence(self, row):
        return f"band {row['band']}{_in(row, ' in ', ' dollars')} (probability {row['probability']:.3f})"

    def _cut(self) -> int:
        """The first band above the threshold."""
        return int(np.searchsorted(np.asarray(self.settings.bands), self.settings.threshold, side="left")) + 1

    @property
    def explained_name(self):
        edges = list(self.settings.bands)
        return f"the chance of a salary over ${edges[min(self._cut(), len(edges)) - 1]:,.0f}"

    def explained(self, outputs):
        return outputs[:, self._cut() :].sum(axis=1)

    def target(self, outcome):  # the next band up; from the top band, the one below
        return outcome + 1 if outcome + 1 < self.width() else outcome - 1

    def outcome_text(self, outcome):
        return f"band {self.class_names()[outcome]}"

    def answer(self, row):
        return {
            "probability": round(float(row["probability"]), 6),
            "class": int(row["prediction"]),
            "band": row["band"],
        }

    def describe(self):
        return super().describe() | {"bands": band_names(tuple(self.settings.bands))}


class Range(Task):
    """The salary itself, with a low-high range (quantiles of log salary)."""

    name = "regression"
    classes = False
    importance_measure = "rise of the median $ error"
    sweep_metric = "median_absolute_error"

    def width(self) -> int:
        return 0

    def output_width(self) -> int:
        return 3

    def check(self, units: int, loss: str) -> str | None:
        if loss != "mse_quantiles" or units != 3:
            return (
                'features.task regression needs compile.loss = "mse_quantiles" and a last layer '
                "of 3 units (log salary, low and high quantiles)"
            )
        return None

    def label(self, salary: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(salary, dtype=float)).astype(np.float32)

    def unlabelled(self, salary):  # the label is log salary: log(0) is no number
        return np.asarray(salary) == 0

    def scale(self, labels):
        if labels is None or len(labels) < 2:
            return 0.0, 1.0
        return float(np.mean(labels)), float(np.std(labels)) or 1.0

    def strata(self, labels):  # the salary's decile
        return np.searchsorted(np.quantile(labels, np.linspace(0.1, 0.9, 9)), labels)

    def majority(self, labels):
        return 0

    def targets(self, labels, out_size):
        return ((labels - self.settings.shift) / self.settings.spread).astype(np.float32)[:, None]

    def weights(self, labels, how):
        return np.ones(len(labels), np.float32)

    def outputs(self, raw, activation):
        return self.settings.unscale(raw)

    def decode(self, raw, activation):
        log_salary = self.outputs(np.asarray(raw, dtype=float), activation)
        return {name: np.round(np.exp(log_salary[:, j]), -2) for j, name in enumerate(("salary", "low", "high"))}

    def metrics(self, raw, labels, salary, activation, majority_class):
        return metrics.regression_metrics(salary, self.outputs(np.asarray(raw, dtype=float), activation))

    def fold_metrics(self, outputs, labels, salary, majority_class):
        return metrics.regression_metrics(salary, outputs)

    def headline(self, m):
        return -m["median_absolute_error"]

    def score(self, test):  # minus the median $ error
        return -float(test["median_absolute_error"])

    def summary(self, test):
        return f"median error ${test['median_absolute_error']:,.0f}, coverage {test['coverage']:.3f}"

    def hits(self, outputs, labels, salary):
        return (np.exp(outputs[:, 1]) <= salary) & (salary <= np.exp(outputs[:, 2]))

    def resample(self, outputs, labels, salary):
        estimate = np.exp(outputs[:, 0])
        return {
            "median_absolute_error": float(np.median(np.abs(estimate - salary))),
            "mean_absolute_error": float(np.mean(np.abs(estimate - salary))),
            "coverage": float(np.mean(self.hits(outputs, labels, salary))),
        }

    def decision(self, outputs, salary):
        threshold = self.settings.threshold
        return np.exp(outputs[:, 0]) > threshold, salary > threshold, f"predicted salary above ${threshold:,.0f}"

    def sentence(self, row):
        return (
            f"salary about ${row['salary']:,.0f} a year{_in(row, ' in ', ' dollars')} "
            f"(80% range ${row['low']:,.0f} - ${row['high']:,.0f})"
        )

    explained_name = "the salary estimate"

    def explained(self, outputs):
        return np.exp(outputs[:, 0])

    def effect_text(self, effect):
        return f"{'+' if effect >= 0 else '-'}${abs(effect):,.0f}"

    def small_effect(self, effect, value):
        return abs(effect) < 0.01 * value

    def value_text(self, value):
        return f"${value:,.0f}"

    def outcome(self, outputs):
        return (np.exp(outputs[:, 0]) > self.settings.threshold).astype(int)

    def outcome_text(self, outcome):
        return f"an estimate {'above' if outcome == 1 else 'at or below'} ${self.settings.threshold:,.0f}"

    def answer(self, row):
        return {"salary": float(row["salary"]), "low": float(row["low"]), "high": float(row["high"])}

    def metric_rows(self, test, majority):
        return [
            ("loss (recipe's loss)", f"{test['loss']:.4f}"),
            ("median absolute error", f"${test['median_absolute_error']:,.0f}"),
            ("mean absolute error", f"${test['mean_absolute_error']:,.0f}"),
            ("share inside the predicted range", f"{test['coverage']:.3f}"),
            ("median range width", f"${test['median_range_width']:,.0f}"),
            (
                "R² of log salary",
                "n/a (the salaries do not vary)" if test["r2_log"] is None else f"{test['r2_log']:.3f}",
            ),
        ]


TASKS = {task.name: task for task in (Binary, Bands, Range)}
TaskName = Literal[tuple(TASKS)]  # what a recipe's features.task may say


def task_of(settings: Any) -> Task:
    """The task of label settings: a recipe's features section or a fitted FeatureState (`.task` names it)."""
    return TASKS[settings.task](settings)
