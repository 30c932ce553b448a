"""The convex companion of a network (a recipe's [blend]): logistic regression on one-hot answers and the job
title's TF-IDF words and letters, fitted on the same training rows; its probabilities are averaged with the
network's. Different features and a convex optimum make different mistakes: 5 folds, +0.002 ROC AUC and
-0.003 log loss over the network alone. Its learned state is plain data (vocabularies, idf, coefficients)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .data.schemas import normalise
from .errors import ArtifactError
from .features import Frame, missing, text_of

if TYPE_CHECKING:  # scipy and scikit-learn are imported where a blend is fitted: predicting needs neither
    import scipy.sparse as sp

# Word pairs and 2-4 letter pieces within words, as sublinear TF-IDF (each vectorizer's rows L2-normalised):
# the text features of the comparison's logistic regression, which the network's own do not replace.
WORDS = {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True}
LETTERS = {"analyzer": "char_wb", "ngram_range": (2, 4), "sublinear_tf": True}
MIN_WORDS, MIN_LETTERS = 2, 3  # documents an n-gram must be in


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so its vectorizers are built once
class LinearState:
    weight: float  # of these probabilities in the answer
    columns: tuple[str, ...]  # one-hot answers
    categories: tuple[tuple[str, ...], ...]  # per column, the answers with their own slot (then one "other" slot)
    text_columns: tuple[str, ...]
    words: tuple[str, ...]  # vocabulary, in index order
    letters: tuple[str, ...]
    word_idf: np.ndarray  # float64[words]
    letter_idf: np.ndarray  # float64[letters]
    coef: np.ndarray  # float64[1 or classes, features]
    intercept: np.ndarray  # float64[1 or classes]

    def to_json(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "columns": list(self.columns),
            "categories": [list(c) for c in self.categories],
            "text_columns": list(self.text_columns),
            "words": list(self.words),
            "letters": list(self.letters),
            "word_idf": self.word_idf.tolist(),
            "letter_idf": self.letter_idf.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Any) -> LinearState:
        try:
            state = cls(
                float(data["weight"]),
                tuple(map(str, data["columns"])),
                tuple(tuple(map(str, c)) for c in data["categories"]),
                tuple(map(str, data["text_columns"])),
                tuple(map(str, data["words"])),
                tuple(map(str, data["letters"])),
                np.asarray(data["word_idf"], np.float64),
                np.asarray(data["letter_idf"], np.float64),
                np.asarray(data["coef"], np.float64),
                np.asarray(data["intercept"], np.float64),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(
                f"{path}: damaged linear model ({type(e).__name__}: {e}); train the run again"
            ) from None
        width = sum(len(c) + 1 for c in state.categories) + len(state.words) + len(state.letters)
        if (
            len(state.categories) != len(state.columns)
            or not 0 < state.weight < 1
            or state.coef.ndim != 2
            or state.coef.shape[1] != width
            or state.intercept.shape != (state.coef.shape[0],)
            or state.word_idf.shape != (len(state.words),)
            or state.letter_idf.shape != (len(state.letters),)
            or not all(np.isfinite(a).all() for a in (state.coef, state.intercept, state.word_idf, state.letter_idf))
        ):
            raise ArtifactError(
                f"{path}: the linear model's parts do not fit together ({width} features, "
                f"coefficients {state.coef.shape}); train the run again"
            )
        return state


def _answers(frame: Frame, columns: tuple[str, ...]) -> np.ndarray:
    """str[rows, columns]: each answer as text, '(blank)' where there is none or the frame lacks the column
    (plain loops: a served batch is small, and pandas' per-call cost was most of a prediction's)."""
    values = np.full((len(frame), len(columns)), "(blank)", dtype=object)
    for j, column in enumerate(columns):
        if column in frame:
            values[:, j] = ["(blank)" if missing(a) else str(a) for a in frame[column]]
    return values.astype(str)


@functools.lru_cache(maxsize=8)
def _vectorizers(state: LinearState) -> list:
    """The state's two fitted TF-IDF vectorizers (words, letters; None where it has no vocabulary), built once
    per state: building one costs 10 ms, more than a served prediction."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    built = []
    for options, vocabulary, idf in ((WORDS, state.words, state.word_idf), (LETTERS, state.letters, state.letter_idf)):
        vectorizer = None
        if vocabulary:
            vectorizer = TfidfVectorizer(**options, vocabulary={g: i for i, g in enumerate(vocabulary)})
            vectorizer.idf_ = idf
        built.append(vectorizer)
    return built


