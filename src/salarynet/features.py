"""Answers -> model inputs: ordinal codes, learned vocabularies, hashed text n-grams, min-max scaling; labels."""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import reasons
from .data.schemas import normalise
from .errors import DataError
from .nn.spec import Inputs
from .reasons import Flag, Reason
from .recipe import ColumnEncoding, FeaturesSection, TextSection
from .tasks import task_of

if TYPE_CHECKING:  # pandas is imported where a whole file is fitted or counted: one person's answer goes without
    import pandas as pd

# What encoding, flags and explanations read of a frame: len(), `column in frame`, frame[column] (an iterable of
# answers) and assign(); a pandas DataFrame, or one person's answers as data.table.Answers.
Frame = Any


@dataclass(frozen=True)
class ColumnState:
    """One answer's encoding. codes: ordinal answer -> number; category answer -> index (0 is reserved
    for unseen, rare and blank); multi option -> position among its 0/1 inputs."""

    column: str
    encoding: str
    codes: dict[str, float]
    unlisted: str = "exclude"
    # category/multi: answer key -> its most common spelling in the training rows ("Master's degree"
    # for "master's degree"), to show people the survey's own wording.
    labels: dict[str, str] = field(default_factory=dict)
    common: str | None = None  # ordinal: the training rows' commonest listed answer (categories: code 1)

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def width(self) -> int:
        """Numeric inputs this column contributes."""
        return {"ordinal": 1, "multi": len(self.codes), "category": 0}[self.encoding]


@dataclass(frozen=True)
class TextState:
    """The n-grams are hashed into `buckets`; those seen at least min_count times in training get a
    compact index 1..len(seen) (their order in `seen`), every other one the reserved index 0."""

    columns: tuple[str, ...]
    buckets: int
    max_tokens: int
    seen: tuple[int, ...]
    idf: tuple[float, ...]  # per seen n-gram: log((1 + rows) / (1 + rows with it)) + 1, as scikit-learn's
    # The commonest titles (first text column) given by TITLE_MIN_ROWS+ training rows, in their commonest
    # spelling: the titles a counterfactual may propose (none is one person's).
    titles: tuple[str, ...] = ()

    @functools.cached_property
    def index(self) -> dict[int, int]:
        return {b: i + 1 for i, b in enumerate(self.seen)}

    @property
    def vocabulary(self) -> int:
        return len(self.seen) + 1


@dataclass(frozen=True)
class FeatureState:
    """Everything a prediction needs to turn answers into the network's inputs.

    minimum/maximum: float32[numeric inputs], fitted on the training rows; task/threshold/bands:
    what the label is.
    """

    columns: tuple[ColumnState, ...]
    minimum: np.ndarray
    maximum: np.ndarray
    text: TextState | None
    task: str
    threshold: float
    bands: tuple[float, ...]
    scale: str
    # Regression: the network learns (log salary - shift) / spread, fitted on the training rows,
    # so that its outputs start near the answer and every weight works at the same scale.
    shift: float = 0.0
    spread: float = 1.0

    def unscale(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs, dtype=np.float64) * self.spread + self.shift

    @property
    def categories(self) -> tuple[ColumnState, ...]:
        return tuple(c for c in self.columns if c.encoding == "category")

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [
                {
                    "column": c.column,
                    "encoding": c.encoding,
                    "codes": c.codes,
                    "unlisted": c.unlisted,
                    "labels": c.labels,
                    **({"common": c.common} if c.common is not None else {}),
                }
                for c in self.columns
            ],
            "min": self.minimum.tolist(),
            "max": self.maximum.tolist(),
            "text": None
            if self.text is None
            else {
                "columns": list(self.text.columns),
                "buckets": self.text.buckets,
                "max_tokens": self.text.max_tokens,
                "seen": list(self.text.seen),
                "idf": list(self.text.idf),
                "titles": list(self.text.titles),
            },
            "task": self.task,
            "threshold": self.threshold,
            "bands": list(self.bands),
            "scale": self.scale,
            "shift": self.shift,
            "spread": self.spread,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureState:
        text = data.get("text")
        return cls(
            columns=tuple(_column_from_json(c) for c in data["columns"]),
            minimum=np.array(data["min"], np.float32),
            maximum=np.array(data["max"], np.float32),
            text=None
            if text is None
            else TextState(
                tuple(text["columns"]),
                int(text["buckets"]),
                int(text["max_tokens"]),
                tuple(int(b) for b in text["seen"]),
                tuple(float(v) for v in text["idf"]),
                tuple(str(t) for t in text.get("titles", [])),
            ),
            task=str(data["task"]),
            threshold=float(data["threshold"]),
            bands=tuple(float(b) for b in data["bands"]),
            scale=str(data["scale"]),
            shift=float(data.get("shift", 0.0)),
            spread=float(data.get("spread", 1.0)),
        )


