"""Figures as PNG bytes (matplotlib, no display)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves_png(history: dict[str, np.ndarray], title: str, majority_accuracy: float | None = None,
               metric_label: str = "accuracy") -> bytes:
    """Loss and accuracy per epoch, training vs validation, like R keras's plot(history).

    The majority class's accuracy is drawn as a dashed line: a model must rise above it to have learned anything.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], "o-", ms=2.5, label="training")
        if np.isfinite(history[f"val_{metric}"]).any():
            ax.plot(epochs, history[f"val_{metric}"], "o-", ms=2.5, label="validation")
        if metric == "accuracy" and majority_accuracy is not None:
            ax.axhline(majority_accuracy, color="grey", ls="--", lw=1, label="majority class (test)")
        ax.set_ylabel(metric_label if metric == "accuracy" else metric)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[-1].set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def roc_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], aucs: dict[str, float], title: str) -> bytes:
    """ROC curves of several models (pooled out-of-fold predictions), the diagonal for chance."""
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {aucs.get(name, float('nan')):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