def design(state: LinearState, frame: Frame) -> sp.csr_matrix:
    """The rows' features: float64[rows, features], sparse."""
    import scipy.sparse as sp

    index, n = _slots(state, frame), len(frame)
    offset = sum(len(kept) + 1 for kept in state.categories)
    blocks = [sp.csr_matrix((np.ones(index.size), index.ravel(), np.arange(n + 1) * index.shape[1]), shape=(n, offset))]
    text = text_of(frame, state.text_columns)
    for vectorizer in _vectorizers(state):
        blocks.append(vectorizer.transform(text) if vectorizer is not None else sp.csr_matrix((n, 0)))
    return sp.hstack(blocks, format="csr")


# What scikit-learn's TfidfVectorizer does with WORDS and LETTERS, for predicting without importing it (1.3 s):
# lower-cased; words are runs of 2+ word characters, then each pair; letter pieces are the 2-4 character
# slices of each word padded with a space either side (a word as short as a piece is that piece alone).
# tests/test_linear.py holds the two to the same features on the snapshot's titles and on any text.
_TOKEN, _SPACES = re.compile(r"(?u)\b\w\w+\b"), re.compile(r"\s\s+")


def _word_grams(text: str) -> list[str]:  # WORDS' ngram_range (1, 2)
    tokens = _TOKEN.findall(text.lower())
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def _letter_grams(text: str) -> list[str]:
    grams: list[str] = []
    for word in _SPACES.sub(" ", text.lower()).split():
        word = f" {word} "
        for n in range(LETTERS["ngram_range"][0], LETTERS["ngram_range"][1] + 1):
            grams += [word[i : i + n] for i in range(max(len(word) - n, 0) + 1)]
            if len(word) <= n:
                break
    return grams


@functools.lru_cache(maxsize=8)
def _indexes(state: LinearState) -> tuple[dict[str, int], dict[str, int]]:
    return {g: i for i, g in enumerate(state.words)}, {g: i for i, g in enumerate(state.letters)}


def _text_share(state: LinearState, texts: list[str], offset: int) -> np.ndarray:
    """float64[rows, classes]: the title's share of each row's scores: per vocabulary, each n-gram's 1 + log(count)
    times its idf, the row L2-normalised, times its coefficients."""
    share = np.zeros((len(texts), state.coef.shape[0]))
    for grams, index, idf in zip((_word_grams, _letter_grams), _indexes(state), (state.word_idf, state.letter_idf)):
        for row, text in enumerate(texts):
            counts = Counter(i for i in map(index.get, grams(text)) if i is not None)
            if counts:
                found = np.fromiter(counts, np.int64, len(counts))
                values = (np.log(np.fromiter(counts.values(), np.float64, len(counts))) + 1) * idf[found]
                share[row] += state.coef[:, offset + found] @ (values / np.sqrt(np.sum(values * values)))
        offset += len(index)
    return share


def parts(state: LinearState, frame: Frame) -> dict[str, np.ndarray]:
    """Each question's share of the rows' scores, float64[rows, 1 or classes]: one per answer column, and
    "text" for the text columns together. The scores are their sum plus the intercept, so a question's answers
    shuffled across rows shuffle its share (permutation importance recomputes no TF-IDF)."""
    index = _slots(state, frame)
    shares = {column: state.coef[:, index[:, j]].T for j, column in enumerate(state.columns)}
    offset = sum(len(kept) + 1 for kept in state.categories)
    return shares | {"text": _text_share(state, text_of(frame, state.text_columns), offset)}


