"""The rows a recipe can use, each other row counted by its first reason, and the stratified split."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import features, reasons
from .data.survey import Survey, conform, rows_text, salary_rows
from .errors import DataError
from .reasons import Reason
from .recipe import Recipe, builtin_recipes, load_recipe
from .tasks import task_of


@dataclass
class Selection:
    """The rows a recipe can use: their answers, salaries (USD where converted) and labels."""

    frame: pd.DataFrame
    salary: np.ndarray  # float64[kept]
    labels: np.ndarray  # int32[kept] classes, or float32[kept] log salary
    rows: dict[str, Any]  # read, kept, excluded {reason: count}
    index: np.ndarray | None = None  # int[kept]: each kept row's position among the survey's rows


def input_columns(recipe: Recipe) -> tuple[list[str], list[str]]:
    """(required, optional) survey columns: the salary and the answers a row is excluded without (the
    tutorial's ordinal answers) are required; every other answer a recipe reads is read as blank when absent."""
    required = ["annual_salary"] + [
        c.column for c in recipe.features.columns if c.encoding == "ordinal" and c.unlisted == "exclude"
    ]
    optional = [c.column for c in recipe.features.columns if c.column not in required]
    grouped = (
        [recipe.conformal.by] if recipe.conformal and recipe.conformal.by not in (None, *required, *optional) else []
    )
    return required, optional + list(recipe.features.text.columns if recipe.features.text else []) + grouped


def select_rows(survey: Survey, recipe: Recipe) -> Selection:
    """Keep the rows with a usable salary and encodable answers; count every other row by its first reason."""
    survey, salary, reason, rows = _reasons(survey, recipe)
    keep = reasons.unset(reason)
    if not keep.any():
        raise DataError(
            f"{survey.path}: no usable rows for recipe {recipe.name}: {rows_text(rows)}"
            f"{offending_answers(survey.frame, reason, recipe)}{_years_hint(survey, recipe)}"
        )
    kept_salary = salary.to_numpy()[keep]
    task = task_of(recipe.features)
    return Selection(
        survey.frame[keep].reset_index(drop=True), kept_salary, task.label(kept_salary), rows, np.flatnonzero(keep)
    )


def count_rows(survey: Survey, recipe: Recipe) -> dict[str, Any]:
    """The rows select_rows would keep and exclude, by reason (and by survey year), none kept included."""
    return _reasons(survey, recipe)[3]


def _reasons(survey: Survey, recipe: Recipe) -> tuple[Survey, pd.Series, np.ndarray, dict[str, Any]]:
    """(the survey conformed to the recipe, salaries, each row's Reason: None where kept, the counts)."""
    required, optional = input_columns(recipe)
    survey = conform(survey, required, optional, f"recipe {recipe.name} needs {', '.join(required)}")
    task = task_of(recipe.features)
    salary, reason = salary_rows(survey, recipe.data.currency, recipe.data.min_salary, recipe.data.max_salary)
    reason[reason.isna() & task.unlabelled(salary.to_numpy())] = Reason("salary", "zero")
    if recipe.data.years is not None and "survey_year" in survey.frame.columns:
        listed = survey.frame["survey_year"].isin([str(y) for y in recipe.data.years])
        reason[~listed.to_numpy()] = Reason("survey_year", "unlisted")
    _, answer_reason = features.ordinal_codes(survey.frame, recipe.features.columns, survey.path)
    reason = reason.to_numpy(dtype=object)
    reason = np.where(reasons.unset(reason), answer_reason, reason)
    keep = reasons.unset(reason)
    reason[keep] = None  # pandas' NaN for "no reason" back to None
    rows = _counts(keep, reason)
    if "survey_year" in survey.frame.columns and survey.frame["survey_year"].nunique() > 1:
        year = survey.frame["survey_year"].to_numpy()
        rows["by_year"] = {str(y): _counts(keep[year == y], reason[year == y]) for y in sorted(set(year))}
    return survey, salary, reason, rows


def _years_hint(survey: Survey, recipe: Recipe) -> str:
    """Where a recipe's data.years leave out every survey year of the file: the shipped recipes that read them."""
    if recipe.data.years is None or "survey_year" not in survey.frame.columns:
        return ""
    found = sorted({int(y) for y in survey.frame["survey_year"].dropna() if str(y).isdigit()})
    if not found or set(found) & set(recipe.data.years):
        return ""
    readers = [
        name
        for name in builtin_recipes()
        if (years := load_recipe(name).data.years) is None or set(found) <= set(years)
    ]
    said, reads = ", ".join(map(str, found)), ", ".join(map(str, recipe.data.years))
    hint = f"; recipe {recipe.name} reads the {reads} survey only (data.years) and this file holds {said}: "
    if readers:
        hint += f"--recipe {readers[0]} reads it" + (f" (so do {', '.join(readers[1:])})" if readers[1:] else "")
        hint += ", or "
    return hint + f"--set data.years=[{said}]"


def _counts(keep: np.ndarray, reason: np.ndarray) -> dict[str, Any]:
    return {
        "read": int(len(keep)),
        "kept": int(keep.sum()),
        "excluded": dict(Counter(r.code for r in reason[~keep]).most_common()),
    }


def offending_answers(frame: pd.DataFrame, reason: np.ndarray, recipe: Recipe, most: int = 4) -> str:
    """The commonest answers behind each ordinal question's `unlisted` reason, beside the answers the recipe lists."""
    listed = {c.column: list(c.mapping()) for c in recipe.features.columns if c.encoding == "ordinal"}
    parts = []
    unlisted = [(r.column, r.kind) if r is not None else None for r in reason]
    for key, _ in Counter(unlisted).most_common():
        if key is not None and key[1] == "unlisted" and key[0] in listed:
            column = key[0]
            common = features.counted(frame.loc[[u == key for u in unlisted], column]).head(most)
            shown = ", ".join(f"{v!r} ({n})" for v, n in common.items())
            parts.append(f"{column} answers {shown} are not among {', '.join(map(repr, listed[column]))}")
    return ("; " + "; ".join(parts)) if parts else ""


def split_indices(labels: np.ndarray, train_fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (the seed's sample.split); both parts keep the file's order, as R's subset() does."""
    counts = np.bincount(labels, minlength=2)
    if len(labels) < 10 or counts.min() < 2:
        raise DataError(
            f"{source}: {len(labels)} usable rows, the rarest class has {int(counts.min())}; "
            "a stratified split needs at least 10 rows and 2 of each class"
        )
    n_train = int(np.floor(train_fraction * len(labels)))
    classes = int(np.count_nonzero(counts))
    if min(n_train, len(labels) - n_train) < classes:
        raise DataError(
            f"{source}: split.train_fraction={train_fraction} leaves too few rows on one side for "
            f"{classes} classes among {len(labels)} rows"
        )
    return stratified_split(labels, n_train, seed)


def stratified_split(labels: np.ndarray, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices, each sorted: the rows scikit-learn's train_test_split(train_size=n_train,
    stratify=labels, random_state=seed) picks, drawn the same way from the same numpy RandomState
    (StratifiedShuffleSplit; tests/test_data.py holds the two equal). In numpy because importing scikit-learn
    takes longer than training the tutorial's network."""
    rng = np.random.RandomState(seed)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    train_counts = _approximate_mode(counts, n_train, rng)
    test_counts = _approximate_mode(counts - train_counts, len(labels) - n_train, rng)
    train, test = [], []
    for i in range(len(classes)):
        order = members[i].take(rng.permutation(counts[i]), mode="clip")
        train.append(order[: train_counts[i]])
        test.append(order[train_counts[i] : train_counts[i] + test_counts[i]])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` rows each class gets: its share floored, then one more to the largest remainders,
    ties broken at random (scikit-learn's utils.extmath._approximate_mode)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1] if need > 0 else []:
        (tied,) = np.where(remainder == value)
        now = min(len(tied), need)
        floored[rng.choice(tied, size=now, replace=False)] += 1
        need -= now
        if need == 0:
            break
    return floored.astype(int)


def split_rows(sel: Selection, recipe: Recipe, source: str, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The recipe's train/test split of its rows (stratified on the task's strata), with its seed unless given."""
    return split_indices(
        task_of(recipe.features).strata(sel.labels),
        recipe.split.train_fraction,
        recipe.seed if seed is None else seed,
        source,
    )


def calibration_rows(
    sel: Selection, recipe: Recipe, train_idx: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """A [conformal] recipe's training rows split into (rows to fit on, calibration rows), stratified as the
    test split is; both index the selection, in its order."""
    fraction = recipe.conformal.fraction
    strata = task_of(recipe.features).strata(sel.labels[train_idx])
    fit_part, calibration = split_indices(
        strata, 1 - fraction, recipe.seed, f"{source} (conformal.fraction={fraction})"
    )
    return train_idx[fit_part], train_idx[calibration]


def folds(sel: Selection, recipe: Recipe, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k stratified folds of the recipe's rows, (training, test) row indices, shuffled with the recipe's seed:
    every model of a comparison, every trial of a sweep, `train --fold` and benchmarks/peers.py use these."""
    from sklearn.model_selection import StratifiedKFold

    strata = task_of(recipe.features).strata(sel.labels)
    if len(strata) < k or np.unique(strata, return_counts=True)[1].max() < k:
        raise DataError(f"{len(sel.labels)} usable rows cannot make {k} folds; use fewer folds or more rows")
    return list(StratifiedKFold(k, shuffle=True, random_state=recipe.seed).split(np.zeros(len(strata)), strata))


def subset(sel: Selection, rows: np.ndarray) -> Selection:
    """The selection's rows at these indices, as a selection of their own (a fold's training rows)."""
    return Selection(
        sel.frame.iloc[rows].reset_index(drop=True),
        sel.salary[rows],
        sel.labels[rows],
        {"read": len(rows), "kept": len(rows), "excluded": {}},
        None if sel.index is None else sel.index[rows],
    )


def parse_fold(text: str) -> tuple[int, int] | None:
    """ "K/N" -> (K, N), a fold K of N (2 <= N <= 20, 1 <= K <= N); None when it is not one."""
    k, _, n = str(text).partition("/")
    k, n = k.strip(), n.strip()
    if not (k.isdigit() and n.isdigit() and 2 <= int(n) <= 20 and 1 <= int(k) <= int(n)):
        return None
    return int(k), int(n)


def fold_of(sel: Selection, recipe: Recipe, fold: int, k: int) -> tuple[Selection, np.ndarray]:
    """Fold `fold` (1-based) of k: its training rows as a selection, and its test rows' indices."""
    if not 1 <= fold <= k:
        raise DataError(f"fold {fold} of {k}: expected 1 to {k}")
    train_idx, test_idx = folds(sel, recipe, k)[fold - 1]
    return subset(sel, train_idx), test_idx