def _column_from_json(c: dict[str, Any]) -> ColumnState:
    """A saved column. Learned keys are folded again: a run saved before `normalise` folded the spaces
    around a hyphen still matches its answers (ordinal keys are the recipe's spelling, folded at lookup)."""
    codes = {str(k): float(v) for k, v in c["codes"].items()}
    labels = {str(k): str(v) for k, v in c.get("labels", {}).items()}
    if c["encoding"] != "ordinal":
        codes, labels = _refolded(codes), _refolded(labels)
    return ColumnState(c["column"], c["encoding"], codes, c.get("unlisted", "exclude"), labels, c.get("common"))


def _refolded(table: dict[str, Any]) -> dict[str, Any]:
    """Answer keys folded by today's `normalise` (the first of two keys that fold alike wins)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        out.setdefault(key if key == "(blank)" else normalise(key), value)
    return out


# ---------------------------------------------------------------- single answers


def _str(value: Any) -> str:
    """An answer as text: '' for a missing one (None, NaN, NA)."""
    if isinstance(value, str):
        return value
    return "" if missing(value) else str(value)


def missing(value: Any) -> bool:
    """None, NaN, or pandas' NA/NaT (recognised without importing pandas)."""
    return (
        value is None or (isinstance(value, float) and value != value) or type(value).__name__ in ("NAType", "NaTType")
    )


def answer_keys(answers: Any, blank: str = "") -> list[str]:
    """Each answer folded by `normalise`; blanks (missing or only white space) as `blank`.
    Plain loops: on the few rows of a served request, pandas' per-call cost would be most of the time."""
    return [normalise(_str(a)) or blank for a in answers]


# The form's multi-select options that hold a comma themselves; every other comma separates options.
COMMA_OPTIONS = ("hispanic, latino, or spanish origin",)


def options(answer: str, fold: bool = True) -> list[str]:
    """A multi-select answer's options (folded by `normalise`, or as written with fold=False)."""
    return list(_options(answer, fold))


@functools.lru_cache(maxsize=1 << 16)  # answers repeat: a survey has a few hundred distinct ones per question
def _options(answer: str, fold: bool) -> tuple[str, ...]:
    text = normalise(answer) if fold else answer
    for option in COMMA_OPTIONS:
        text = re.sub(re.escape(option), lambda m: m.group(0).replace(",", "\0"), text, flags=re.IGNORECASE)
    return tuple(o.replace("\0", ",") for o in (p.strip() for p in text.split(",")) if o)


def _labels(vocab: dict[str, float], keys: list[str], written: list[str]) -> dict[str, str]:
    """Each kept answer key's most common spelling among the answers as written."""
    labels: dict[str, str] = {}
    counts = Counter(zip(keys, written))
    for key, text in sorted(counts, key=lambda pair: (-counts[pair], pair)):  # most common first, then A-Z
        if key in vocab and text:
            labels.setdefault(key, text)
    return labels