def _slots(state: LinearState, frame: Frame) -> np.ndarray:
    """int[rows, columns]: each answer's one-hot feature (its column's "other" slot for an answer not kept)."""
    answers, offset = _answers(frame, state.columns), 0
    index = np.zeros((len(frame), len(state.categories)), np.int64)
    for j, kept in enumerate(state.categories):
        slot, folded = _lookup(tuple(kept))
        index[:, j] = [offset + (slot[a] if a in slot else folded.get(normalise(a), len(kept))) for a in answers[:, j]]
        offset += len(kept) + 1
    return index


@functools.lru_cache(maxsize=64)
def _lookup(kept: tuple[str, ...]) -> tuple[dict[str, int], dict[str, int]]:
    """A column's kept answers -> (answer -> slot, folded answer -> slot): an answer kept under another spelling
    (case, curly quotes, spaces) reads as that one, as the network reads it (features.answer_keys)."""
    slot = {c: i for i, c in enumerate(kept)}
    folded: dict[str, int] = {}
    for c, i in slot.items():
        folded.setdefault(normalise(c), i)
    return slot, folded


def probabilities(state: LinearState, frame: Frame) -> np.ndarray:
    """float[rows, classes]: the logistic regression's class probabilities."""
    return from_scores(state, sum(parts(state, frame).values()))


def from_scores(state: LinearState, shares: np.ndarray) -> np.ndarray:
    """Class probabilities from the sum of the questions' shares (parts)."""
    scores = shares + state.intercept
    if scores.shape[1] == 1:
        p = 1 / (1 + np.exp(-scores[:, 0]))
        return np.stack([1 - p, p], axis=1)
    scores = scores - scores.max(axis=1, keepdims=True)
    return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)


def fit(
    frame: Frame,
    labels: np.ndarray,
    columns: list[str],
    text_columns: list[str],
    weight: float,
    c: float,
    min_count: int,
) -> LinearState:
    """Learn the categories, vocabularies and coefficients on the training rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    answers = _answers(frame, tuple(columns))
    categories = []
    for j in range(len(columns)):
        values, counts = np.unique(answers[:, j], return_counts=True)
        categories.append(tuple(sorted(values[counts >= min_count].tolist())))
    text = text_of(frame, text_columns)
    vocabularies = []
    for options, min_df in ((WORDS, MIN_WORDS), (LETTERS, MIN_LETTERS)):
        try:
            fitted = TfidfVectorizer(**options, min_df=min_df).fit(text)
            order = sorted(fitted.vocabulary_, key=fitted.vocabulary_.get)
            vocabularies.append((tuple(order), fitted.idf_.astype(np.float64)))
        except ValueError:  # no n-gram in enough rows (no titles): no text features
            vocabularies.append(((), np.zeros(0)))
    empty = LinearState(
        weight,
        tuple(columns),
        tuple(categories),
        tuple(text_columns),
        vocabularies[0][0],
        vocabularies[1][0],
        vocabularies[0][1],
        vocabularies[1][1],
        np.zeros((1, 0)),
        np.zeros(1),
    )
    # Two classes: liblinear reaches the same optimum 6x faster than lbfgs here (3 s, not 21 s, on every row).
    solver = "liblinear" if len(np.unique(labels)) == 2 else "lbfgs"
    model = LogisticRegression(C=c, max_iter=3000, solver=solver).fit(design(empty, frame), labels)
    return LinearState(
        **{**empty.__dict__, "coef": model.coef_.astype(np.float64), "intercept": model.intercept_.astype(np.float64)}
    )


def blend(probabilities_nn: np.ndarray, probabilities_linear: np.ndarray, weight: float) -> np.ndarray:
    return (1 - weight) * probabilities_nn + weight * probabilities_linear
