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
    """An answer set the model cannot take: field, the value sent, kind ('missing', 'not_allowed', 'unknown')."""

    def __init__(self, message: str, field: str, kind: str, value: Any = None):
        super().__init__(message)
        self.field, self.kind, self.value = field, kind, value


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
                raise Refusal(
                    f"{self.name}: an answer is required, one of: {listing(self.allowed)}", self.name, "missing"
                )
            return None
        text = value if isinstance(value, str) else str(value)
        if not self.strict:
            return text
        tidied = tidy(self.name, text)
        tidied = tidied if isinstance(tidied, str) and tidied else text
        for v in options(tidied, fold=False) if self.kind == "multi" else [tidied]:
            if normalise(v) not in self.keys:
                shown = repr(v if len(v) <= ECHO else v[:ECHO] + "…")
                raise Refusal(
                    f"{self.name} {shown} is not one of: {listing(self.allowed)}", self.name, "not_allowed", text
                )
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
    names = ", ".join(reads) or ", ".join(sorted(COLUMNS))
    for key, value in answers.items():
        if key in kept:
            out[key] = value
            continue
        found = canonical_name(key) if isinstance(key, str) else None
        shown = str(key) if len(str(key)) <= ECHO else str(key)[:ECHO] + "…"  # the field: the whole name
        if found is None:
            why = Refusal(
                f"{shown!r} is not a survey question; {'this model reads' if reads else 'the questions are'}: {names}",
                str(key),
                "unknown",
            )
        elif found[0] in out:
            why = Refusal(f"{source[found[0]]!r} and {shown!r} both answer {found[0]}; keep one", str(key), "unknown")
        else:
            out[found[0]], source[found[0]] = value, shown
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


def refusals(fields: list[Field], frame: Any) -> list[str]:
    """Per row of a frame (features.Frame) under canonical names: the first refusal's text, or ''."""
    out = [""] * len(frame)
    for f in fields:
        if not (f.strict or f.required):
            continue
        values = frame[f.name] if f.name in frame else [None] * len(frame)
        seen: dict[Any, str] = {}
        for i, value in enumerate(values):
            if out[i]:
                continue
            key = value if isinstance(value, str) else None if missing(value) else repr(value)
            if key not in seen:
                try:
                    f.check(value)
                    seen[key] = ""
                except Refusal as e:
                    seen[key] = str(e)
            out[i] = seen[key]
    return out
