"""Honest comparison on the same stratified folds: majority class, logistic regression, gradient
boosting, the tutorial's MLP and a recipe's model; permutation importance per survey question."""

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from . import features, metrics, pipeline
from .data import Survey, salary_rows
from .model import Inputs
from .recipe import Recipe, load_recipe

Predictor = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]  # (train rows, labels, test rows) -> outputs


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
    def predict(train_rows, labels, test_rows):
        x_train, x_test = _answers(recipe, train_rows), _answers(recipe, test_rows)
        if recipe.features.task == "regression":  # ridge on log salary; the range from its residuals' quantiles
            model = make_pipeline(_sparse_features(recipe), Ridge(alpha=1.0)).fit(x_train, labels)
            residual = labels - model.predict(x_train)
            low, high = np.quantile(residual, recipe.features.quantiles)
            estimate = model.predict(x_test)
            return _range_outputs(estimate, estimate + low, estimate + high)
        model = make_pipeline(_sparse_features(recipe), LogisticRegression(C=1.0, max_iter=3000))
        return model.fit(x_train, labels).predict_proba(x_test)
    return predict


def boosting(recipe: Recipe) -> Predictor:
    def predict(train_rows, labels, test_rows):
        encode = _dense_features(recipe).fit(_answers(recipe, train_rows))
        x_train, x_test = encode.transform(_answers(recipe, train_rows)), encode.transform(_answers(recipe, test_rows))
        cats = np.arange(len(recipe.features.columns))
        if recipe.features.task == "regression":
            fitted = [HistGradientBoostingRegressor(loss=loss, quantile=q, categorical_features=cats, random_state=0)
                      .fit(x_train, labels).predict(x_test)
                      for loss, q in [("squared_error", None), ("quantile", recipe.features.quantiles[0]),
                                      ("quantile", recipe.features.quantiles[1])]]
            return _range_outputs(*fitted)
        model = HistGradientBoostingClassifier(categorical_features=cats, random_state=0)
        return model.fit(x_train, labels).predict_proba(x_test)
    return predict


def majority(recipe: Recipe) -> Predictor:
    def predict(train_rows, labels, test_rows):
        if recipe.features.task == "regression":
            low, mid, high = np.quantile(labels, [recipe.features.quantiles[0], 0.5, recipe.features.quantiles[1]])
            return np.tile([mid, low, high], (len(test_rows), 1))
        freq = np.bincount(labels, minlength=recipe.features.classes) / len(labels)
        return np.tile(freq, (len(test_rows), 1))
    return predict


def _fit_fold(recipe: Recipe, train_rows: pd.DataFrame, labels: np.ndarray) \
        -> tuple[features.FeatureState, Callable[[Inputs], np.ndarray]]:
    """Train the recipe on a fold's rows (its own validation split inside them) -> (state, rows' inputs ->
    outputs: class probabilities, or log salary with its range)."""
    frame = train_rows.reset_index(drop=True)
    fold = Survey(frame, "fold", "form")
    salary = salary_rows(fold, recipe.data.currency, recipe.data.min_salary, recipe.data.max_salary)[0].to_numpy()
    sel = pipeline.Selection(frame, salary, labels, {"read": len(frame), "kept": len(frame), "excluded": {}})
    prep = pipeline.prepare(fold, recipe, sel=sel, split=(np.arange(len(frame)), np.arange(0)))
    spec, params, _, _ = pipeline.train_prepared(recipe, [prep], [recipe.seed])
    return prep.state, pipeline.predictor(spec, params[0], prep.state)


def network(recipe: Recipe) -> Predictor:
    """A salarynet recipe trained on the fold's rows."""
    def predict(train_rows, labels, test_rows):
        state, outputs = _fit_fold(recipe, train_rows, labels)
        return outputs(features.encode(state, test_rows)[0])
    return predict


def tutorial_mlp(recipe: Recipe) -> Predictor | None:
    """The tutorial's network, optimizer and fit on its four answers (answers outside its lists coded 0,
    so that every row counts), for the recipe's binary label."""
    if recipe.features.task != "binary":
        return None
    overrides = [f"features.columns.{i}.unlisted=\"zero\"" for i in range(4)] + [
        f"features.threshold={recipe.features.threshold}", "data.currency=\"convert\"", f"seed={recipe.seed}"]
    return network(load_recipe("tutorial", overrides))


