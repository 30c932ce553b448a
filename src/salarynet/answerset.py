"""One answer set's contract, written once for the command line, Python and HTTP: which answers a model reads,
which of them it requires, the names it accepts for them, and the refusal for answers it cannot take.

- A name is any header of the survey files salarynet reads (the canonical `age`, the form's question text, the
  TidyTuesday or tutorial names), matched without regard to case; a name that is no survey question is refused.
  Answers to questions the model does not read are ignored, as a file's other columns are.
- A model requires the answers it learned from answered rows only (the tutorial's ordinal bands; a band the
  recommended model never saw blank): a blank one is refused. Every other answer may be blank.
- An ordinal answer (the tutorial's bands: a number on a scale) must be one the recipe lists, matched up to case,
  curly quotes and spaces, once tidied as a file's answers are ("masters degree" is "Master's degree"); any other
  is refused, as the network has no number for it. Every other answer is taken: one the model did not learn
  (a misspelling, or one too rare in training to get its own slot) counts as a rare answer, and says so in a flag
  (features.flags), as a file's row does.

It imports neither pandas nor JAX: one person's answer from a saved run stays a fraction of a second.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .data.answers import band_order, tidy
from .data.schemas import CHOICE_COLUMNS, COLUMNS, canonical_name, normalise
from .errors import DataError
from .features import FeatureState, missing, options

SHOWN = 10  # allowed answers a refusal lists (`salarynet answers RUN` and GET /model list them all)
ECHO = 100  # characters of a refused answer a refusal shows
SURVEY_YEAR = "survey_year"  # not a question: which survey year the answers are read as


class Refusal(DataError, ValueError):
    """An answer set the model cannot take, as a record until it is worded (str()): field, the value sent, kind
    ('missing': a required answer left blank; 'not_allowed': an answer off the question's choices; 'unknown': a
    name that is no survey question, or one question named twice), allowed: the answers (for 'unknown': the
    names) it takes."""

    def __init__(self, field: str, kind: str, value: Any = None, allowed: tuple[str, ...] = (), other: str = ""):
        super().__init__(field, kind, value)
        self.field, self.kind, self.value, self.allowed, self.other = field, kind, value, tuple(allowed), other

    def __str__(self) -> str:
        shown = repr(_clipped(str(self.value)))
        if self.kind == "missing":
            return f"{self.field}: an answer is required, one of: {listing(self.allowed)}"
        if self.kind == "not_allowed":
            return f"{self.field} {shown} is not one of: {listing(self.allowed)}"
        if self.other:  # one question named twice
            return f"{self.other!r} and {_clipped(self.field)!r} both answer {self.value}; keep one"
        names = ", ".join(self.allowed) or ", ".join(sorted(COLUMNS))
        return f"{_clipped(self.field)!r} is not a survey question; {'this model reads' if self.allowed else 'the questions are'}: {names}"

    def __reduce__(self):
        return type(self), (self.field, self.kind, self.value, self.allowed, self.other)


def _clipped(text: str) -> str:
    return text if len(text) <= ECHO else text[:ECHO] + "…"


@dataclass(frozen=True)
class Field:
    """One answer the model reads. kind: 'choice' (one of `allowed`), 'multi' (any of `allowed`, comma-separated
    or a list) or 'text' (anything; `allowed` lists the answers the model learned)."""

    name: str
    question: str
    kind: str
    allowed: tuple[str, ...]
    required: bool
    keys: frozenset[str]  # the allowed answers, folded by normalise
    strict: bool = False  # an answer outside `allowed` is refused (an ordinal scale), not read as a rare one

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "question": self.question,
            "kind": self.kind,
            "required": self.required,
            "allowed": list(self.allowed),
            "others": "refused" if self.strict else "read as a rare answer",
        }

    def check(self, value: Any) -> str | None:
        """The answer as given (several options joined by ', '; None for a blank), once it is one the model can
        take: Refusal for a blank required answer, or an ordinal answer the recipe does not list even once tidied
        as a file's answers are (data.answers.tidy: "masters degree" is "Master's degree")."""
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value if v is not None)
        if missing(value) or (isinstance(value, str) and not value.strip()):  # None, NaN, NA, blank
            if self.required:
                raise Refusal(self.name, "missing", None, self.allowed)
            return None
        text = value if isinstance(value, str) else str(value)
        if not self.strict:
            return text
        tidied = tidy(self.name, text)
        tidied = tidied if isinstance(tidied, str) and tidied else text
        for v in options(tidied, fold=False) if self.kind == "multi" else [tidied]:
            if normalise(v) not in self.keys:
                raise Refusal(self.name, "not_allowed", v, self.allowed)
        return text


