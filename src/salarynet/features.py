"""Answers -> numbers: the recipe's codes, min-max scaling fitted on training rows, the label."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .recipe import FeaturesSection
from .schemas import normalise


@dataclass(frozen=True)
class FeatureState:
    """Everything a prediction needs to turn answers into the network's inputs.

    codes: per column, answer (recipe spelling) -> number; minimum/maximum: float32[features],
    fitted on the training rows; threshold: salary above which the label is 1.
    """

    columns: tuple[str, ...]
    codes: tuple[dict[str, float], ...]
    minimum: np.ndarray
    maximum: np.ndarray
    threshold: float
    scale: str

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [
                {"column": c, "codes": codes, "min": float(lo), "max": float(hi)}
                for c, codes, lo, hi in zip(self.columns, self.codes, self.minimum, self.maximum)
            ],
            "threshold": self.threshold,
            "scale": self.scale,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureState":
        cols = data["columns"]
        return cls(
            columns=tuple(c["column"] for c in cols),
            codes=tuple({str(k): float(v) for k, v in c["codes"].items()} for c in cols),
            minimum=np.array([c["min"] for c in cols], np.float32),
            maximum=np.array([c["max"] for c in cols], np.float32),
            threshold=float(data["threshold"]),
            scale=str(data["scale"]),
        )


def encode_answers(frame: pd.DataFrame, columns: tuple[str, ...], codes: tuple[dict[str, float], ...],
                   source: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """(codes float64[rows, features], reason object[rows]): NaN codes where an answer is unusable.

    Answers match the recipe's spelling up to case, white space and curly quotes. The reason
    is '' for an encodable row, else the first column's problem: '<column>_blank' or
    '<column>_unlisted'.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column {missing[0]!r}; the model needs {', '.join(columns)}")
    out = np.full((len(frame), len(columns)), np.nan)
    reason = np.full(len(frame), "", dtype=object)
    for j, (column, mapping) in enumerate(zip(columns, codes)):
        lookup = {normalise(k): v for k, v in mapping.items()}
        answers = frame[column]
        keys = answers.fillna("").astype(str).map(normalise)
        out[:, j] = keys.map(lookup).astype(float).to_numpy()
        blank = answers.isna().to_numpy()
        unlisted = np.isnan(out[:, j]) & ~blank
        reason[(reason == "") & blank] = f"{column}_blank"
        reason[(reason == "") & unlisted] = f"{column}_unlisted"
    return out, reason


def fit(x_train: np.ndarray, columns: tuple[str, ...], codes: tuple[dict[str, float], ...],
        threshold: float, scale: str) -> FeatureState:
    """Learn min/max per column from the training rows (x_train: float[rows, features])."""
    if scale == "minmax":
        lo, hi = x_train.min(axis=0), x_train.max(axis=0)
    else:
        lo, hi = np.zeros(x_train.shape[1]), np.ones(x_train.shape[1])
    return FeatureState(columns, codes, lo.astype(np.float32), hi.astype(np.float32), float(threshold), scale)


def fit_from_recipe(x_train: np.ndarray, section: FeaturesSection) -> FeatureState:
    columns, codes = recipe_codes(section)
    return fit(x_train, columns, codes, section.threshold, section.scale)


def recipe_codes(section: FeaturesSection) -> tuple[tuple[str, ...], tuple[dict[str, float], ...]]:
    return tuple(c.column for c in section.columns), tuple(c.mapping() for c in section.columns)


def transform(state: FeatureState, codes: np.ndarray) -> np.ndarray:
    """Scale coded answers with the training rows' min/max -> float32[rows, features].

    A column constant on the training rows is divided by 1, not 0 (R would give NaN).
    Rows outside the training range scale outside [0, 1], as scikit-learn's MinMaxScaler does.
    """
    span = np.where(state.maximum > state.minimum, state.maximum - state.minimum, 1.0)
    return ((codes - state.minimum) / span).astype(np.float32)


def label(salary: np.ndarray, threshold: float) -> np.ndarray:
    """1 where salary > threshold, else 0 (the tutorial's 'categories') -> int32[rows]."""
    return (np.asarray(salary) > threshold).astype(np.int32)

