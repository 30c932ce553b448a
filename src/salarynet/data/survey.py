"""Read survey files in any of the three schemas, parse salaries, and select rows for a recipe."""

import gzip
import zipfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..reasons import Reason
from .answers import TIDIED, currency_code, tidy
from .files import check_file
from .schemas import COLUMNS, SCHEMA_NAMES, canonical_name, spellings

# The survey year of a file with no timestamps, by the schema its headers follow (salarynet's own names: 2021).
SCHEMA_YEARS = {"form": 2021, "form-2023": 2023, "tidytuesday": 2021, "tutorial": 2021, "canonical": 2021}
_YEAR = r"(?<!\d)((?:19|20)\d\d)(?!\d)"


@dataclass
class Survey:
    """A survey file's rows under canonical column names (all values text, blanks as NaN)."""

    frame: pd.DataFrame
    path: str
    schema: str  # a key of SCHEMA_NAMES
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # headers no schema knows (dropped), for hints
    given: pd.DataFrame | None = None  # the answers tidying rewrites (TIDIED), as given: what was read as what


def _delimiter(path: Path) -> str:
    """',' unless the header line has more ';' or tabs (spreadsheets saved in some locales)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        header = f.readline()
    return max([",", ";", "\t"], key=header.count)


def _read_csv(path: Path) -> pd.DataFrame:
    sep = _delimiter(path)
    try:
        return pd.read_csv(path, dtype=str, sep=sep, encoding="utf-8-sig")
    except UnicodeDecodeError:  # an export saved as Windows-1252 rather than UTF-8
        return pd.read_csv(path, dtype=str, sep=sep, encoding="cp1252", encoding_errors="replace")


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    check_file(path)
    try:
        if name.endswith(".xlsx"):
            return pd.read_excel(path, dtype=str, engine="openpyxl")
        return _read_csv(path)
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        gzip.BadGzipFile,
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
    ) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: cannot read as {'XLSX' if name.endswith('.xlsx') else 'CSV'}: {reason}") from None


def canonicalise(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str, list[str]]:
    """Rename known headers to canonical names and drop the rest -> (frame, the schema they came from,
    the unknown headers). The schema is the one with the most headers of its own."""
    renames: dict[str, str] = {}
    votes: dict[str, int] = {}
    unknown = []
    for header in frame.columns:
        found = canonical_name(str(header))
        if found is None:
            unknown.append(str(header))
            continue
        name, schema = found
        if name in renames.values():
            raise DataError(f"{source}: column {header!r} is a second {name!r} column; keep one")
        renames[header] = name
        if schema is not None:
            votes[schema] = votes.get(schema, 0) + 1
    if not renames:
        shown = ", ".join(repr(str(h)) for h in list(frame.columns)[:6])
        raise DataError(
            f"{source}: unknown header schema: headers {shown} match none of "
            f"{'; '.join(SCHEMA_NAMES.values())} (the salary, for one, is read from {' or '.join(spellings('annual_salary'))})"
        )
    schema = max(votes, key=votes.__getitem__) if votes else "tidytuesday"
    out = frame[list(renames)].rename(columns=renames)
    # Text cells only: strip stray spaces, and treat empty answers as blanks.
    out = out.apply(lambda col: col.astype(str).where(col.notna()).str.strip().replace("", np.nan))
    return out.reset_index(drop=True), schema, unknown


def tidy_answers(frame: pd.DataFrame) -> pd.DataFrame:
    """The countries and states tidied (answers.tidy)."""
    frame = frame.copy()
    for column in TIDIED:
        if column in frame.columns:
            frame[column] = [tidy(column, a) for a in frame[column]]
    return frame


def survey_years(frame: pd.DataFrame, schema: str, source: str) -> pd.Series:
    """Each row's survey year, as text: a survey_year column's answer where it has one; else the file's year,
    which is the year most of its timestamps fall in (a survey opens in the spring and most answers come within
    weeks; the late ones, even years later, still answered that year's form), else its schema's (SCHEMA_YEARS)."""
    year = SCHEMA_YEARS[schema]
    if "timestamp" in frame.columns:
        stamped = frame["timestamp"].astype("string").str.extract(_YEAR, expand=False).dropna()
        if len(stamped) and len(stamped) >= len(frame) / 2:
            year = int(stamped.mode().iloc[0])
    years = pd.Series(str(year), index=frame.index, dtype=object)
    if "survey_year" in frame.columns:
        given = frame["survey_year"]
        number = pd.to_numeric(given, errors="coerce")
        bad = given.notna() & ~(number.between(1990, 2100) & (number % 1 == 0))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: column 'survey_year', row {row + 2}: {given.iloc[row]!r} is not a survey year "
                "(expected a year such as 2021 or 2023, or a blank for the file's own)"
            )
        years = years.where(given.isna(), number.astype("Int64").astype(str))
    return years


def survey_of(frame: pd.DataFrame, source: str) -> Survey:
    """Rows in any header schema as a Survey: canonical names, tidy answers (a file's, or a caller's DataFrame),
    and each row's survey year."""
    canonical, schema, unknown = canonicalise(frame, source)
    canonical["survey_year"] = survey_years(canonical, schema, source)
    return tidy_survey(canonical, source, schema, unknown)


def tidy_survey(
    frame: pd.DataFrame, source: str, schema: str = "canonical", unknown: list[str] | None = None
) -> Survey:
    """Rows under canonical names as a Survey: answers tidied, the rewritten ones kept as given."""
    given = frame[[c for c in TIDIED if c in frame.columns]].copy()
    return Survey(frame=tidy_answers(frame), path=source, schema=schema, unknown=unknown or [], given=given)


def combine(surveys: list[Survey]) -> Survey:
    """Several surveys as one, their rows one after the other: a column one of them lacks is blank in its rows
    (a 2021 row has no answer to the 2023 form's new questions). Notes keep the file they are about."""
    frame = pd.concat([s.frame for s in surveys], ignore_index=True, sort=False)
    given = pd.concat([s.given for s in surveys if s.given is not None], ignore_index=True, sort=False)
    return Survey(
        frame=frame,
        path=" + ".join(s.path for s in surveys),
        schema=surveys[0].schema,
        notes=[f"{s.path}: {n}" for s in surveys for n in s.notes],
        unknown=list(dict.fromkeys(h for s in surveys for h in s.unknown)),
        given=given,
    )


def read_survey(path: str | Path) -> Survey:
    return survey_of(_read_table(Path(path)), str(path))


def parse_money(values: pd.Series) -> pd.Series:
    """Salaries as numbers: '55,000', '$55000', ' 55000 ' -> 55000.0; anything else NaN."""
    text = values.astype("string").str.replace(r"[,\s$_]", "", regex=True)
    number = pd.to_numeric(text, errors="coerce").astype(float)
    return number.where(np.isfinite(number))  # 'inf' and 'infinity' parse, but are no salary


def missing_columns_error(survey: Survey, missing: list[str], purpose: str) -> DataError:
    """One line: the file, every missing column, what needs them, what the file has, and how each is spelled."""
    hints = "; ".join(f"{c} is read from {' or '.join(spellings(c))}" for c in missing)
    unknown = (
        (
            f"; headers not recognised: {', '.join(repr(h) for h in survey.unknown[:8])}"
            f"{' ...' if len(survey.unknown) > 8 else ''}"
        )
        if survey.unknown
        else ""
    )
    return DataError(
        f"{survey.path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
        f"({purpose}); the file ({SCHEMA_NAMES[survey.schema]}) has {', '.join(survey.frame.columns)}{unknown}; {hints}"
    )


def require_columns(survey: Survey, columns: list[str], purpose: str) -> None:
    missing = [c for c in columns if c not in survey.frame.columns]
    if missing:
        raise missing_columns_error(survey, missing, purpose)


def conform(survey: Survey, required: list[str], optional: list[str], purpose: str) -> Survey:
    """The survey with every optional column it lacks read as blank (named once in its notes); a refusal
    naming every required column it lacks."""
    require_columns(survey, required, purpose)
    absent = [c for c in dict.fromkeys(optional) if c not in survey.frame.columns]
    if not absent:
        return survey
    _note(survey, f"no {', '.join(f'{c} ({COLUMNS[c]})' for c in absent)} column in the file: read as blank")
    blank = {c: pd.Series(np.nan, index=survey.frame.index, dtype=object) for c in absent}
    return replace(survey, frame=survey.frame.assign(**blank))


def rows_text(rows: dict[str, Any]) -> str:
    excluded = ", ".join(f"{k} {v}" for k, v in rows["excluded"].items()) or "none"
    return f"read {rows['read']}, kept {rows['kept']}, excluded {rows['read'] - rows['kept']} ({excluded})"


def _note(survey: Survey, note: str) -> None:
    """Something the reader of a run should know about its file (saved in data.json), said once."""
    if note not in survey.notes:
        survey.notes.append(note)


def exchange_rates(year: int = 2021) -> dict[str, float]:
    """Units of each currency per US dollar, annual averages of the survey year (the latest earlier year's where
    it has none, the earliest year's before them; the file's header says where they come from)."""
    with resources.files("salarynet.data").joinpath("exchange_rates.csv").open() as f:
        table = pd.read_csv(f, comment="#")
    years = sorted(set(table["year"]))
    chosen = max([y for y in years if y <= year], default=years[0])
    table = table[table["year"] == chosen]
    return dict(zip(table["currency"], table["per_usd"].astype(float)))


def salary_rows(
    survey: Survey, currency: str | None, min_salary: float | None = None, max_salary: float | None = None
) -> tuple[pd.Series, pd.Series]:
    """(salary, reason) per row: the reason is None for a usable salary, else why the row is excluded (a Reason).

    currency "USD" (or another code) keeps that currency's rows as they are; "convert" converts every
    row to USD at its survey year's average rates ("AUD/NZD" by the country, "Other" from the free-text answer
    where it names a known code); None keeps every row unconverted. Salaries outside
    [min_salary, max_salary] (after conversion) are excluded as implausible. Reasons are checked in
    that order, so that each row has one.
    """
    require_columns(survey, ["annual_salary"], "the salary to label")
    frame = survey.frame
    reason = pd.Series(None, index=frame.index, dtype=object)
    salary = parse_money(frame["annual_salary"])
    if currency == "convert":
        years = frame["survey_year"] if "survey_year" in frame.columns else pd.Series("2021", index=frame.index)
        tables = {y: exchange_rates(int(y)) for y in years.unique()}
        rates = {code: rate for table in tables.values() for code, rate in table.items()}
        if "currency" in frame.columns:
            known, text = (
                frozenset(rates),
                lambda column: [v if isinstance(v, str) else None for v in frame.get(column, [None] * len(frame))],
            )
            # Blanks as None, not NaN (a new float each): the answers' few hundred triples are each worked out once.
            codes = [
                currency_code(c, o, k, known=known)
                for c, o, k in zip(text("currency"), text("currency_other"), text("country"))
            ]
            per_usd = pd.Series(
                [tables[y].get(c, np.nan) if c else np.nan for c, y in zip(codes, years)], index=frame.index
            )
            reason[per_usd.isna()] = Reason("currency", "without_rate")
            salary = salary / per_usd
        else:
            _note(survey, "no currency column: every salary assumed USD")
    elif currency is not None:
        if "currency" in frame.columns:
            other = frame["currency"].fillna("").str.upper() != currency.upper()
            reason[other] = Reason("currency", f"not_{currency.lower()}")
        else:
            _note(survey, f"no currency column: every salary assumed {currency}")
    reason[reason.isna() & salary.isna()] = Reason("salary", "unparseable")
    reason[reason.isna() & (salary < 0)] = Reason("salary", "negative")
    low = salary < (min_salary if min_salary is not None else -np.inf)
    high = salary > (max_salary if max_salary is not None else np.inf)
    reason[reason.isna() & (low | high)] = Reason("salary", "implausible")
    return salary, reason