def ordinal_codes(
    frame: Frame, columns: list[ColumnEncoding] | tuple[ColumnState, ...], source: str = "input"
) -> tuple[np.ndarray, np.ndarray]:
    """(codes float64[rows, ordinal columns], reason object[rows]) for the ordinal columns.

    Answers match the recipe's spelling up to case, white space and curly quotes. The reason is None
    for an encodable row, else the first column's problem: a Reason (column, 'blank' or 'unlisted', the answer,
    the answers listed); answers outside the list are coded 0 instead where the column says unlisted = "zero".
    """
    ordinal = [c for c in columns if c.encoding == "ordinal"]
    require(frame, [c.column for c in ordinal], source)
    out = np.full((len(frame), len(ordinal)), np.nan)
    reason = reasons.none(len(frame))
    for j, col in enumerate(ordinal):
        mapping = col.codes if isinstance(col, ColumnState) else col.mapping()
        lookup = {normalise(k): v for k, v in mapping.items()}
        out[:, j] = [lookup.get(k, np.nan) for k in answer_keys(frame[col.column])]
        if col.unlisted == "zero":
            out[:, j] = np.nan_to_num(out[:, j], nan=0.0)
            continue
        answers, listed = list(frame[col.column]), tuple(mapping)
        blank = np.array([missing(a) for a in answers], dtype=bool)
        free = reasons.unset(reason)
        reason[free & blank] = Reason(col.column, "blank")
        for i in np.flatnonzero(free & np.isnan(out[:, j]) & ~blank):
            reason[i] = Reason(col.column, "unlisted", answers[i], listed)
    return out, reason


def require(frame: Frame, columns: list[str], source: str) -> None:
    absent = [c for c in columns if c not in frame]
    if absent:
        raise DataError(
            f"{source}: missing column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))}; "
            f"the model needs {', '.join(columns)}"
        )


# ---------------------------------------------------------------- text

_WORD = re.compile(r"[a-z0-9]+")


def ngrams(text: str) -> list[str]:
    """Words, word pairs, and the 2-5 letter pieces of each word (marked with < >): a title's
    vocabulary, its phrases ("data scientist") and its spellings ("sr", "senior", "engineer/ing")."""
    words = _WORD.findall(text.casefold())
    grams = [f"w {w}" for w in words] + [f"p {a} {b}" for a, b in zip(words, words[1:])]
    for w in words:
        marked = f"<{w}>"
        grams += [f"c {marked[i : i + n]}" for n in (2, 3, 4, 5) for i in range(len(marked) - n + 1)]
    return grams


# Words that say nothing of a job on their own: a title of these and unknown words is one the model knows nothing of
FILLER_WORDS = frozenset({"a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to", "with"})


def known_words(state: TextState, title: str) -> list[str]:
    """The words of a title the model learned as words (not only by their letter pieces), filler words aside."""
    words = dict.fromkeys(_WORD.findall(title.casefold()))
    return [w for w in words if w not in FILLER_WORDS and bucket(f"w {w}", state.buckets) in state.index]


def bucket(gram: str, buckets: int) -> int:
    """A stable hash into 1..buckets-1 (Python's hash() changes between processes)."""
    return 1 + zlib.crc32(gram.encode()) % (buckets - 1)


MAX_TEXT = 1000  # characters of one free-text answer that are read (the HTTP API refuses longer): a title is a
# few words, and a 10-million-character one cost 30 s and 3 GB of n-grams before this bound


def text_of(frame: Frame, columns: tuple[str, ...] | list[str]) -> list[str]:
    """Each row's text columns, each cut to its first MAX_TEXT characters, joined by a space (a column the frame
    lacks reads as blank; no columns: "")."""
    if not columns:
        return [""] * len(frame)
    parts = [[_str(v)[:MAX_TEXT] for v in frame[c]] if c in frame else [""] * len(frame) for c in columns]
    return [" ".join(p) for p in zip(*parts)]


_MEMO: ContextVar[dict[tuple[str, int], list[int]] | None] = ContextVar("salarynet_hashed", default=None)


