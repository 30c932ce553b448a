"""The survey year, owned here: which survey years a model learned (recorded when it is fitted, from the rows it
learned from), which learned year an answer is made at, and the dollars of which year the answer is in.

A model with the `survey_year` input reads it as an answer; a model without it still learned from one survey year
or several, and answers in the latest one's dollars. A range model's salary is carried to another year by the wage
index (data/wages.py); a model of classes answers only in a year it learned (its threshold is that year's dollars).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data.wages import check_year, factor
from .errors import DataError

COLUMN = "survey_year"
OLDEST = 2021  # a run written before the 2023 survey records no years: it learned from the 2021 survey


def of_rows(values: Iterable[Any]) -> list[int]:
    """The survey years among a column's values (text or numbers), sorted, each once."""
    found = set()
    for value in values:
        text = str(value).strip()
        if text.isdigit():
            found.add(int(text))
    return sorted(found)


@dataclass(frozen=True)
class Years:
    """A fitted model's survey years. learned: the years of the rows it learned from (sorted); reads: whether the
    survey year is one of its inputs; classes: whether it answers with classes (no carrying between years)."""

    learned: tuple[int, ...]
    reads: bool
    classes: bool

    @classmethod
    def of_model(cls, codes: Mapping[str, Any] | None, data: Mapping[str, Any], classes: bool) -> "Years":
        """A fitted model's years: its survey_year input's (codes, where it reads it), else the ones its data
        record names (`learned_years`, written at fit time; a run older than that: its file's `years`)."""
        if codes is not None:
            learned = of_rows(codes)
        else:
            learned = list(data.get("learned_years") or of_rows(data.get("years") or {}))
        return cls(tuple(learned or [OLDEST]), codes is not None, classes)

    @property
    def latest(self) -> int:
        return self.learned[-1]

    def base(self, year: Any) -> int:
        """The learned survey year an answer for `year` is made at: the latest learned one not after it (none
        given: the latest)."""
        try:
            asked = int(str(year).strip())
        except ValueError:  # None, NaN, a blank
            return self.latest
        return max([y for y in self.learned if y <= asked], default=self.learned[0])

    def dollars(self, year: int | None = None) -> tuple[int, int]:
        """(the year whose dollars an answer is in, the learned survey year it is made at) for a year asked (None:
        the latest learned). A model of classes answers only for a year it learned."""
        if year is None or year in self.learned:
            return (self.latest, self.latest) if year is None else (year, year)
        check_year(year)
        if self.classes:
            raise DataError(
                f"year {year}: this model's classes are salaries in the dollars of the survey years it learned "
                f"({', '.join(map(str, self.learned))}); a salary-range model (recipe recommended-range) answers in "
                "any year's dollars"
            )
        return year, self.base(year)

    def as_learned(self, frame: Any) -> Any:
        """The rows with each survey year one the model learned (a 2025 file's rows read as 2023's); a row without
        one is read as of the latest learned year. Rows of a model that does not read the year are as they are."""
        if not self.reads:
            return frame
        given = list(frame[COLUMN]) if COLUMN in frame else [None] * len(frame)
        as_read = {v: str(self.base(v)) for v in set(given)}  # a learned year reads as itself
        mapped = [as_read[v] for v in given]
        return frame if mapped == given else frame.assign(**{COLUMN: mapped})

    def at(self, frame: Any, base: int) -> Any:
        """The rows as the model reads them for an answer made at survey year `base`."""
        return frame.assign(**{COLUMN: [str(base)] * len(frame)}) if self.reads else frame

    def carried(self, decoded: dict[str, Any], asked: int, base: int) -> dict[str, Any]:
        """Decoded answers moved from base's dollars to asked's by the wage index (a range model's salaries)."""
        if self.classes or asked == base:
            return decoded
        f = factor(base, asked)
        return decoded | {k: np.round(np.asarray(decoded[k]) * f, -2) for k in ("salary", "low", "high")}