def fold_metrics(recipe: Recipe, outputs: np.ndarray, labels: np.ndarray, salary: np.ndarray, majority_class: int) -> dict:
    if recipe.features.task == "regression":
        return metrics.regression_metrics(salary, outputs)
    activation = "softmax"  # every predictor above returns class probabilities
    m = metrics.classification_metrics(labels, outputs, activation, majority_class)
    return {k: m[k] for k in ("accuracy", "auc", "log_loss")}


def permutation_importance(recipe: Recipe, state: features.FeatureState, outputs: Callable[[Inputs], np.ndarray],
                           x: Inputs, labels: np.ndarray, salary: np.ndarray, majority_class: int, repeats: int = 3,
                           seed: int = 0) -> dict[str, float]:
    """Per survey question (the text columns together as one): how much the score drops when that
    question's answers are shuffled across the test rows. Score: AUC, or minus the median dollar error.
    The encoded inputs are shuffled, so the rows are encoded once."""
    def score(out):
        m = fold_metrics(recipe, out, labels, salary, majority_class)
        return -m["median_absolute_error"] if recipe.features.task == "regression" else (m["auc"] or m["accuracy"])

    base = score(outputs(x))
    rng = np.random.default_rng(seed)
    drops = {}
    for name, part in features.question_parts(state).items():
        losses = []
        for _ in range(repeats):
            losses.append(base - score(outputs(features.shuffle_question(x, part, rng.permutation(len(labels))))))
        drops[name] = float(np.mean(losses))
    return dict(sorted(drops.items(), key=lambda kv: -kv[1]))


def compare(survey: Survey, recipe: Recipe, folds: int = 5, on_step: Callable[[str], None] | None = None,
            importance: bool = True) -> dict[str, Any]:
    """Every model on the same stratified folds of the recipe's rows -> per-model fold metrics, their mean
    and sd, pooled out-of-fold outputs (for ROC curves) and permutation importance (first fold)."""
    sel = pipeline.select_rows(survey, recipe)
    models: dict[str, Predictor] = {"majority class": majority(recipe), "logistic regression": logistic(recipe),
                                    "gradient boosting": boosting(recipe)}
    if (tut := tutorial_mlp(recipe)) is not None:
        models["tutorial MLP"] = tut
    models[f"salarynet {recipe.name}"] = network(recipe)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=recipe.seed)
    results = {name: {"folds": [], "seconds": 0.0} for name in models}
    pooled = {name: np.zeros((len(sel.labels), 3 if recipe.features.task == "regression" else recipe.features.classes))
              for name in models}
    importance_table = None
    for k, (train_idx, test_idx) in enumerate(splitter.split(sel.frame, pipeline.strata(sel, recipe.features.task))):
        train_rows, test_rows = sel.frame.iloc[train_idx], sel.frame.iloc[test_idx]
        majority_class = pipeline.majority(sel.labels[train_idx])
        for name, predict in models.items():
            if on_step:
                on_step(f"fold {k + 1}/{folds}: {name}")
            started = time.perf_counter()
            outputs = predict(train_rows, sel.labels[train_idx], test_rows)
            results[name]["seconds"] += time.perf_counter() - started
            pooled[name][test_idx] = outputs
            results[name]["folds"].append(fold_metrics(recipe, outputs, sel.labels[test_idx], sel.salary[test_idx],
                                                       majority_class))
        if importance and k == 0:
            if on_step:
                on_step("permutation importance")
            importance_table = _importance(recipe, sel, train_idx, test_idx, majority_class)
    for name, r in results.items():
        r["mean"] = {m: float(np.mean([f[m] for f in r["folds"]])) for m in r["folds"][0] if r["folds"][0][m] is not None}
        r["sd"] = {m: float(np.std([f[m] for f in r["folds"]], ddof=1)) if folds > 1 else 0.0 for m in r["mean"]}
    return {"recipe": recipe.name, "task": recipe.features.task, "folds": folds, "rows": sel.rows, "models": results,
            "importance": importance_table, "_pooled": pooled, "_labels": sel.labels}


def _importance(recipe: Recipe, sel: pipeline.Selection, train_idx, test_idx, majority_class: int) -> dict[str, float]:
    state, outputs = _fit_fold(recipe, sel.frame.iloc[train_idx], sel.labels[train_idx])
    x, _ = features.encode(state, sel.frame.iloc[test_idx])
    return permutation_importance(recipe, state, outputs, x, sel.labels[test_idx], sel.salary[test_idx], majority_class)


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
