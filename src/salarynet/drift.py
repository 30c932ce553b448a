"""How far new rows' answers have moved from the training rows': the population stability index (PSI) of each
question the model reads, over the answers as the model sees them (its learned answers, everything else as one
"other" slot; a multi-select question by its options; the job title by whether the model knew its words).

    PSI = sum over answers of (new share - training share) * ln(new share / training share)

Below 0.1 the answers are about as the model learned them; 0.1-0.25 they moved; above 0.25 they moved a lot
and the model's test metrics say little about these rows (the usual credit-scoring reading of the index).

A few hundred rows of the very same survey score well above 0.25 on a question with hundreds of answers (the
city): most answers are missing from a small sample by chance. So each question keeps its 10 commonest
training answers and pools the rest as "other", and the index is read against chance: the 95th percentile of
the index of 200 samples of as many training rows as there are new ones. Below that, a question is "stable"
whatever the thresholds say."""

from typing import Any

import numpy as np
import pandas as pd

from .data.schemas import normalise
from .features import FeatureState, answer_keys, counted, hashed, options, text_of

MOVED, MOVED_A_LOT = 0.1, 0.25
FLOOR = 1e-4  # a share of 0 is read as this, so that an answer new to one side counts without an infinite index
OTHER = "(other)"
BINS = 10  # a question's commonest training answers kept apart; the rest are one "other"
CHANCE_SAMPLES, CHANCE_QUANTILE = 200, 0.95
SHARE_MOVED_A_LOT = 0.05  # salaries: the share above the threshold moved by more than 5 points
MOVED_A_LOT_TEXT = "moved a lot"


def _shares(values: list[str]) -> pd.Series:
    """Each answer's share, commonest first (equal shares A-Z, whatever the pandas version)."""
    return counted(values) / len(values) if values else pd.Series(dtype=float)


def _answers(state: FeatureState, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per question, the answers as the model sees them (one value per row; a multi-select: one per option)."""
    seen: dict[str, list[str]] = {}
    for col in state.columns:
        if col.column not in frame:
            continue
        if col.encoding == "multi":
            seen[col.column] = [
                o if o in col.codes else OTHER for a in frame[col.column] if isinstance(a, str) for o in options(a)
            ]
        else:  # an ordinal column's codes are the recipe's spellings ("Master's degree"): compared folded, as read
            known = {k if k == "(blank)" else normalise(k): k for k in col.codes}
            seen[col.column] = [known.get(k, OTHER) for k in answer_keys(frame[col.column], "(blank)")]
    if state.text and any(c in frame for c in state.text.columns):
        index = state.text.index
        texts = text_of(frame, state.text.columns)
        known = [sum(b in index for b in ids) / len(ids) if ids else None for ids in hashed(texts, state.text.buckets)]
        seen["job_title"] = [
            "(blank)"
            if k is None
            else "every word known"
            if k == 1
            else "some words known"
            if k > 0
            else "nothing known"
            for k in known
        ]
    return seen


def psi(before: pd.Series, after: pd.Series) -> float:
    keys = before.index.union(after.index)
    p = np.maximum(before.reindex(keys, fill_value=0).to_numpy(float), FLOOR)
    q = np.maximum(after.reindex(keys, fill_value=0).to_numpy(float), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def level(value: float, chance: float = 0.0) -> str:
    if value <= chance:
        return "stable"
    return MOVED_A_LOT_TEXT if value > MOVED_A_LOT else "moved" if value > MOVED else "stable"


def _chance(values: np.ndarray, shares: pd.Series, n: int, rng: np.random.Generator) -> float:
    """The index of samples of n training answers against all of them: what no drift looks like at this size."""
    found = [psi(shares, pd.Series(rng.choice(values, n)).value_counts(normalize=True)) for _ in range(CHANCE_SAMPLES)]
    return float(np.quantile(found, CHANCE_QUANTILE))


def drift(state: FeatureState, training: pd.DataFrame, new: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """Per question, largest index first: {question, psi, chance (the 95th percentile of the index of training
    samples of the new rows' size), level, answer (the one whose share moved most), training_share, new_share}."""
    before, after = _answers(state, training), _answers(state, new)
    labels = {c.column: c for c in state.columns}
    rng = np.random.default_rng(seed)
    rows = []
    for question in before:
        if not before[question] or not after.get(question):
            continue
        top = set(_shares(before[question]).index[:BINS])
        old, now = (
            np.array([v if v in top else OTHER for v in values], dtype=object)
            for values in (before[question], after[question])
        )
        b, a = _shares(list(old)), _shares(list(now))
        keys = b.index.union(a.index)
        moved = (a.reindex(keys, fill_value=0) - b.reindex(keys, fill_value=0)).abs().idxmax()
        index, chance = psi(b, a), _chance(old, b, len(now), rng)
        shown = labels[question].label(moved) if question in labels else moved
        rows.append(
            {
                "question": question,
                "psi": round(index, 4),
                "chance": round(chance, 4),
                "level": level(index, chance),
                "answer": shown,
                "training_share": round(float(b.get(moved, 0.0)), 4),
                "new_share": round(float(a.get(moved, 0.0)), 4),
            }
        )
    return sorted(rows, key=lambda r: -r["psi"])


def salaries(training: np.ndarray, new: np.ndarray, threshold: float, seed: int = 0) -> dict[str, Any]:
    """How the salaries moved: each side's rows, share above the threshold and median, and the index over the
    training salaries' deciles (read against chance, as the answers are). Salaries as the rows give them (USD,
    each row's survey-year dollars), so wages that rose between two surveys show here."""
    edges = np.unique(np.quantile(training, np.linspace(0, 1, BINS + 1)[1:-1]))
    old, now = (np.searchsorted(edges, s, side="right").astype(str) for s in (training, new))
    b, a = _shares(list(old)), _shares(list(now))
    index, chance = psi(b, a), _chance(old, b, len(now), np.random.default_rng(seed))

    def side(s: np.ndarray) -> dict[str, Any]:
        return {"rows": len(s), "share_above": round(float(np.mean(s > threshold)), 4), "median": float(np.median(s))}

    before, after = side(training), side(new)
    # The share above the threshold is what a threshold model's base rate is: 5 points off (and more than 3
    # standard errors of a sample of this size) is a lot for it, even where the whole distribution's index is small.
    p, shift = before["share_above"], abs(after["share_above"] - before["share_above"])
    shifted = shift > SHARE_MOVED_A_LOT and shift > 3 * np.sqrt(max(p * (1 - p), 1e-12) / max(len(new), 1))
    return {
        "threshold": threshold,
        "training": before,
        "new": after,
        "psi": round(index, 4),
        "chance": round(chance, 4),
        "level": MOVED_A_LOT_TEXT if shifted else level(index, chance),
    }
