"""Honest comparison on the same stratified folds: majority class, logistic regression (as is, and with C
chosen by inner CV), gradient boosting, CatBoost (where installed), the tutorial's MLP and a recipe's model;
permutation importance per survey question."""

import tempfile
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
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from .. import features, linear, rows, training
from ..data.survey import Survey
from ..nn.metrics import mean_sd
from ..nn.spec import Inputs
from ..predictor import Predictor as PredictorModel
from ..recipe import Recipe, load_recipe
from ..rows import Selection, select_rows
from ..tasks import Binary, task_of

Predictor = Callable[[Selection, pd.DataFrame], np.ndarray]  # (training rows, test rows) -> outputs

C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)  # logistic regression's inverse L2 strength, chosen by inner CV
ALPHA_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)  # ridge's L2 strength (the range task), chosen by inner CV: 4 on fold 1
INNER_FOLDS = 3
# CatBoost: about 30 s a fold on 2 cores for the binary label (18.8k training rows). 600 rounds at 0.12 scored as
# well as 1000 at 0.08 on the first fold (AUC 0.908 / 0.907) in 55% of the time; combinations of at most two
# categories (the default four: +12% time, no gain); the title's words and word pairs, lowercased, as the 200
# commonest of each present or not plus (classes only) a naive Bayes score: CatBoost's default, every token
# of two 50k dictionaries as a feature, took 5x as long and scored lower.
CATBOOST = {
    "iterations": 600,
    "learning_rate": 0.12,
    "max_ctr_complexity": 2,
    "thread_count": 2,
    "verbose": False,
    "allow_writing_files": False,
}
CATBOOST_TEXT = {
    "tokenizers": [{"tokenizer_id": "Space", "separator_type": "ByDelimiter", "delimiter": " ", "lowercasing": "true"}],
    "dictionaries": [
        {"dictionary_id": "Word", "gram_order": "1", "occurrence_lower_bound": "3"},
        {"dictionary_id": "BiGram", "gram_order": "2", "occurrence_lower_bound": "3"},
    ],
}


def _answers(recipe: Recipe, frame: pd.DataFrame) -> pd.DataFrame:
    """Every non-text answer as text ('(blank)' for blanks), and the text columns joined as 'text'."""
    cols = [c.column for c in recipe.features.columns]
    out = frame.reindex(columns=cols).astype(object).where(frame.reindex(columns=cols).notna(), "(blank)").astype(str)
    if recipe.features.text:
        out["text"] = features.text_of(frame, recipe.features.text.columns)
    return out


def _sparse_features(recipe: Recipe):
    parts = [(OneHotEncoder(handle_unknown="ignore", min_frequency=5), [c.column for c in recipe.features.columns])]
    if recipe.features.text:
        parts += [
            (TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), "text"),
            (TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=3, sublinear_tf=True), "text"),
        ]
    return make_column_transformer(*parts)


def _dense_features(recipe: Recipe):
    parts = [
        (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=20),
            [c.column for c in recipe.features.columns],
        )
    ]
    if recipe.features.text:  # the title as its 30 main TF-IDF directions
        parts.append(
            (
                make_pipeline(
                    TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), TruncatedSVD(30, random_state=0)
                ),
                "text",
            )
        )
    return make_column_transformer(*parts, sparse_threshold=0)


