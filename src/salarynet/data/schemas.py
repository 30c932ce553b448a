"""The survey's header schemas (each year's Google Form, TidyTuesday's, the tutorial's, salarynet's own), mapped
to one set of canonical column names."""

import functools
import re

# Canonical name -> what the column holds. TidyTuesday's names, shortened where they were long.
COLUMNS: dict[str, str] = {
    "timestamp": "when the form was submitted",
    "age": "age band",
    "industry": "industry",
    "job_title": "job title (free text)",
    "job_context": "job title context (free text)",
    "annual_salary": "annual salary in the answer's currency",
    "other_comp": "additional monetary compensation",
    "currency": "currency of the salary",
    "currency_other": "currency, when 'Other' was chosen (free text)",
    "income_context": "income context (free text)",
    "country": "country (free text)",
    "state": "US state(s)",
    "city": "city (free text)",
    "experience_overall": "years of professional experience, overall",
    "experience_field": "years of professional experience in the field",
    "education": "highest level of education completed",
    "gender": "gender",
    "race": "race (multi-select, comma-separated)",
    "function": "functional area of the job (asked from the 2023 form on; blank for 2021 rows)",
    "remote": "remote, hybrid or on-site (asked from the 2023 form on; blank for 2021 rows)",
    "survey_year": "the survey's year (the form's; not a question: read from the file, see survey.survey_years)",
}

# The form's multiple-choice questions: an answer outside the listed ones is a mistake, not a new answer.
# (Industry and currency offer "Other" with a free-text box; country, city and the titles are free text.)
CHOICE_COLUMNS = frozenset(
    {"age", "experience_overall", "experience_field", "education", "gender", "race", "state", "remote"}
)

# Google Form export: the question text. Matched on a normalised prefix, so that small edits to
# a question's wording after its opening words still match.
FORM_PREFIXES: dict[str, str] = {
    "timestamp": "timestamp",
    "how old are you": "age",
    "what industry do you work in": "industry",
    "job title": "job_title",
    "if your job title needs additional context": "job_context",
    "what is your annual salary": "annual_salary",
    "how much additional monetary compensation": "other_comp",
    "please indicate the currency": "currency",
    'if "other," please indicate the currency': "currency_other",
    "if your income needs additional context": "income_context",
    "what country do you work in": "country",
    "if you're in the u.s., what state": "state",
    "what city do you work in": "city",
    "how many years of professional work experience do you have overall": "experience_overall",
    "how many years of professional work experience do you have in your field": "experience_field",
    "what is your highest level of education": "education",
    "what is your gender": "gender",
    "what is your race": "race",
}

# The 2023 form's export: shorter question text ("Annual salary (gross)", "Years of experience, overall"). The
# one-word headers it shares with the snake_case schemas (Industry, Currency, Country, State, City, Gender,
# Race) are read through those tables. Prefixes are matched after `normalise` (which folds " - " to "-").
FORM_2023_PREFIXES: dict[str, str] = {
    "timestamp": "timestamp",
    "how old are you": "age",
    "functional area": "function",
    "job title": "job_title",
    "job title-additional context": "job_context",
    "annual salary": "annual_salary",
    "additional monetary compensation": "other_comp",
    "currency-other": "currency_other",
    "income-additional context": "income_context",
    "remote or on-site": "remote",
    "remote or onsite": "remote",
    "years of experience, overall": "experience_overall",
    "years of experience overall": "experience_overall",
    "years of experience in field": "experience_field",
    "years of experience in your field": "experience_field",
    "highest level of education": "education",
}

# TidyTuesday 2021-05-18 survey.csv: snake_case names.
TIDYTUESDAY: dict[str, str] = {
    "timestamp": "timestamp",
    "how_old_are_you": "age",
    "industry": "industry",
    "job_title": "job_title",
    "additional_context_on_job_title": "job_context",
    "annual_salary": "annual_salary",
    "other_monetary_comp": "other_comp",
    "currency": "currency",
    "currency_other": "currency_other",
    "additional_context_on_income": "income_context",
    "country": "country",
    "state": "state",
    "city": "city",
    "overall_years_of_professional_experience": "experience_overall",
    "years_of_experience_in_field": "experience_field",
    "highest_level_of_education_completed": "education",
    "gender": "gender",
    "race": "race",
}

# The tutorial's cleaned sheet: five names.
TUTORIAL: dict[str, str] = {
    "age": "age",
    "professional_experience_years": "experience_overall",
    "gender": "gender",
    "highest_edu_level": "education",
    "annual_salary": "annual_salary",
}

# salarynet's own names (the HTTP API's, and a Python user's DataFrame's).
CANONICAL: dict[str, str] = {name: name for name in COLUMNS}

_WHOLE = ("timestamp", "job title")

FORMS = {"form": FORM_PREFIXES, "form-2023": FORM_2023_PREFIXES}
SCHEMA_NAMES = {
    "form": "Google Form question text (2021 form)",
    "form-2023": "Google Form question text (2023 form)",
    "tidytuesday": "TidyTuesday snake_case",
    "tutorial": "the tutorial's five names",
    "canonical": "salarynet's canonical names",
}
SNAKE_TABLES = {"tidytuesday": TIDYTUESDAY, "tutorial": TUTORIAL, "canonical": CANONICAL}


@functools.lru_cache(maxsize=1 << 16)  # answers repeat: a file has a few thousand distinct ones
def normalise(text: str) -> str:
    """Fold case, curly quotes, runs of white space and the spaces around a hyphen ("2 - 4 years" and
    "2-4 years": the survey writes both), so that spellings compare equal."""
    text = straight_quotes(text.replace("\ufeff", ""))
    return re.sub(r"\s*-\s*", "-", re.sub(r"\s+", " ", text.strip().casefold()))


def straight_quotes(text: str) -> str:
    """Curly quotes as straight ones: "Master’s degree" is "Master's degree" (every answer folding starts here)."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def canonical_name(header: str) -> tuple[str, str | None] | None:
    """(canonical column, schema) for one header, or None when no schema knows it. The schema is None for
    a header several schemas share (`gender`, `annual_salary`, `age`): it says nothing of which one a file
    follows."""
    key = normalise(header).rstrip(" ?:")
    found = {}
    for schema, prefixes in FORMS.items():
        # One-word headers must match whole; questions by their opening words (the longest prefix wins:
        # "job title-additional context" over "job title").
        matches = [p for p in prefixes if key == p or (p not in _WHOLE and key.startswith(p))]
        if matches:
            found[schema] = prefixes[max(matches, key=len)]
    snake = key.replace(" ", "_")
    found |= {schema: table[snake] for schema, table in SNAKE_TABLES.items() if snake in table}
    if not found:
        return None
    names = set(found.values())
    if len(names) > 1:  # two schemas read it as different columns: the question forms' reading wins
        found = {s: n for s, n in found.items() if s in FORMS} or found
    return next(iter(found.values())), (next(iter(found)) if len(found) == 1 else None)


def spellings(column: str) -> list[str]:
    """The headers that are read as `column`, one per schema that has it."""
    found = [f"{q!r}..." for prefixes in FORMS.values() for q, c in prefixes.items() if c == column]
    found += [repr(h) for table in SNAKE_TABLES.values() for h, c in table.items() if c == column]
    return list(dict.fromkeys(found))
