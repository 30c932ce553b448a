"""Pure array metrics for a two-class model's outputs."""

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score


def probability(outputs: np.ndarray, last_activation: str) -> np.ndarray:
    """P(salary > threshold) per row from outputs float[rows, 1 or 2] -> float[rows].

    Two sigmoid outputs are independent scores; their normalised class-1 share is a probability
    whose 0.5 cut is exactly Keras's argmax decision. Softmax outputs already sum to one.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape[1] == 1:
        return np.clip(outputs[:, 0], 0.0, 1.0)
    if last_activation == "sigmoid":
        total = outputs.sum(axis=1)
        return np.divide(outputs[:, 1], total, out=np.full(len(outputs), 0.5), where=total > 0)
    return np.clip(outputs[:, 1], 0.0, 1.0)


def predicted_class(outputs: np.ndarray) -> np.ndarray:
    """Keras's decision: argmax of two outputs, or > 0.5 for one -> int[rows]."""
    outputs = np.asarray(outputs)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def binary_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Keras 2's 'accuracy' for binary cross-entropy: every output thresholded at 0.5 against the one-hot target."""
    outputs = np.asarray(outputs)
    target = np.eye(2)[labels] if outputs.shape[1] == 2 else np.asarray(labels)[:, None]
    return float(np.mean((outputs > 0.5) == (target > 0.5)))


def classification_metrics(labels: np.ndarray, outputs: np.ndarray, last_activation: str,
                           majority_class: int) -> dict:
    """labels: int[rows] in {0, 1}; outputs: float[rows, 1 or 2]."""
    labels = np.asarray(labels)
    pred = predicted_class(outputs)
    prob = probability(outputs, last_activation)
    both = len(np.unique(labels)) == 2
    tn, fp, fn, tp = confusion_matrix(labels, pred, labels=[0, 1]).ravel()
    return {
        "accuracy": float(np.mean(pred == labels)),
        "binary_accuracy": binary_accuracy(outputs, labels),
        "auc": float(roc_auc_score(labels, prob)) if both else None,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "positive_rate": float(np.mean(labels)),
        "majority_accuracy": float(np.mean(labels == majority_class)),
        "rows": int(len(labels)),
    }