def _range_outputs(estimate: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.stack([estimate, low, high], axis=1)


def _residual_range(
    recipe: Recipe, model, x_train: pd.DataFrame, labels: np.ndarray, x_test: pd.DataFrame
) -> np.ndarray:
    """A fitted regression on log salary -> (estimate, low, high), the range from its training residuals' quantiles."""
    low, high = np.quantile(labels - model.predict(x_train), recipe.features.quantiles)
    estimate = model.predict(x_test)
    return _range_outputs(estimate, estimate + low, estimate + high)


def _every_class(proba: np.ndarray, classes: np.ndarray, width: int) -> np.ndarray:
    """predict_proba's columns (the classes seen in training) -> float[rows, width], 0 for an unseen class."""
    out = np.zeros((len(proba), width))
    out[:, np.asarray(classes, dtype=int)] = proba
    return out


def logistic(recipe: Recipe) -> Predictor:
    def predict(train, test_rows):
        labels = train.labels
        x_train, x_test = _answers(recipe, train.frame), _answers(recipe, test_rows)
        if not task_of(recipe.features).classes:  # ridge on log salary; the range from its residuals' quantiles
            model = make_pipeline(_sparse_features(recipe), Ridge(alpha=1.0)).fit(x_train, labels)
            return _residual_range(recipe, model, x_train, labels, x_test)
        model = make_pipeline(_sparse_features(recipe), LogisticRegression(C=1.0, max_iter=3000))
        return model.fit(x_train, labels).predict_proba(x_test)

    return predict


def tuned_linear(recipe: Recipe, train: Selection) -> GridSearchCV:
    """logistic()'s model with C (ridge's alpha, for a range) chosen by stratified 3-fold CV on the training
    rows alone (log loss; squared error of log salary), the features refit inside every inner fold, then
    refit on all the training rows at the chosen value (`.best_params_`, `.best_estimator_`). Each inner
    fold's features are fitted once for the whole grid (the pipeline's cache, a temporary folder)."""
    task = task_of(recipe.features)
    x = _answers(recipe, train.frame)
    if task.classes:
        model, grid, scoring = LogisticRegression(max_iter=3000), {"logisticregression__C": C_GRID}, "neg_log_loss"
    else:
        model, grid, scoring = Ridge(), {"ridge__alpha": ALPHA_GRID}, "neg_mean_squared_error"
    inner = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=recipe.seed).split(x, task.strata(train.labels))
    # One thread: the solver's OpenMP and BLAS threads spin-wait, and on a busy 2-core machine two of them took
    # 311 s where one took 23 s (the first fold of the recommended recipe).
    with tempfile.TemporaryDirectory(prefix="salarynet-compare-") as cache, threadpool_limits(1):
        search = GridSearchCV(
            make_pipeline(_sparse_features(recipe), model, memory=cache),
            grid,
            scoring=scoring,
            cv=list(inner),
            n_jobs=1,
        ).fit(x, train.labels)
    search.best_estimator_.set_params(memory=None)  # its cache is gone; predicting never used it
    return search


def logistic_cv(recipe: Recipe, chosen: list[float] | None = None) -> Predictor:
    """tuned_linear() on each fold's training rows; `chosen` (when given) collects each fold's C or alpha."""
    task = task_of(recipe.features)

    def predict(train, test_rows):
        search = tuned_linear(recipe, train)
        if chosen is not None:
            chosen.extend(search.best_params_.values())
        x_test = _answers(recipe, test_rows)
        if not task.classes:
            return _residual_range(recipe, search.best_estimator_, _answers(recipe, train.frame), train.labels, x_test)
        return _every_class(search.predict_proba(x_test), search.classes_, task.output_width())

    return predict


def catboost_model(recipe: Recipe) -> Predictor | None:
    """CatBoost on every answer as a category and the joined title text as a text feature, or None when
    catboost is not installed (an optional extra: `uv sync --extra catboost`). Classes: one classifier
    (Logloss, or MultiClass for bands); a range: squared error of log salary for the estimate and one
    two-quantile model (MultiQuantile) for the low and high ends."""
    try:
        import catboost
    except ImportError:
        return None
    task = task_of(recipe.features)
    cats = [c.column for c in recipe.features.columns]
    text = ["text"] if recipe.features.text else None

    def pool(frame: pd.DataFrame, labels: np.ndarray | None = None):
        return catboost.Pool(_answers(recipe, frame), labels, cat_features=cats, text_features=text)

    def predict(train, test_rows):
        fit_rows, test = pool(train.frame, train.labels), pool(test_rows)
        settings = CATBOOST | {"random_seed": recipe.seed}
        if not task.classes:
            if text:  # naive Bayes scores are for classes only
                settings |= CATBOOST_TEXT | {"feature_calcers": ["BoW:top_tokens_count=200"]}
            low, high = recipe.features.quantiles
            estimate = catboost.CatBoostRegressor(loss_function="RMSE", **settings).fit(fit_rows).predict(test)
            ends = catboost.CatBoostRegressor(loss_function=f"MultiQuantile:alpha={low},{high}", **settings)
            ends = ends.fit(fit_rows).predict(test)
            return _range_outputs(estimate, ends[:, 0], ends[:, 1])
        if text:
            settings |= CATBOOST_TEXT | {"feature_calcers": ["BoW:top_tokens_count=200", "NaiveBayes"]}
        loss = "Logloss" if len(np.unique(train.labels)) <= 2 else "MultiClass"
        model = catboost.CatBoostClassifier(loss_function=loss, **settings).fit(fit_rows)
        return _every_class(model.predict_proba(test), model.classes_, task.output_width())

    return predict