@contextmanager
def hashing_memo() -> Iterator[None]:
    """Within the block, in this thread, a text is hashed once however often it is encoded (a fit hashes its rows
    for the vocabulary, to encode them, and again for the refit). Not process-wide: the server's threads share
    nothing, and the memory goes with the block."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def hashed(texts: list[str], buckets: int) -> list[list[int]]:
    """Each row's n-gram buckets; a text that repeats (titles do) is hashed once (see hashing_memo)."""
    memo = _MEMO.get()
    memo = {} if memo is None else memo
    for t in dict.fromkeys(texts):
        if (t, buckets) not in memo:
            memo[t, buckets] = [bucket(g, buckets) for g in ngrams(t)]
    return [memo[t, buckets] for t in texts]


def tokens(state: TextState, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(int32[rows, max_tokens] the n-grams' indices in order, unseen ones 0, padded with 0;
    float32[rows, max_tokens] their IDF weights, 0 for padding and unseen)."""
    ids_out = np.zeros((len(frame), state.max_tokens), np.int32)
    index = state.index
    for i, ids in enumerate(hashed(text_of(frame, state.columns), state.buckets)):
        kept = [index.get(b, 0) for b in ids][: state.max_tokens]
        ids_out[i, : len(kept)] = kept
    idf = np.concatenate([[0.0], np.asarray(state.idf, np.float32)]).astype(np.float32)
    return ids_out, idf[ids_out]


TITLES, TITLE_MIN_ROWS = 200, 5


def fit_text(section: TextSection, frame: pd.DataFrame) -> TextState:
    counts: dict[int, int] = {}
    for ids in hashed(text_of(frame, section.columns), section.buckets):
        for b in set(ids):
            counts[b] = counts.get(b, 0) + 1
    seen = tuple(sorted(b for b, n in counts.items() if n >= section.min_count))
    idf = tuple(float(np.log((1 + len(frame)) / (1 + counts[b])) + 1) for b in seen)
    written = [_str(t).strip() for t in frame[section.columns[0]]]
    keys = [normalise(t) for t in written]
    common = [k for k, n in counted([k for k in keys if k]).items() if n >= TITLE_MIN_ROWS][:TITLES]
    spelled = _labels(dict.fromkeys(common, 0.0), keys, written)
    return TextState(
        tuple(section.columns), section.buckets, section.max_tokens, seen, idf, tuple(spelled[k] for k in common)
    )


# ---------------------------------------------------------------- fit and encode


def counted(values: Any) -> pd.Series:
    """How often each value occurs, most frequent first and equal counts A-Z: pandas leaves the order of ties to
    its version (2.x and 3.x differ), and a vocabulary's numbering must not depend on it."""
    import pandas as pd

    counts = pd.Series(values, dtype=object).value_counts(dropna=True)
    return counts.sort_index(key=lambda index: index.astype(str)).sort_values(ascending=False, kind="stable")


def _vocabulary(values: list[str], min_count: int) -> dict[str, float]:
    """Answers seen at least min_count times, most frequent first, numbered from 1 (0 is reserved)."""
    counts = counted(values)
    kept = counts[counts >= min_count].index
    return {str(v): float(i + 1) for i, v in enumerate(kept)}


def fit(section: FeaturesSection, frame: pd.DataFrame, labels: np.ndarray | None = None) -> FeatureState:
    """Learn the vocabularies, the min/max of the numeric inputs and (regression) the label's
    location and spread from the training rows."""
    columns = [_fit_column(col, frame) for col in section.columns]
    text = fit_text(section.text, frame) if section.text else None
    unscaled = FeatureState(
        tuple(columns),
        np.zeros(0, np.float32),
        np.zeros(0, np.float32),
        text,
        section.task,
        section.threshold,
        tuple(section.bands),
        section.scale,
    )
    numeric = _numeric(unscaled, frame)[0]
    if section.scale == "minmax" and len(numeric):
        lo, hi = numeric.min(axis=0), numeric.max(axis=0)
    else:
        lo, hi = np.zeros(numeric.shape[1]), np.ones(numeric.shape[1])
    shift, spread = task_of(section).scale(labels)
    return FeatureState(
        tuple(columns),
        lo.astype(np.float32),
        hi.astype(np.float32),
        text,
        section.task,
        section.threshold,
        tuple(section.bands),
        section.scale,
        shift,
        spread,
    )


def _fit_column(col: ColumnEncoding, frame: pd.DataFrame) -> ColumnState:
    """One question's learned encoding: an ordinal scale (and its commonest answer), a category's vocabulary, or
    a multi-select question's options, each with the answers' commonest spellings."""
    require(frame, [col.column], "training rows")
    if col.encoding == "ordinal":
        mapping = col.mapping()
        folded = {normalise(k): k for k in mapping}
        listed = [folded[k] for k in counted(answer_keys(frame[col.column])).index if k in folded]
        return ColumnState(col.column, "ordinal", mapping, col.unlisted, common=listed[0] if listed else None)
    if col.encoding == "category":
        keys = answer_keys(frame[col.column], "(blank)")
        written = frame[col.column].fillna("").astype(str).str.strip().tolist()
        vocab = _vocabulary(keys, col.min_count)
        return ColumnState(col.column, "category", vocab, labels=_labels(vocab, keys, written))
    pairs = [
        (o, w)
        for a in frame[col.column]
        if isinstance(a, str)
        for folded, raw in [(options(a), options(a, fold=False))]
        for o, w in zip(folded, raw if len(raw) == len(folded) else folded)
    ]
    opts, written = [o for o, _ in pairs], [w for _, w in pairs]
    vocab = _vocabulary(opts, col.min_count)
    return ColumnState(col.column, "multi", {k: v - 1 for k, v in vocab.items()}, labels=_labels(vocab, opts, written))


def _numeric(state: FeatureState, frame: Frame, source: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """The unscaled numeric block float64[rows, inputs], in column order, and the ordinal reasons."""
    codes, reason = ordinal_codes(frame, state.columns, source)
    parts, j = [], 0
    for col in state.columns:
        if col.encoding == "ordinal":
            parts.append(codes[:, j : j + 1])
            j += 1
        elif col.encoding == "multi":
            block = np.zeros((len(frame), len(col.codes)))
            for i, answer in enumerate(frame[col.column]):
                for o in options(answer if isinstance(answer, str) else ""):
                    if o in col.codes:
                        block[i, int(col.codes[o])] = 1.0
            parts.append(block)
    return (np.concatenate(parts, axis=1) if parts else np.zeros((len(frame), 0))), reason


def scale(state: FeatureState, numeric: np.ndarray) -> np.ndarray:
    """Scale with the training rows' min/max -> float32. A column constant on the training rows is
    divided by 1, not 0 (R would give NaN); rows outside the training range land outside [0, 1]."""
    span = np.where(state.maximum > state.minimum, state.maximum - state.minimum, 1.0)
    return ((numeric - state.minimum) / span).astype(np.float32)


def encode(state: FeatureState, frame: Frame, source: str = "input") -> tuple[Inputs, np.ndarray]:
    """(Inputs, reason object[rows]): rows with a reason have unusable ordinal answers; everything else
    (an unseen category, a new word, a column the file lacks) maps to the reserved index 0 and never fails."""
    optional = [c.column for c in state.columns if c.encoding != "ordinal"] + list(
        state.text.columns if state.text else []
    )
    frame = frame.assign(**{c: [None] * len(frame) for c in optional if c not in frame})
    numeric, reason = _numeric(state, frame, source)
    cats = np.zeros((len(frame), len(state.categories)), np.int32)
    for j, col in enumerate(state.categories):
        cats[:, j] = [col.codes.get(k, 0) for k in answer_keys(frame[col.column], "(blank)")]
    if state.text:
        toks, weights = tokens(state.text, frame)
    else:
        toks, weights = np.zeros((len(frame), 0), np.int32), np.zeros((len(frame), 0), np.float32)
    return Inputs(scale(state, np.nan_to_num(numeric)), cats, toks, weights), reason


def flags(state: FeatureState, frame: Frame, given: Frame | None = None) -> list[list[Flag]]:
    """What the model made of each row's answers where it is not plain (reasons.Flag, one list per row): an answer
    it did not learn (never seen, or given by too few training rows: the reserved "rare" slot), title words it
    never saw, or a title it knows nothing of; with `given` (the answers before tidying), a country or state read
    through the alias table."""
    out: list[list[Flag]] = [[] for _ in range(len(frame))]
    for col in state.columns:
        if col.encoding == "ordinal" or col.column not in frame:
            continue
        for i, answer in enumerate(frame[col.column]):
            text = _str(answer).strip()
            if not text:
                continue
            if col.encoding == "category" and normalise(text) not in col.codes:
                out[i].append(Flag(col.column, "unknown", text, learned=len(col.codes)))
            elif col.encoding == "multi":
                folded, written = options(text), options(text, fold=False)
                unknown = [
                    w for o, w in zip(folded, written if len(written) == len(folded) else folded) if o not in col.codes
                ]
                if unknown:
                    out[i].append(Flag(col.column, "unknown", ", ".join(unknown), tuple(unknown), len(col.codes)))
    if state.text:
        _title_flags(state.text, frame, out)
    if given is not None:
        read = {c.column for c in state.columns}
        for column in given.columns:  # the answers tidying rewrote
            if column not in frame or column not in read:  # an answer it ignores: no flag
                continue
            for i, (before, after) in enumerate(zip(given[column], frame[column])):
                before, after = _str(before).strip(), _str(after).strip()
                if before and after and normalise(before) != normalise(after):
                    out[i].append(Flag(column, "resolved", before, read_as=after))
    return out


def _title_flags(text: TextState, frame: Frame, out: list[list[Flag]]) -> None:
    """The job title's flags: a title none of whose words or letter pieces the model saw, or the words it never saw."""
    field, index, buckets = text.columns[0], text.index, text.buckets
    texts = text_of(frame, text.columns)
    for i, (title, grams) in enumerate(zip(texts, hashed(texts, buckets))):
        words = list(dict.fromkeys(_WORD.findall(title.casefold())))
        if not words:
            continue
        if not any(b in index for b in grams):
            out[i].append(Flag(field, "no_known_words", title.strip()))
            continue
        unseen = [w for w in words if bucket(f"w {w}", buckets) not in index]
        if unseen:
            out[i].append(Flag(field, "unknown_words", ", ".join(unseen), tuple(unseen)))


def question_parts(state: FeatureState) -> dict[str, tuple[str, list[int]]]:
    """Where each survey question sits in the encoded inputs: ('numeric', its columns), ('cats', [its
    index]) or ('text', []) for the text columns together (one question: the job title)."""
    parts: dict[str, tuple[str, list[int]]] = {}
    start, cat = 0, 0
    for col in state.columns:
        if col.encoding == "category":
            parts[col.column] = ("cats", [cat])
            cat += 1
        else:
            parts[col.column] = ("numeric", list(range(start, start + col.width())))
            start += col.width()
    if state.text:
        parts["job title (text)"] = ("text", [])
    return parts


def shuffle_question(x: Inputs, part: tuple[str, list[int]], order: np.ndarray) -> Inputs:
    """The inputs with one question's answers moved between rows by `order`."""
    kind, columns = part
    if kind == "text":
        return x._replace(tokens=x.tokens[order], weights=x.weights[order])
    block = getattr(x, kind).copy()
    block[:, columns] = block[order][:, columns]
    return x._replace(**{kind: block})


def embedding_width(vocabulary: int, dim: int | None) -> int:
    return dim or min(16, 1 + int(np.ceil(np.sqrt(vocabulary))))
