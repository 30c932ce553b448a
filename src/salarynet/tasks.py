"""What differs between the three tasks when an answer is shown to a person: its wording, its HTTP form, the
metrics a table lists. One class per task (pure Python: no JAX, no pandas); `task_of(state)` picks it."""

from typing import Any, ClassVar


def band_names(bands: tuple[float, ...]) -> list[str]:
    edges = [f"{b:,.0f}" for b in bands]
    return [f"<= {edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f"> {edges[-1]}"]


class Task:
    """A task over a fitted model's label settings (a FeatureState: threshold, bands)."""

    name: ClassVar[str]
    classes: ClassVar[bool] = True  # whether the model gives class probabilities

    def __init__(self, state: Any):
        self.state = state

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
        cm, auc = test["confusion_matrix"], test["auc"]
        return [("loss (recipe's loss)", f"{test['loss']:.4f}"),
                ("accuracy (argmax, Keras 3)", f"{test['accuracy']:.4f}"),
                ("binary accuracy (every output, Keras 2)", f"{test['binary_accuracy']:.4f}"),
                (self.auc_label, "n/a (a class is missing)" if auc is None else f"{auc:.4f}"),
                ("log loss", f"{test['log_loss']:.4f}"),
                ("majority-class accuracy", f"{majority if majority is not None else test['majority_accuracy']:.4f}"),
                *self.confusion_row(cm)]

    auc_label = "ROC AUC"

    def confusion_row(self, cm: Any) -> list[tuple[str, str]]:
        return [("confusion [true rows; predicted columns]", "[" + "; ".join(" ".join(map(str, r)) for r in cm) + "]")]


class Binary(Task):
    """Salary above the threshold, or not."""

    name = "binary"

    def sentence(self, row: dict[str, Any]) -> str:
        threshold = self.state.threshold
        return (f"P(salary > {threshold:,.0f}) = {row['probability']:.3f}  ->  "
                f"{'above' if row['prediction'] == 1 else 'at or below'} {threshold:,.0f}")

    def answer(self, row: dict[str, Any]) -> dict[str, Any]:
        predicted = int(row["prediction"])
        return {"probability": round(float(row["probability"]), 6), "class": predicted,
                "answer": f"{'above' if predicted == 1 else 'at or below'} ${self.state.threshold:,.0f}"}

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"threshold": self.state.threshold}

    def confusion_row(self, cm: Any) -> list[tuple[str, str]]:
        return [("confusion [tn fp; fn tp]", f"[{cm['tn']} {cm['fp']}; {cm['fn']} {cm['tp']}]")]


class Bands(Task):
    """Which of the salary bands."""

    name = "bands"
    auc_label = "ROC AUC (one band vs rest, mean)"

    def sentence(self, row: dict[str, Any]) -> str:
        return f"band {row['band']} (probability {row['probability']:.3f})"

    def answer(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"probability": round(float(row["probability"]), 6), "class": int(row["prediction"]), "band": row["band"]}

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"bands": band_names(self.state.bands)}


class Range(Task):
    """The salary itself, with a low-high range."""

    name = "regression"
    classes = False

    def sentence(self, row: dict[str, Any]) -> str:
        return f"salary about ${row['salary']:,.0f} a year (80% range ${row['low']:,.0f} - ${row['high']:,.0f})"

    def answer(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"salary": float(row["salary"]), "low": float(row["low"]), "high": float(row["high"])}

    def metric_rows(self, test: dict[str, Any], majority: float | None) -> list[tuple[str, str]]:
        return [("loss (recipe's loss)", f"{test['loss']:.4f}"),
                ("median absolute error", f"${test['median_absolute_error']:,.0f}"),
                ("mean absolute error", f"${test['mean_absolute_error']:,.0f}"),
                ("share inside the predicted range", f"{test['coverage']:.3f}"),
                ("median range width", f"${test['median_range_width']:,.0f}"),
                ("R² of log salary", f"{test['r2_log']:.3f}")]


TASKS = {task.name: task for task in (Binary, Bands, Range)}


def task_of(state: Any) -> Task:
    """The task of a fitted model's label settings (FeatureState.task names it)."""
    return TASKS[state.task](state)