def boosting(recipe: Recipe) -> Predictor:
    def predict(train, test_rows):
        labels = train.labels
        encode = _dense_features(recipe).fit(_answers(recipe, train.frame))
        x_train, x_test = encode.transform(_answers(recipe, train.frame)), encode.transform(_answers(recipe, test_rows))
        cats = np.arange(len(recipe.features.columns))
        if not task_of(recipe.features).classes:
            fitted = [
                HistGradientBoostingRegressor(loss=loss, quantile=q, categorical_features=cats, random_state=0)
                .fit(x_train, labels)
                .predict(x_test)
                for loss, q in [
                    ("squared_error", None),
                    ("quantile", recipe.features.quantiles[0]),
                    ("quantile", recipe.features.quantiles[1]),
                ]
            ]
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


def network(recipe: Recipe, fitted: list | None = None) -> Predictor:
    """A salarynet recipe trained on the fold's rows exactly as `salarynet train` trains on a file (training.train:
    its test and validation splits inside them, the blend, and with fit.refit the refit on all of them).
    fitted: where given, collects each fold's model (permutation importance reads the first)."""

    def predict(train, test_rows):
        model = PredictorModel(training.train(recipe, train, "fold")[0])
        if fitted is not None:
            fitted.append(model)
        return model.outputs(model.encode(test_rows)[0], test_rows)

    return predict


def tutorial_mlp(recipe: Recipe) -> Predictor | None:
    """The tutorial's network, optimizer and fit on its four answers (answers outside its lists coded 0,
    so that every row counts), for the recipe's label when it is the tutorial's (above a threshold)."""
    if not isinstance(task_of(recipe.features), Binary):
        return None
    overrides = [f'features.columns.{i}.unlisted="zero"' for i in range(4)] + [
        f"features.threshold={recipe.features.threshold}",
        'data.currency="convert"',
        f"seed={recipe.seed}",
    ]
    return network(load_recipe("tutorial", overrides))


