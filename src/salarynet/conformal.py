"""Split-conformal salary ranges: conformalized quantile regression (Romano, Patterson and Candès, 2019).

The range model's low and high outputs are quantiles learned by training; nothing makes 80% of salaries fall
between them. A calibration slice of the training rows, used neither to fit nor to stop early, measures how
far each true log salary lies outside its range (negative inside): s = max(low - y, y - high). Widening every
range by the ceil((n + 1) * 0.8)-th smallest of the n scores (narrowing where it is negative) gives at least
80% coverage for any row exchangeable with the calibration rows, whatever the network learned. With `by`
(Mondrian conformal), each answer of that question gets its own correction from its own calibration rows, so
coverage holds within each group, not only on average; groups with too few calibration rows use the overall one.

Plain data in, plain data out: outputs are log salary (estimate, low, high) in the network's scaled units."""

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ArtifactError
from .features import Frame, answer_keys


@dataclass(frozen=True)
class ConformalState:
    coverage: float  # the range's nominal share: quantiles high - low
    correction: float  # overall, in log salary (the network's outputs are scaled: divide by the label's spread)
    rows: int  # calibration rows
    by: str | None = None  # Mondrian: the question whose answers have their own correction
    groups: dict[str, float] = field(default_factory=dict)  # answer key -> correction (groups with enough rows)
    group_rows: dict[str, int] = field(default_factory=dict)  # answer key -> its calibration rows (every group)

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "correction": self.correction,
            "rows": self.rows,
            "by": self.by,
            "groups": self.groups,
            "group_rows": self.group_rows,
        }

    @classmethod
    def from_json(cls, data: Any, path: Any) -> "ConformalState":
        try:
            state = cls(
                float(data["coverage"]),
                float(data["correction"]),
                int(data["rows"]),
                None if data["by"] is None else str(data["by"]),
                {str(k): float(v) for k, v in data["groups"].items()},
                {str(k): int(v) for k, v in data["group_rows"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ArtifactError(
                f"{path}: damaged conformal calibration ({type(e).__name__}: {e}); train the run again"
            ) from None
        if not (
            0 < state.coverage < 1
            and state.rows > 0
            and all(map(math.isfinite, [state.correction, *state.groups.values()]))
        ):
            raise ArtifactError(f"{path}: the conformal calibration is out of range; train the run again")
        return state


def scores(outputs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """How far each target lies outside its (sorted) range; negative inside."""
    low, high = np.sort(outputs[:, 1:3], axis=1).T
    return np.maximum(low - target, target - high)


def correction(s: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) * coverage)-th smallest score: the finite-sample conformal quantile. inf where n is too
    small for any finite correction to promise the coverage (n < coverage / (1 - coverage))."""
    k = math.ceil((len(s) + 1) * coverage)
    return float(np.sort(s)[k - 1]) if k <= len(s) else math.inf


def group_keys(frame: Frame, by: str | None) -> list[str]:
    """Each row's group: its answer to `by`, folded as the features fold answers ("(blank)" when missing)."""
    if by is None:
        return ["(all)"] * len(frame)
    return answer_keys(frame[by] if by in frame else [None] * len(frame), "(blank)")


def calibrate(
    outputs: np.ndarray,
    target: np.ndarray,
    frame: Frame,
    coverage: float,
    spread: float,
    by: str | None = None,
    min_rows: int = 30,
) -> ConformalState:
    """The corrections from calibration rows' outputs (scaled log salary) and targets (scaled log salary)."""
    s = scores(outputs, target) * spread
    overall = correction(s, coverage)
    if not math.isfinite(overall):
        raise ValueError(f"{len(s)} calibration rows are too few for a {coverage:.0%} conformal range")
    keys = np.asarray(group_keys(frame, by), dtype=object)
    names, counts = np.unique(keys, return_counts=True) if by else (np.zeros(0), np.zeros(0))
    groups = {str(g): correction(s[keys == g], coverage) for g, n in zip(names, counts) if n >= min_rows}
    groups = {g: c for g, c in groups.items() if math.isfinite(c)}  # too few rows for any finite correction
    return ConformalState(coverage, overall, len(s), by, groups, {str(g): int(n) for g, n in zip(names, counts)})


def apply(state: ConformalState, outputs: np.ndarray, frame: Frame | None, spread: float) -> np.ndarray:
    """Outputs with each range sorted, widened (or narrowed) by its group's correction, and never narrower than
    the estimate itself: (estimate, low, high) in scaled log salary."""
    out = np.array(outputs, dtype=np.float64, copy=True)
    keys = group_keys(frame, state.by) if frame is not None else ["(all)"] * len(out)
    c = np.array([state.groups.get(k, state.correction) for k in keys]) / spread
    low, high = np.sort(out[:, 1:3], axis=1).T
    out[:, 1] = np.minimum(low - c, out[:, 0])
    out[:, 2] = np.maximum(high + c, out[:, 0])
    return out
