"""Honest comparison on the same stratified folds: majority class, logistic regression, gradient
boosting, the tutorial's MLP and a recipe's model; permutation importance per survey question."""

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from .. import features
from ..data.survey import Survey
from ..estimator import SalaryNet
from ..nn.metrics import mean_sd
from ..nn.model import Inputs
from ..recipe import Recipe, load_recipe
from ..rows import Selection, select_rows
from ..tasks import Binary, task_of

Predictor = Callable[[Selection, pd.DataFrame], np.ndarray]  # (training rows, test rows) -> outputs


def _answers(recipe: Recipe, frame: pd.DataFrame) -> pd.DataFrame:
    """Every non-text answer as text ('(blank)' for blanks), and the text columns joined as 'text'."""
    cols = [c.column for c in recipe.features.columns]
    out = frame.reindex(columns=cols).astype(object).where(frame.reindex(columns=cols).notna(), "(blank)").astype(str)
    if recipe.features.text:
        out["text"] = features.text_of(frame.reindex(columns=recipe.features.text.columns), recipe.features.text.columns)
    return out


def _sparse_features(recipe: Recipe):
    parts = [(OneHotEncoder(handle_unknown="ignore", min_frequency=5), [c.column for c in recipe.features.columns])]
    if recipe.features.text:
        parts += [(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), "text"),
                  (TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=3, sublinear_tf=True), "text")]
    return make_column_transformer(*parts)


def _dense_features(recipe: Recipe):
    parts = [(OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=20),
              [c.column for c in recipe.features.columns])]
    if recipe.features.text:  # the title as its 30 main TF-IDF directions
        parts.append((make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                                    TruncatedSVD(30, random_state=0)), "text"))
    return make_column_transformer(*parts, sparse_threshold=0)


