"""Pure array metrics: classes (binary or bands) and salary ranges."""

import numpy as np


def one_hot(labels: np.ndarray, out_size: int) -> np.ndarray:
    """int[rows] class labels -> float32[rows, out_size]: one-hot (Keras's to_categorical), or one 0/1 column."""
    labels = np.asarray(labels)
    if out_size == 1:
        return labels.astype(np.float32)[:, None]
    return np.eye(out_size, dtype=np.float32)[labels]


def _clipped(probs: np.ndarray) -> np.ndarray:
    """Probabilities kept off 0 (Keras's epsilon, 1e-7) and summing to one again, in float64."""
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1)
    return p / p.sum(axis=1, keepdims=True)


def class_probabilities(outputs: np.ndarray, last_activation: str) -> np.ndarray:
    """Outputs float[rows, 1 or K] -> probabilities float[rows, K >= 2] summing to one.

    Two sigmoid outputs are independent scores; their normalised shares make a probability whose
    0.5 cut is exactly Keras's argmax decision. Softmax outputs already sum to one.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape[1] == 1:
        p = np.clip(outputs[:, 0], 0.0, 1.0)
        return np.stack([1 - p, p], axis=1)
    if last_activation == "softmax":
        return outputs / outputs.sum(axis=1, keepdims=True)
    clipped = np.clip(outputs, 0.0, None)
    total = clipped.sum(axis=1, keepdims=True)
    return np.divide(clipped, total, out=np.full_like(clipped, 1.0 / clipped.shape[1]), where=total > 0)


def probability(outputs: np.ndarray, last_activation: str) -> np.ndarray:
    """P(salary > threshold) for a binary model; for bands, the probability of the predicted band -> float[rows]."""
    p = class_probabilities(outputs, last_activation)
    return p[:, 1] if p.shape[1] == 2 else p.max(axis=1)


def predicted_class(outputs: np.ndarray) -> np.ndarray:
    """Keras's decision: argmax of two or more outputs, or > 0.5 for one -> int[rows]."""
    outputs = np.asarray(outputs)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def binary_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Keras 2's 'accuracy' for binary cross-entropy: every output thresholded at 0.5 against the one-hot target."""
    outputs = np.asarray(outputs)
    target = one_hot(labels, outputs.shape[1])
    return float(np.mean((outputs > 0.5) == (target > 0.5)))


def classification_metrics(labels: np.ndarray, outputs: np.ndarray, last_activation: str, majority_class: int) -> dict:
    """labels: int[rows] in 0..K-1; outputs: float[rows, 1 or K]. The numbers scikit-learn's roc_auc_score (one
    band against the rest, averaged, for bands), log_loss and confusion_matrix give (tests/test_metrics.py holds
    them equal), in numpy: importing scikit-learn took longer than training the tutorial's network."""
    labels = np.asarray(labels)
    pred = predicted_class(outputs)
    probs = class_probabilities(outputs, last_activation)
    k = probs.shape[1]
    present = len(np.unique(labels))
    if k == 2:
        auc = mann_whitney_auc(labels, probs[:, 1]) if present == 2 else None
    else:  # bands: one band against the rest, averaged over bands
        auc = float(np.mean([mann_whitney_auc(labels == c, probs[:, c]) for c in range(k)])) if present == k else None
    result = {
        "accuracy": float(np.mean(pred == labels)),
        "binary_accuracy": binary_accuracy(outputs, labels),
        "auc": auc,
        "log_loss": float(-np.mean(np.log(_clipped(probs)[np.arange(len(labels)), labels]))),
        "positive_rate": float(np.mean(labels)) if k == 2 else None,
        "majority_accuracy": float(np.mean(labels == majority_class)),
        "rows": int(len(labels)),
    }
    matrix = np.bincount(labels * k + pred, minlength=k * k).reshape(k, k)  # rows: true class, columns: predicted
    if k == 2:
        tn, fp, fn, tp = matrix.ravel()
        result["confusion_matrix"] = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    else:
        result["confusion_matrix"] = matrix.tolist()
    return result


SPREAD_FLOOR = 1e-12  # per row, in squared log dollars: below it the salaries are one salary, up to float rounding


def regression_metrics(salary: np.ndarray, outputs: np.ndarray) -> dict:
    """salary: float[rows] in dollars; outputs: float[rows, 3] = log (estimate, low, high)."""
    salary = np.asarray(salary, dtype=float)
    estimate, low, high = (np.exp(np.asarray(outputs[:, j], dtype=float)) for j in range(3))
    error = np.abs(estimate - salary)
    log_error = np.log(salary) - np.asarray(outputs[:, 0], dtype=float)
    spread = float(np.sum((np.log(salary) - np.log(salary).mean()) ** 2))
    return {
        "median_absolute_error": float(np.median(error)),
        "mean_absolute_error": float(np.mean(error)),
        "coverage": float(np.mean((low <= salary) & (salary <= high))),
        "median_range_width": float(np.median(high - low)),
        # undefined (None, as an AUC with one class) where the salaries do not vary: one row, or all the same
        "r2_log": float(1 - np.sum(log_error**2) / spread) if spread > SPREAD_FLOOR * len(salary) else None,
        "rows": int(len(salary)),
    }


def mann_whitney_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties counted half): roc_auc_score's number, 5x faster
    (a report's bootstrap computes it a thousand times)."""
    ranks = average_ranks(np.asarray(scores))
    positives = np.asarray(labels).astype(bool)
    n_pos = positives.sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(labels) - n_pos)))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """float[n]: each value's rank from 1, ties sharing their average rank (scipy.stats.rankdata's default),
    in plain numpy: scipy's checks cost a millisecond a call, more than the sort."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # where each run of equal values starts
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(first) - 1]
    return ranks


def mean_sd(values) -> dict[str, float]:
    """Mean and sample standard deviation (0 for one value): how every spread over seeds or folds is told."""
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