def permutation_importance(
    net: "PredictorModel",
    x: Inputs,
    labels: np.ndarray,
    salary: np.ndarray,
    majority_class: int,
    repeats: int = 3,
    seed: int = 0,
    frame: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Per survey question (the text columns together as one): how much the score drops when that
    question's answers are shuffled across the test rows. Score: AUC, or minus the median dollar error.
    The encoded inputs are shuffled, so the rows are encoded once; with the rows' frame, a [blend] model's
    answers are shuffled alike and the blend is scored."""
    task = net.task_
    texts = list(net.features_.text.columns) if net.features_.text else []

    def score(out):
        return task.headline(task.fold_metrics(out, labels, salary, majority_class))

    # A [blend]'s score is the sum of the questions' shares: one question shuffled shuffles its share alone.
    shares = linear.parts(net.linear_, frame) if frame is not None and net.linear_ is not None else None
    total = sum(shares.values()) if shares else None

    bags = net.text_bags(x)  # and the title's bags of n-grams, the costly part of the network, are shuffled alike

    def shuffled(name: str, order: np.ndarray) -> tuple[pd.DataFrame | None, np.ndarray | None, tuple]:
        text = part[0] == "text"
        moved = tuple(b[order] if b is not None else None for b in bags) if text else bags
        if frame is None:
            return None, None, moved
        columns = [c for c in (texts if text else [name]) if c in frame]
        share = shares.get("text" if text else name) if shares else None
        return (
            frame.assign(**{c: frame[c].to_numpy()[order] for c in columns}),
            None if total is None else total if share is None else total - share + share[order],
            moved,
        )

    base = score(net.outputs(x, frame, total, bags))
    rng = np.random.default_rng(seed)
    drops = {}
    for name, part in features.question_parts(net.features_).items():
        losses = []
        for _ in range(repeats):
            order = rng.permutation(len(labels))
            losses.append(base - score(net.outputs(features.shuffle_question(x, part, order), *shuffled(name, order))))
        drops[name] = float(np.mean(losses))
    return dict(sorted(drops.items(), key=lambda kv: -kv[1]))


def peers(recipe: Recipe, fitted: list | None = None) -> dict[str, Predictor]:
    """The models compare() trains on every fold, in the table's order; CatBoost only where it is installed."""
    task = task_of(recipe.features)
    models: dict[str, Predictor] = {
        "majority class": majority(recipe),
        "logistic regression": logistic(recipe),
        ("logistic regression, C by inner CV" if task.classes else "ridge, alpha by inner CV"): logistic_cv(recipe),
        "gradient boosting": boosting(recipe),
    }
    if (cat := catboost_model(recipe)) is not None:
        models["CatBoost"] = cat
    if (tut := tutorial_mlp(recipe)) is not None:
        models["tutorial MLP"] = tut
    models[f"salarynet {recipe.name}"] = network(recipe, fitted)
    return models


def compare(
    survey: Survey,
    recipe: Recipe,
    folds: int = 5,
    on_step: Callable[[str], None] | None = None,
    importance: bool = True,
) -> dict[str, Any]:
    """Every model on the same stratified folds of the recipe's rows -> per-model fold metrics, their mean
    and sd, pooled out-of-fold outputs (for ROC curves) and permutation importance (first fold)."""
    sel = select_rows(survey, recipe)
    task = task_of(recipe.features)
    fitted: list = []
    models = peers(recipe, fitted)
    results = {name: {"folds": [], "seconds": 0.0} for name in models}
    pooled = {name: np.zeros((len(sel.labels), task.output_width())) for name in models}
    importance_table = None
    for k, (train_idx, test_idx) in enumerate(rows.folds(sel, recipe, folds)):
        train, test_rows = rows.subset(sel, train_idx), sel.frame.iloc[test_idx]
        majority_class = task.majority(train.labels)
        for name, predict in models.items():
            if on_step:
                on_step(f"fold {k + 1}/{folds}: {name}")
            started = time.perf_counter()
            outputs = predict(train, test_rows)
            results[name]["seconds"] += time.perf_counter() - started
            pooled[name][test_idx] = outputs
            results[name]["folds"].append(
                task.fold_metrics(outputs, sel.labels[test_idx], sel.salary[test_idx], majority_class)
            )
        if importance and k == 0:
            if on_step:
                on_step("permutation importance")
            net = fitted[0]  # the recipe's model of this fold, as scored above
            importance_table = permutation_importance(
                net,
                net.encode(test_rows)[0],
                sel.labels[test_idx],
                sel.salary[test_idx],
                majority_class,
                frame=test_rows,
            )
    for r in results.values():
        spreads = {m: mean_sd([f[m] for f in r["folds"]]) for m in r["folds"][0] if r["folds"][0][m] is not None}
        r["mean"], r["sd"] = ({m: s[k] for m, s in spreads.items()} for k in ("mean", "sd"))
    return {
        "recipe": recipe.name,
        "task": task.name,
        "_task": task,
        "folds": folds,
        "rows": sel.rows,
        "models": results,
        "importance": importance_table,
        "_pooled": pooled,
        "_labels": sel.labels,
    }


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
        cells = [
            f"{r['mean'][m]:,.4f} ± {r['sd'][m]:,.4f}"
            if abs(r["mean"][m]) < 100
            else f"{r['mean'][m]:,.0f} ± {r['sd'][m]:,.0f}"
            for m in metric_names
            if m in r["mean"]
        ]
        cells += ["n/a"] * (len(metric_names) - len(cells))
        lines.append(f"| {name} | {' | '.join(cells)} | {r['seconds']:.1f} |")
    return "\n".join(lines)