def listing(allowed: tuple[str, ...]) -> str:
    more = f", ... ({len(allowed)} in all: `salarynet answers RUN` lists them)" if len(allowed) > SHOWN else ""
    return ", ".join(allowed[:SHOWN]) + more


def fields_of(state: FeatureState) -> list[Field]:
    """The answers a model reads, in its inputs' order, each with the answers it accepts."""
    out = []
    for col in state.columns:
        if col.column == SURVEY_YEAR:
            continue
        question = COLUMNS.get(col.column, col.column)
        # as shown: the recipe's spelling (ordinal) or the survey's commonest (the learned answers are folded)
        shown = {normalise(k): k if col.encoding == "ordinal" else col.label(k) for k in col.codes if k != "(blank)"}
        allowed, keys = tuple(band_order(list(shown.values()))), frozenset(shown)
        if col.encoding == "ordinal":
            out.append(Field(col.column, question, "choice", allowed, col.unlisted == "exclude", keys, True))
        elif col.column not in CHOICE_COLUMNS:
            out.append(Field(col.column, question, "text", allowed, False, keys))
        else:
            required = col.encoding == "category" and "(blank)" not in col.codes
            out.append(
                Field(col.column, question, "multi" if col.encoding == "multi" else "choice", allowed, required, keys)
            )
    for column in state.text.columns if state.text else ():
        out.append(Field(column, COLUMNS.get(column, column), "text", (), False, frozenset()))
    return out


def canonical_names(
    answers: Mapping[str, Any], keep: Iterable[str] = (), reads: Iterable[str] = (), refused: list | None = None
) -> dict[str, Any]:
    """An answer set's names as the model's: any survey header, case-insensitive. A name that is no survey
    question is refused, naming the answers the model `reads` (else every survey question): the first Refusal is
    raised, or each is added to `refused` where it is given. `keep` names pass as they are (the HTTP API's year)."""
    kept, out, source = set(keep), {}, {}
    reads = tuple(reads)
    for key, value in answers.items():
        if key in kept:
            out[key] = value
            continue
        found = canonical_name(key) if isinstance(key, str) else None
        if found is None:
            why = Refusal(str(key), "unknown", None, reads)
        elif found[0] in out:
            why = Refusal(str(key), "unknown", found[0], reads, other=source[found[0]])
        else:
            out[found[0]], source[found[0]] = value, _clipped(str(key))
            continue
        if refused is None:
            raise why
        refused.append(why)
    return out


def check(fields: list[Field], answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[Refusal]]:
    """One answer set under canonical names -> (the answers each field reads, blanks as None; every refusal).
    Answers to questions the model does not read are left out."""
    checked, refused = {}, []
    for f in fields:
        try:
            checked[f.name] = f.check(answers.get(f.name))
        except Refusal as e:
            refused.append(e)
    return checked, refused


def refusals(fields: list[Field], frame: Any) -> list[Refusal | None]:
    """Per row of a frame (features.Frame) under canonical names: its first Refusal, or None."""
    out: list[Refusal | None] = [None] * len(frame)
    for f in fields:
        if not (f.strict or f.required):
            continue
        values = frame[f.name] if f.name in frame else [None] * len(frame)
        seen: dict[Any, Refusal | None] = {}
        for i, value in enumerate(values):
            if out[i] is not None:
                continue
            key = value if isinstance(value, str) else None if missing(value) else repr(value)
            if key not in seen:
                try:
                    f.check(value)
                    seen[key] = None
                except Refusal as e:
                    seen[key] = e
            out[i] = seen[key]
    return out
