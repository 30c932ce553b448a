"""Figures as PNG bytes (matplotlib's Figure, no display). No pyplot: pyplot's backend is the process's, and a
notebook's inline plots would stop showing once a run is saved (matplotlib.use("Agg") switches it for everyone)."""

import io

import numpy as np
from matplotlib.figure import Figure


def subplots(*args, **kwargs):
    """(figure, axes) as pyplot.subplots gives them, on a figure no pyplot state knows of."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(*args, **kwargs)


def curves_png(
    history: dict[str, np.ndarray],
    title: str,
    majority_accuracy: float | None = None,
    metric_label: str = "accuracy",
    kept_epoch: int | None = None,
) -> bytes:
    """Loss and accuracy per epoch, training vs validation, like R keras's plot(history).

    The majority class's accuracy is drawn as a dashed line: a model must rise above it to have learned anything.
    kept_epoch (early stopping): the epoch whose weights the model kept, marked on both panels.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = subplots(2, 1, figsize=(7, 6), sharex=True)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], "o-", ms=2.5, label="training")
        if np.isfinite(history[f"val_{metric}"]).any():
            ax.plot(epochs, history[f"val_{metric}"], "o-", ms=2.5, label="validation")
        if metric == "accuracy" and majority_accuracy is not None:
            ax.axhline(majority_accuracy, color="grey", ls="--", lw=1, label="majority class (test)")
        if kept_epoch is not None:
            ax.axvline(kept_epoch, color="#b91c1c", ls=":", lw=1.5, label=f"kept: epoch {kept_epoch} (best val_loss)")
        ax.set_ylabel(metric_label if metric == "accuracy" else metric)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[-1].set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def roc_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], aucs: dict[str, float], title: str) -> bytes:
    """ROC curves of several models (pooled out-of-fold predictions), the diagonal for chance."""
    fig, ax = subplots(figsize=(6, 6))
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
    return buffer.getvalue()


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def roc_pr_png(labels: np.ndarray, probability: np.ndarray, auc: float, average_precision: float) -> bytes:
    """ROC and precision-recall curves of one binary model on its test rows."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(labels, probability)
    precision, recall, _ = precision_recall_curve(labels, probability)
    fig, (a, b) = subplots(1, 2, figsize=(10, 4.4))
    a.plot(fpr, tpr, lw=1.8, label=f"model (AUC {auc:.3f})")
    a.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    b.plot(recall, precision, lw=1.8, label=f"model (average precision {average_precision:.3f})")
    b.axhline(np.mean(labels), color="grey", ls="--", lw=1, label=f"chance ({np.mean(labels):.3f})")
    b.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is a else "upper right", fontsize=8)
    return _png(fig)


def calibration_png(
    mean_predicted: np.ndarray, observed: np.ndarray, counts: np.ndarray, ece: float, what: str
) -> bytes:
    """Reliability diagram: observed frequency against mean predicted probability per bin, and the bins' sizes."""
    fig, (a, b) = subplots(2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    a.plot(mean_predicted, observed, "o-", lw=1.8, label=f"model (ECE {ece:.3f})")
    a.set(ylabel=f"observed share ({what})", title="calibration", ylim=(-0.02, 1.02))
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    b.bar(mean_predicted, counts, width=0.06, color="#60a5fa")
    b.set(xlabel="predicted probability", ylabel="rows", xlim=(0, 1))
    return _png(fig)


def confusion_png(matrix: np.ndarray, names: list[str]) -> bytes:
    fig, ax = subplots(figsize=(1.2 * len(names) + 2.6, 1.1 * len(names) + 2))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:,}", ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (test rows)")
    return _png(fig)


def predicted_vs_true_png(
    salary: np.ndarray, estimate: np.ndarray, low: np.ndarray, high: np.ndarray, coverage: float
) -> bytes:
    """Predicted against true salary (log axes), a sample's 10-90% ranges as bars."""
    fig, ax = subplots(figsize=(6.5, 6))
    inside = (low <= salary) & (salary <= high)
    sample = np.random.default_rng(0).choice(len(salary), min(300, len(salary)), replace=False)
    ax.vlines(salary[sample], low[sample], high[sample], color="#cbd5e1", lw=1, label="10-90% range (300 rows)")
    ax.scatter(salary[inside], estimate[inside], s=4, alpha=0.35, color="#2563eb", label="true salary inside its range")
    ax.scatter(salary[~inside], estimate[~inside], s=4, alpha=0.35, color="#dc2626", label="outside")
    lo, hi = np.percentile(np.concatenate([salary, estimate]), [0.5, 99.5])
    ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="true salary ($)",
        ylabel="predicted salary ($)",
        title=f"predicted vs true; coverage {coverage:.3f}",
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def groups_png(tables: dict[str, list[dict]], decision: str) -> bytes:
    """Per group: selection rate, true and false positive rates of the decision, one panel per attribute."""
    fig, axes = subplots(1, len(tables), figsize=(5.2 * len(tables), 4.4), squeeze=False)
    for ax, (attribute, rows) in zip(axes[0], tables.items()):
        rows = [r for r in rows if r["count"] >= 30]
        names = [r["group"] for r in rows]
        y = np.arange(len(rows))
        for k, (key, color) in enumerate([("selection_rate", "#2563eb"), ("tpr", "#16a34a"), ("fpr", "#dc2626")]):
            ax.barh(
                y + (k - 1) * 0.27,
                [r[key] if r[key] is not None else 0 for r in rows],
                height=0.26,
                color=color,
                label={"selection_rate": "selection rate", "tpr": "true positive rate", "fpr": "false positive rate"}[
                    key
                ],
            )
        ax.set_yticks(y, [n if len(n) < 28 else n[:26] + "…" for n in names], fontsize=8)
        ax.invert_yaxis()
        ax.set(xlim=(0, 1), title=f"{attribute} (groups of 30+ rows)")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"decision: {decision}")
    return _png(fig)


def importance_png(importance: dict[str, float], what: str) -> bytes:
    names = list(importance)[::-1]
    fig, ax = subplots(figsize=(6.5, 0.35 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names], color="#2563eb")
    ax.set(xlabel=what, title="permutation importance per survey question")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)
