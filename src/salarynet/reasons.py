"""Why a row is left out, or an answer cannot be taken: a record (question, kind, value, allowed answers) from
where it is found to where it is worded. Nothing reads a reason back out of its words."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Reason:
    """One row's first problem. column: the survey question (or `salary`, `currency`); kind: what is wrong with
    its answer ('blank', 'unlisted', 'not_usd', 'without_rate', 'unparseable', 'negative', 'implausible',
    'zero'); value: the answer as given, where the words quote it; allowed: the answers the recipe lists."""

    column: str
    kind: str
    value: Any = None
    allowed: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The name a row count goes under (`education_unlisted`, `currency_not_usd`): rows.json's keys."""
        return f"{self.column}_{self.kind}"

    def __str__(self) -> str:
        return self.words()

    def words(self) -> str:
        """The reason as a sentence for a predictions table or an error."""
        if self.kind == "blank":
            return f"{self.column} is blank"
        if self.kind == "unlisted" and self.allowed:
            return f"{self.column} {self.value!r} is not one of: {', '.join(self.allowed)}"
        return self.code.replace("_", " ")


def none(rows: int) -> np.ndarray:
    """object[rows] of None: no row has a reason yet."""
    return np.full(rows, None, dtype=object)


def unset(reasons: np.ndarray | Sequence[Any]) -> np.ndarray:
    """bool[rows]: the rows without a reason (None; pandas may have made it NaN)."""
    return np.fromiter((r is None or r != r for r in reasons), bool, len(reasons))


@dataclass(frozen=True)
class Flag:
    """What a model made of an answer that is not plain, as a record until it is worded (message). kind:
    'unknown' (an answer it did not learn: a rare answer, or for a multi-select question `parts` left out),
    'unknown_words' (`parts`: title words it never saw), 'no_known_words' (a title it knows nothing of) or
    'resolved' (read through the alias table as `read_as`). learned: how many answers the question learned."""

    field: str
    kind: str
    answer: str
    parts: tuple[str, ...] = ()
    learned: int = 0
    read_as: str = ""

    @property
    def message(self) -> str:
        if self.kind == "resolved":
            return f"{self.field} {self.answer!r} read as {self.read_as!r}"
        if self.kind == "no_known_words":
            return (
                f"{self.field} {self.answer!r}: the model knows none of its words or letter pieces, so it answers as "
                "for a blank title"
            )
        many = len(self.parts) > 1
        if self.kind == "unknown_words":
            return (
                f"{self.field}: the model never saw the word{'s' if many else ''} {', '.join(map(repr, self.parts))} "
                f"(it reads {'them' if many else 'it'} by letter pieces only)"
            )
        learned = f"the {self.learned} {self.field} answers it learned"
        if self.parts:  # a multi-select question: the options it did not learn are left out
            return f"{self.field} {', '.join(map(repr, self.parts))}: not among {learned}; left out"
        return f"{self.field} {self.answer!r} is not among {learned}: it counts as a rare answer"

    def to_json(self) -> dict[str, str]:
        """{field, kind, answer, message}: the HTTP API's and `predict --json`'s flag."""
        return {"field": self.field, "kind": self.kind, "answer": self.answer, "message": self.message}
