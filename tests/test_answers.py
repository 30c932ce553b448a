"""Country, state and currency answers: hand-made spellings, and the snapshot's real answers."""

import pandas as pd
import pytest
from conftest import SNAPSHOT

from salarynet.data.answers import (
    KNOWN_CODES,
    canonical_country,
    currency_code,
    us_states,
)


@pytest.mark.parametrize(
    "text",
    [
        "US",
        "us",
        "U.S.",
        "U.S.A.",
        "u. s.",
        "USA",
        "Usa ",
        "United States",
        "united  states",
        "United States of America",
        "the United States",
        "America",
        "US of A",
        "USA!",
        "Unites States",
        "Untied States",
        "United Sates",
        "United Stated",
        "UnitedStates",
        "California",  # a state on its own still names the country
    ],
)
def test_united_states_spellings(text):
    assert canonical_country(text) == "United States"


@pytest.mark.parametrize(
    "text",
    [
        "UK",
        "U.K.",
        "United Kingdom",
        "united kingdom",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
        "Great Britain",
        "Britain",
        "England, UK",
        "England,UK",
        "England / UK",
        "UK (England)",
        "Scotland, United Kingdom",
        "United Kindom",
    ],
)
def test_united_kingdom_spellings(text):
    assert canonical_country(text) == "United Kingdom"


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("Austria", "Austria"),
        ("austria ", "Austria"),
        ("Australia", "Australia"),
        ("Australi", "Australia"),
        ("Canadá", "Canada"),
        ("canda", "Canada"),
        ("NZ", "New Zealand"),
        ("Aotearoa New Zealand", "New Zealand"),
        ("The Netherlands", "Netherlands"),
        ("Nederland", "Netherlands"),
        ("Ireland", "Ireland"),
        ("Northern Ireland", "United Kingdom"),
        ("Deutschland", "Germany"),
        ("Brasil", "Brazil"),
        ("Czechia", "Czech Republic"),
        ("Côte d’Ivoire", "Cote d'Ivoire"),  # accent and curly apostrophe
        ("Georgia", None),  # the country or the state: neither is guessed
        ("New Zealand", "New Zealand"),  # canonical names map to themselves
    ],
)
def test_other_countries(text, country):
    assert canonical_country(text) == country


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        float("nan"),
        "Remote",
        "Worldwide",
        "Europe",
        "n/a",
        "Canada and USA",
        "I work for a US company but live elsewhere",
        "Austral",
    ],
)
def test_blank_or_unrecognised_country_is_none(text):
    assert canonical_country(text) is None


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("California", ("California",)),
        ("California, Oregon", ("California", "Oregon")),
        ("District of Columbia", ("District of Columbia",)),
        ("District of Columbia, Maryland, Virginia", ("District of Columbia", "Maryland", "Virginia")),
        ("Virginia, District of Columbia", ("Virginia", "District of Columbia")),
        ("West Virginia", ("West Virginia",)),
        ("new york ,  New Jersey", ("New York", "New Jersey")),
        ("Washington", ("Washington",)),
        ("Texas, Narnia", ("Texas",)),
        ("Ohio, Ohio", ("Ohio",)),
        ("", ()),
        (None, ()),
        ("Ontario", ()),
    ],
)
def test_us_states(text, states):
    assert us_states(text) == states


@pytest.mark.parametrize(
    ("currency", "other", "country", "code"),
    [
        ("USD", None, "USA", "USD"),
        ("CAD", "", "Canada", "CAD"),
        ("GBP", None, "UK", "GBP"),
        ("EUR", None, "Germany", "EUR"),
        ("CHF", None, "Switzerland", "CHF"),
        ("HKD", None, "Hong Kong", "HKD"),
        # One form choice for two currencies: the country decides, canonical or raw.
        ("AUD/NZD", None, "Australia", "AUD"),
        ("AUD/NZD", None, "New Zealand", "NZD"),
        ("AUD/NZD", None, "NZ", "NZD"),
        ("AUD/NZD", None, None, "AUD"),
        ("AUD/NZD", "NZD", None, "NZD"),  # ...unless the text names one of the two
        ("AUD/NZD", "AUD and NZD are different currencies", "New Zealand", "NZD"),
        # Other: the free text, when it clearly names one known currency.
        ("Other", "usd", "USA", "USD"),
        ("Other", "US Dollar", "USA", "USD"),
        ("Other", "American dollars", "USA", "USD"),
        ("Other", "Euro", "Ireland", "EUR"),
        ("Other", "euros", "Spain", "EUR"),
        ("Other", "British pounds", "UK", "GBP"),
        ("Other", "£", "UK", "GBP"),
        ("Other", "Canadian", "Canada", "CAD"),
        ("Other", "NZD", "New Zealand", "NZD"),
        ("Other", "Australian dollars", "Australia", "AUD"),
        ("Other", "Swiss francs (CHF)", "Switzerland", "CHF"),
        ("Other", "South African rand", "South Africa", "ZAR"),
        ("Other", "INR", "India", None),
        ("Other", "PLN", "Poland", None),
        ("Other", "Polish złoty", "Poland", None),
        ("Other", "Rupees", "India", None),
        ("Other", "Singapore dollars", "Singapore", None),
        ("Other", "USD or CAD", "Canada", None),  # two currencies: not clear
        ("Other", "bonus plus stock", "USA", None),
        ("Other", "", "USA", None),
        ("Other", None, "USA", None),
        ("Other", "Europe-wide company", "France", None),  # "euro" only as a whole word
        ("Other", "I try to save", "Turkey", None),  # "try" is a word; the code is TRY
        # A listed choice stands, unless its "Other" text names a different currency.
        ("USD", "bonus is 10% of salary", "USA", "USD"),
        ("USD", "converted to USD", "Pakistan", "USD"),
        ("GBP", "marketed as £22,000 pro rata", "UK", "GBP"),
        ("EUR", "NOK", "Norway", None),
        ("USD", "rupees", "India", None),
    ],
)
def test_currency_code(currency, other, country, code):
    assert currency_code(currency, other, country) == code


def test_currency_code_known_restricts_and_widens():
    assert currency_code("Other", "INR", "India", known=KNOWN_CODES | {"INR"}) == "INR"
    assert currency_code("Other", "Indian rupees", "India", known=KNOWN_CODES | {"INR"}) == "INR"
    assert currency_code("HKD", None, "Hong Kong", known=frozenset({"USD"})) is None
    assert currency_code("AUD/NZD", None, "New Zealand", known=frozenset({"AUD"})) is None


def test_snapshot_countries_resolve():
    frame = pd.read_csv(SNAPSHOT, dtype=str, keep_default_na=False)
    answers = frame["What country do you work in?"].str.strip()
    answers = answers[answers != ""]
    countries = answers.map(canonical_country)
    assert countries.notna().mean() >= 0.99, answers[countries.isna()].value_counts().head(20)
    lowered = answers.str.casefold()
    assert not (lowered.str.contains("austria") & countries.eq("Australia")).any()
    assert not (lowered.str.contains("australia") & countries.eq("Austria")).any()
    assert (countries.eq("Austria") & lowered.str.contains("austria")).any()