def _range_outputs(estimate: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.stack([estimate, low, high], axis=1)


def logistic(recipe: Recipe) -> Predictor:
    def predict(train, test_rows):
        labels = train.labels
        x_train, x_test = _answers(recipe, train.frame), _answers(recipe, test_rows)
        if not task_of(recipe.features).classes:  # ridge on log salary; the range from its residuals' quantiles
            model = make_pipeline(_sparse_features(recipe), Ridge(alpha=1.0)).fit(x_train, labels)
            residual = labels - model.predict(x_train)
            low, high = np.quantile(residual, recipe.features.quantiles)
            estimate = model.predict(x_test)
            return _range_outputs(estimate, estimate + low, estimate + high)
        model = make_pipeline(_sparse_features(recipe), LogisticRegression(C=1.0, max_iter=3000))
        return model.fit(x_train, labels).predict_proba(x_test)
    return predict


def boosting(recipe: Recipe) -> Predictor:
    def predict(train, test_rows):
        labels = train.labels
        encode = _dense_features(recipe).fit(_answers(recipe, train.frame))
        x_train, x_test = encode.transform(_answers(recipe, train.frame)), encode.transform(_answers(recipe, test_rows))
        cats = np.arange(len(recipe.features.columns))
        if not task_of(recipe.features).classes:
            fitted = [HistGradientBoostingRegressor(loss=loss, quantile=q, categorical_features=cats, random_state=0)
                      .fit(x_train, labels).predict(x_test)
                      for loss, q in [("squared_error", None), ("quantile", recipe.features.quantiles[0]),
                                      ("quantile", recipe.features.quantiles[1])]]
            return _range_outputs(*fitted)
        model = HistGradientBoostingClassifier(categorical_features=cats, random_state=0)
        return model.fit(x_train, labels).predict_proba(x_test)
    return predict


def majority(recipe: Recipe) -> Predictor:
    def predict(train, test_rows):
        labels = train.labels
        if not task_of(recipe.features).classes:
            low, mid, high = np.quantile(labels, [recipe.features.quantiles[0], 0.5, recipe.features.quantiles[1]])
            return np.tile([mid, low, high], (len(test_rows), 1))
        freq = np.bincount(labels, minlength=recipe.features.classes) / len(labels)
        return np.tile(freq, (len(test_rows), 1))
    return predict


def network(recipe: Recipe) -> Predictor:
    """A salarynet recipe trained on the fold's rows (its own validation split inside them)."""
    def predict(train, test_rows):
        net = SalaryNet(recipe).fit_selected(train, "fold")
        return net.outputs(net.encode(test_rows)[0])
    return predict


def tutorial_mlp(recipe: Recipe) -> Predictor | None:
    """The tutorial's network, optimizer and fit on its four answers (answers outside its lists coded 0,
    so that every row counts), for the recipe's label when it is the tutorial's (above a threshold)."""
    if not isinstance(task_of(recipe.features), Binary):
        return None
    overrides = [f"features.columns.{i}.unlisted=\"zero\"" for i in range(4)] + [
        f"features.threshold={recipe.features.threshold}", "data.currency=\"convert\"", f"seed={recipe.seed}"]
    return network(load_recipe("tutorial", overrides))


def permutation_importance(net: SalaryNet, x: Inputs, labels: np.ndarray, salary: np.ndarray, majority_class: int,
                           repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """Per survey question (the text columns together as one): how much the score drops when that
    question's answers are shuffled across the test rows. Score: AUC, or minus the median dollar error.
    The encoded inputs are shuffled, so the rows are encoded once."""
    task = net.task_

    def score(out):
        return task.headline(task.fold_metrics(out, labels, salary, majority_class))

    base = score(net.outputs(x))
    rng = np.random.default_rng(seed)
    drops = {}
    for name, part in features.question_parts(net.features_).items():
        losses = []
        for _ in range(repeats):
            losses.append(base - score(net.outputs(features.shuffle_question(x, part, rng.permutation(len(labels))))))
        drops[name] = float(np.mean(losses))
    return dict(sorted(drops.items(), key=lambda kv: -kv[1]))


def _subset(sel: Selection, rows: np.ndarray) -> Selection:
    return Selection(sel.frame.iloc[rows].reset_index(drop=True), sel.salary[rows], sel.labels[rows],
                     {"read": len(rows), "kept": len(rows), "excluded": {}})


def compare(survey: Survey, recipe: Recipe, folds: int = 5, on_step: Callable[[str], None] | None = None,
            importance: bool = True) -> dict[str, Any]:
    """Every model on the same stratified folds of the recipe's rows -> per-model fold metrics, their mean
    and sd, pooled out-of-fold outputs (for ROC curves) and permutation importance (first fold)."""
    sel = select_rows(survey, recipe)
    task = task_of(recipe.features)
    models: dict[str, Predictor] = {"majority class": majority(recipe), "logistic regression": logistic(recipe),
                                    "gradient boosting": boosting(recipe)}
    if (tut := tutorial_mlp(recipe)) is not None:
        models["tutorial MLP"] = tut
    models[f"salarynet {recipe.name}"] = network(recipe)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=recipe.seed)
    results = {name: {"folds": [], "seconds": 0.0} for name in models}
    pooled = {name: np.zeros((len(sel.labels), task.output_width())) for name in models}
    importance_table = None
    for k, (train_idx, test_idx) in enumerate(splitter.split(sel.frame, task.strata(sel.labels))):
        train, test_rows = _subset(sel, train_idx), sel.frame.iloc[test_idx]
        majority_class = task.majority(train.labels)
        for name, predict in models.items():
            if on_step:
                on_step(f"fold {k + 1}/{folds}: {name}")
            started = time.perf_counter()
            outputs = predict(train, test_rows)
            results[name]["seconds"] += time.perf_counter() - started
            pooled[name][test_idx] = outputs
            results[name]["folds"].append(task.fold_metrics(outputs, sel.labels[test_idx], sel.salary[test_idx],
                                                            majority_class))
        if importance and k == 0:
            if on_step:
                on_step("permutation importance")
            net = SalaryNet(recipe).fit_selected(train, "fold")
            importance_table = permutation_importance(net, net.encode(test_rows)[0], sel.labels[test_idx],
                                                      sel.salary[test_idx], majority_class)
    for name, r in results.items():
        spreads = {m: mean_sd([f[m] for f in r["folds"]]) for m in r["folds"][0] if r["folds"][0][m] is not None}
        r["mean"], r["sd"] = ({m: s[k] for m, s in spreads.items()} for k in ("mean", "sd"))
    return {"recipe": recipe.name, "task": task.name, "_task": task, "folds": folds, "rows": sel.rows, "models": results,
            "importance": importance_table, "_pooled": pooled, "_labels": sel.labels}


def roc_points(report: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pooled out-of-fold ROC curves of a binary comparison."""
    labels = report["_labels"]
    return {name: roc_curve(labels, outputs[:, 1])[:2] for name, outputs in report["_pooled"].items()}


def markdown(report: dict[str, Any]) -> str:
    names = list(report["models"])
    metric_names = [m for m in report["models"][names[-1]]["mean"] if m != "rows"]
    lines = [f"| model | {' | '.join(metric_names)} | seconds |", "|---|" + "---:|" * (len(metric_names) + 1)]
    for name in names:
        r = report["models"][name]
        cells = [f"{r['mean'][m]:,.4f} ± {r['sd'][m]:,.4f}" if abs(r['mean'][m]) < 100 else
                 f"{r['mean'][m]:,.0f} ± {r['sd'][m]:,.0f}" for m in metric_names if m in r["mean"]]
        cells += ["n/a"] * (len(metric_names) - len(cells))
        lines.append(f"| {name} | {' | '.join(cells)} | {r['seconds']:.1f} |")
    return "\n".join(lines)
