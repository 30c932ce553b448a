"""Salaries from one year's dollars to another's, by the wage index shipped in data/wage_index.csv (its header says
what the index is and where it comes from)."""

import csv
import functools
from importlib import resources

from ..errors import DataError

INDEX_FILE = "wage_index.csv"


@functools.cache
def wage_index() -> dict[int, float]:
    """Year -> the index (US ECI, wages and salaries, civilian workers, December)."""
    with resources.files("salarynet.data").joinpath(INDEX_FILE).open() as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {int(r["year"]): float(r["index"]) for r in rows}


def index_years() -> tuple[int, int]:
    years = sorted(wage_index())
    return years[0], years[-1]


def check_year(year: object, what: str = "year") -> int:
    """A year the index covers, or one line naming the ones it does."""
    first, last = index_years()
    if isinstance(year, bool) or not isinstance(year, int) or not first <= year <= last:
        raise DataError(
            f"{what} {year!r}: expected a year from {first} to {last} (the wage index, "
            f"salarynet/data/{INDEX_FILE}, ends at {last})"
        )
    return year


def factor(from_year: int, to_year: int) -> float:
    """What a salary in from_year's dollars is worth in to_year's (1.0 for the same year)."""
    index = wage_index()
    return index[check_year(to_year)] / index[check_year(from_year)]
