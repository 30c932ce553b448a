"""Turn the survey's free-text country, multi-select state and currency answers into canonical values."""

import functools
import re
import string
import unicodedata

from .schemas import straight_quotes

# --- Country -----------------------------------------------------------------------------------
# A curated alias table rather than fuzzy matching: string similarity merges Austria with
# Australia and "Niger" with "Nigeria", and a wrong country silently converts a salary at the
# wrong rate. Aliases are written in normalised form (see _normalise): casefolded, no dots, no
# accents, single spaces, ", " after commas. Each canonical name is also its own alias.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "United States": (
        "us",
        "usa",
        "u s",
        "u s a",
        "the us",
        "the usa",
        "the united states",
        "america",
        "us of a",
        "united states of america",
        "the united states of america",
        "united states america",
        "united states of american",
        "united state of america",
        "united sates of america",
        "unitedstates",
        "united state",
        "united stated",
        "united sates",
        "unites states",
        "untied states",
        "unite states",
        "united statea",
        "united stares",
        "united statws",
        "unted states",
        "united stattes",
        "united statees",
        "uniyed states",
        "uniyes states",
        "uniteed states",
        "united statew",
        "united statues",
        "unitied states",
        "united sttes",
        "united stateds",
        "united statss",
        "united status",
        "unitef stated",
        "united staes",
        "usaa",
        "usat",
        "uss",
        "united states is america",
        # "i" sits beside "u" on the keyboard; every such answer in the snapshot named a US state.
        "isa",
        "is",
        "\U0001f1fa\U0001f1f8",  # the flag emoji, answered by a handful of respondents
    ),
    "United Kingdom": (
        "uk",
        "u k",
        "the uk",
        "the united kingdom",
        "great britain",
        "britain",
        "gb",
        "united kingdom of great britain and northern ireland",
        "england",
        "scotland",
        "wales",
        "northern ireland",
        "england, uk",
        "england/uk",
        "uk/england",
        "england uk",
        "england, united kingdom",
        "england, gb",
        "uk (england)",
        "united kingdom (england)",
        "uk (northern england)",
        "scotland, uk",
        "scotland, united kingdom",
        "uk (scotland)",
        "wales, uk",
        "wales (uk)",
        "wales, united kingdom",
        "wales (united kingdom)",
        "northern ireland, uk",
        "northern ireland, united kingdom",
        "uk (northern ireland)",
        "uk, remote",
        "united kindom",
        "united kingdomk",
        "unites kingdom",
        "united kingdon",
        "untied kingdom",
        "englang",
    ),
    "Canada": ("can", "canda", "canadw", "csnada", "cananda"),
    "Australia": ("aus", "australi", "australian", "austrailia", "australie"),
    "New Zealand": ("nz", "aotearoa", "aotearoa new zealand", "new zealand aotearoa"),
    "Netherlands": ("the netherlands", "nl", "nederland", "holland"),
    "Ireland": ("republic of ireland", "eire"),
    "Germany": ("deutschland",),
    "Austria": ("osterreich",),
    "Spain": ("espana", "catalonia"),
    "Italy": ("italia", "italy (south)"),
    "Brazil": ("brasil",),
    "India": ("ibdia",),
    "China": ("mainland china", "prc", "people's republic of china"),
    "Hong Kong": ("hong konh", "hong kong sar", "hk"),
    "South Korea": ("korea", "republic of korea"),
    "Czech Republic": ("czechia",),
    "Philippines": ("the philippines",),
    "Bahamas": ("the bahamas",),
    "United Arab Emirates": ("uae",),
    "Turkey": ("turkiye",),
    "Vietnam": ("viet nam",),
    "Cote d'Ivoire": ("ivory coast",),
    "Jersey": ("jersey, channel islands",),
    "South Africa": ("rsa",),
    # Puerto Rico is a US territory but its own survey answer and its own labour market, so it is
    # kept apart rather than folded into the United States.
    "Puerto Rico": ("united states- puerto rico", "united states-puerto rico"),
}

# Countries that appear in the snapshot only under their own name.
PLAIN_COUNTRIES: tuple[str, ...] = (
    "Afghanistan",
    "Argentina",
    "Bangladesh",
    "Belgium",
    "Bermuda",
    "Bosnia and Herzegovina",
    "Bulgaria",
    "Chile",
    "Colombia",
    "Costa Rica",
    "Croatia",
    "Cuba",
    "Cyprus",
    "Denmark",
    "Ecuador",
    "Eritrea",
    "Estonia",
    "Finland",
    "France",
    "Ghana",
    "Greece",
    "Hungary",
    "Indonesia",
    "Israel",
    "Jamaica",
    "Japan",
    "Kenya",
    "Kuwait",
    "Latvia",
    "Lithuania",
    "Luxembourg",
    "Malaysia",
    "Malta",
    "Mexico",
    "Morocco",
    "Nigeria",
    "Norway",
    "Pakistan",
    "Panama",
    "Poland",
    "Portugal",
    "Qatar",
    "Romania",
    "Russia",
    "Rwanda",
    "Saudi Arabia",
    "Serbia",
    "Sierra Leone",
    "Singapore",
    "Slovakia",
    "Slovenia",
    "Somalia",
    "Sri Lanka",
    "Sweden",
    "Switzerland",
    "Taiwan",
    "Thailand",
    "Trinidad and Tobago",
    "Uganda",
    "Ukraine",
    "Uruguay",
    "Zimbabwe",
)

# --- US states ---------------------------------------------------------------------------------
US_STATES: tuple[str, ...] = (
    "Alabama",
    "Alaska",
    "Arizona",
    "Arkansas",
    "California",
    "Colorado",
    "Connecticut",
    "Delaware",
    "District of Columbia",
    "Florida",
    "Georgia",
    "Hawaii",
    "Idaho",
    "Illinois",
    "Indiana",
    "Iowa",
    "Kansas",
    "Kentucky",
    "Louisiana",
    "Maine",
    "Maryland",
    "Massachusetts",
    "Michigan",
    "Minnesota",
    "Mississippi",
    "Missouri",
    "Montana",
    "Nebraska",
    "Nevada",
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "New York",
    "North Carolina",
    "North Dakota",
    "Ohio",
    "Oklahoma",
    "Oregon",
    "Pennsylvania",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "Tennessee",
    "Texas",
    "Utah",
    "Vermont",
    "Virginia",
    "Washington",
    "West Virginia",
    "Wisconsin",
    "Wyoming",
)
# Spellings of DC outside the form's list. The form's own choice has no comma, so splitting the
# multi-select answer on commas never cuts it in two.
STATE_ALIASES: dict[str, tuple[str, ...]] = {"District of Columbia": ("dc", "washington dc")}

# --- Currency ----------------------------------------------------------------------------------
# The form's listed currencies ("AUD/NZD" is one choice, split by country) and the codes that
# currency_code returns by default.
CURRENCIES = ("USD", "CAD", "GBP", "EUR", "AUD", "NZD", "CHF", "SEK", "JPY", "ZAR", "HKD")
KNOWN_CODES: frozenset[str] = frozenset(CURRENCIES)

# Stands for "a currency, but not which one" (rupees: India, Pakistan, Sri Lanka...).
AMBIGUOUS = "?"

# Names and symbols people type for a currency, normalised like the text they are found in.
# Currencies outside KNOWN_CODES are listed too: an answer that names one is then recognised as
# *not* a known currency (and a caller can widen `known` to accept it). The codes themselves
# (the keys here, KNOWN_CODES and `known`) are recognised in the text without an alias.
CURRENCY_ALIASES: dict[str, tuple[str, ...]] = {
    "USD": ("us dollar", "u s dollar", "united states dollar", "american dollar", "us$", "usd$"),
    "CAD": ("canadian", "canadian dollar", "cdn", "cdn$", "ca$", "c$"),
    "GBP": ("british pound", "pound sterling", "pounds sterling", "sterling", "uk pound", "£"),
    "EUR": ("euro", "€"),
    "AUD": ("australian", "australian dollar", "aus dollar", "a$", "au$"),
    "NZD": ("new zealand dollar", "nz dollar", "nz$"),
    "CHF": ("swiss franc", "sfr"),
    "SEK": ("swedish krona", "swedish kronor", "kronor"),
    "JPY": ("yen", "japanese yen"),
    "ZAR": ("rand", "south african rand"),
    "HKD": ("hong kong dollar", "hk$"),
    "NOK": ("norwegian krone", "norwegian kroner"),
    "DKK": ("danish krone", "danish kroner"),
    "SGD": ("singapore dollar", "s$"),
    "INR": ("indian rupee",),
    "PKR": ("pakistani rupee",),
    "LKR": ("sri lankan rupee",),
    "MYR": ("ringgit", "malaysian ringgit", "rm"),
    "BRL": ("brazilian real", "reais", "r$", "br$"),
    "PLN": ("zloty", "złoty", "polish zloty", "polish złoty", "zwoty"),
    "CZK": ("czech koruna", "czech crown"),
    "ILS": ("shekel", "israeli shekel", "new israeli shekel", "nis"),
    "CNY": ("rmb", "yuan", "renminbi", "chinese yuan"),
    "PHP": ("philippine peso",),
    "ARS": ("argentine peso", "argentinian peso", "peso argentino"),
    "MXN": ("mexican peso",),
    "COP": ("colombian peso",),
    "THB": ("baht", "thai baht"),
    "KRW": ("korean won", "south korean won"),
    "TWD": ("ntd", "nt$", "new taiwan dollar"),
    "HRK": ("kuna", "croatian kuna"),
    "IDR": ("rupiah", "indonesian rupiah"),
    "TRY": ("turkish lira",),
    "NGN": ("naira",),
    "BDT": ("taka",),
    "KWD": ("kuwaiti dinar",),
    "SAR": ("riyal", "saudi riyal"),
    "TTD": ("trinidad and tobago dollar",),
    AMBIGUOUS: ("rupee", "rs", "peso", "krone", "kroner"),
}
# ISO codes that are also English words count only when written in capitals ("TRY", not "try").
_WORDLIKE_CODES = frozenset({"TRY", "COP"})


def _fold(text: str) -> str:
    """Fold case, accents, dots, curly quotes and runs of white space out of an answer."""
    text = straight_quotes(text)
    # Drop combining marks so "Canadá" and "Österreich" meet their unaccented aliases.
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # Dots go entirely, so "U.S.A." and "USA" are one spelling (and "D.C." is "dc").
    return re.sub(r"\s+", " ", text.casefold().replace(".", "")).strip()


# Trailing and leading punctuation is noise ("USA!", "us>"), but brackets belong to "uk (england)".
_NOISE = string.punctuation.replace("(", "").replace(")", "") + " "


def _normalise(text: str) -> str:
    """_fold, then one spelling of the separators in "England, UK", "England/UK", "UK (England)"."""
    text = _fold(text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"\s*/\s*", "/", text)
    text = re.sub(r"\s*\(\s*", " (", text)
    text = re.sub(r"\s*\)", ")", text)
    return text.strip(_NOISE)


def _text(value: object) -> str:
    """An answer as text; None and anything else that is not a string (pandas' NaN) are blank."""
    return value if isinstance(value, str) else ""


def _lookup(table: dict[str, tuple[str, ...]], names: tuple[str, ...] = ()) -> dict[str, str]:
    """Alias -> canonical name; refuse an alias that two canonical names both claim."""
    out: dict[str, str] = {}
    pairs = [(name, name) for name in names]
    pairs += [(name, alias) for name, aliases in table.items() for alias in (name, *aliases)]
    for name, alias in pairs:
        key = _normalise(alias)
        if out.get(key, name) != name:
            raise ValueError(f"alias {alias!r} names both {out[key]!r} and {name!r}")
        out[key] = name
    return out


_STATES = _lookup(STATE_ALIASES, US_STATES)

# A US state named on its own ("California") clearly means the United States; Georgia is left
# out because it is also a country, and setdefault never overrides a country's own alias.
_COUNTRIES = _lookup(COUNTRY_ALIASES, PLAIN_COUNTRIES)
for _state in US_STATES:
    if _state != "Georgia":
        _COUNTRIES.setdefault(_normalise(_state), "United States")


@functools.lru_cache(maxsize=1 << 16)  # answers repeat: a file has a few thousand distinct ones
def canonical_country(text: str | None) -> str | None:
    """The canonical English name of the country an answer names, or None when blank or unrecognised."""
    return _COUNTRIES.get(_normalise(_text(text)))


@functools.lru_cache(maxsize=1 << 16)
def us_states(text: str | None) -> tuple[str, ...]:
    """The US states in a multi-select state answer ("California, Oregon"), in the answer's order."""
    found = (_STATES.get(_normalise(part)) for part in _text(text).split(","))
    # dict.fromkeys: drop repeats but keep the answer's order.
    return tuple(dict.fromkeys(s for s in found if s is not None))


# _fold, not _normalise: the punctuation in "us$" and "br$" is the point.
_CURRENCY_NAMES = {_fold(alias): code for code, aliases in CURRENCY_ALIASES.items() for alias in aliases}
# Longest first, so "indian rupee" wins over "rupee" and "br$" over "r$". Letters may not touch
# either side ("rs" is not inside "rsu"), but digits may ("£22000", "100usd"); a plural "s" or
# "es" is allowed after a name.
_CURRENCY_RE = re.compile(
    r"(?<![a-z])("
    + "|".join(re.escape(a) for a in sorted(_CURRENCY_NAMES, key=len, reverse=True))
    + r")(?:e?s)?(?![a-z])"
)
_CODE_RE = re.compile(r"(?<![A-Za-z])[A-Za-z]{3}(?![A-Za-z])")
_ALL_CODES = KNOWN_CODES | {c for c in CURRENCY_ALIASES if c != AMBIGUOUS}


def _named_codes(text: str | None, known: frozenset[str]) -> set[str]:
    """Every currency a free-text answer names: ISO codes, names and symbols (AMBIGUOUS for 'rupees')."""
    text = _text(text)
    codes = {_CURRENCY_NAMES[m.group(1)] for m in _CURRENCY_RE.finditer(_fold(text))}
    for m in _CODE_RE.finditer(text):
        code = m.group().upper()
        if code in (_ALL_CODES | known) and (code not in _WORDLIKE_CODES or m.group().isupper()):
            codes.add(code)
    return codes


def _single(codes: set[str]) -> str | None:
    return next(iter(codes)) if len(codes) == 1 and AMBIGUOUS not in codes else None


@functools.lru_cache(maxsize=65536)  # a file's rows repeat a few hundred (currency, other, country) triples
def currency_code(
    currency: str | None,
    other: str | None,
    country: str | None,
    known: frozenset[str] = KNOWN_CODES,
) -> str | None:
    """The ISO code of a salary's currency from the form's choice, its "Other" text and the country.

    "AUD/NZD" is split by country (New Zealand -> NZD, else AUD) unless the text names one of the
    two. "Other" (or no choice) returns the one currency the text clearly names. A listed choice
    whose "Other" text names a *different* currency ("EUR" chosen, "NOK" written) is
    contradictory and returns None rather than convert at a guessed rate. Only codes in `known`
    are returned, so callers can restrict the result to the currencies they have rates for.
    """
    named = _named_codes(other, known)
    choice = re.sub(r"\s+", "", _text(currency)).upper()
    if choice in ("", "OTHER"):
        code = _single(named)
    elif choice == "AUD/NZD":
        if named - {"AUD", "NZD"}:
            code = None
        elif len(named) == 1:
            code = next(iter(named))
        else:
            # The form offered one choice for two currencies; the country says which was meant.
            code = "NZD" if canonical_country(country) == "New Zealand" else "AUD"
    else:
        code = _single(_named_codes(currency, known))
        if named and named != {code}:
            code = None
    return code if code in known else None


def band_order(values: list[str]) -> list[str]:
    """Answer bands by their first number ('under 18' < '18-24', '1 year or less' < '2 - 4 years');
    answers without a number (education, gender) keep the order they came in."""

    def first_number(v: str) -> float | None:
        m = re.search(r"\d+", v)
        return None if m is None else int(m.group()) - (0.5 if re.search(r"under|less", v, re.I) else 0)

    numbers = [first_number(v) for v in values]
    if any(n is None for n in numbers):
        return values
    return [v for _, v in sorted(zip(numbers, values))]


# --- One vocabulary across the years' forms ------------------------------------------------------
# The forms' lists changed between 2021 and 2023; each answer is read in the newest form's spelling, so that one
# answer is one category whichever year gave it. Keys are folded as `_fold` folds (case, accents, dots).
# Experience bands need no entry: "11 - 20 years" (2021) and "11-20 years" (2023) fold alike (schemas.normalise).
# Industry: 2023 renamed one choice and added three; the 2021 free-text answers that name those are folded in.
INDUSTRY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "Government & Public Administration": ("government and public administration",),
    "Biotechnology & Pharma": (
        "biotech",
        "biotechnology",
        "pharma",
        "pharmaceutical",
        "pharmaceuticals",
        "biotech/pharma",
        "pharmaceutical industry",
    ),
    "Galleries, Libraries, Archives & Museums": (
        "library",
        "libraries",
        "public library",
        "public libraries",
        "academic library",
        "museum",
        "museums",
        "archives",
        "libraries & archives",
        "libraries and archives",
    ),
    "Science": ("scientific research", "science", "sciences"),
}
# Education: the 2023 form's "Other" box, in the listed answers' words where it names one of them.
EDUCATION_SPELLINGS: dict[str, tuple[str, ...]] = {
    "College degree": (
        "bachelor's degree",
        "bachelors degree",
        "bachelor degree",
        "bachelor's",
        "bachelors",
        "bachelor",
        "university degree",
        "undergraduate degree",
    ),
    "Master's degree": ("masters degree", "masters", "master's", "master degree"),
    "PhD": ("doctorate", "doctoral degree", "phd"),
    "High School": ("high school diploma", "high school"),
}
_SPELLINGS = {
    column: {_fold(alias): name for name, aliases in table.items() for alias in (name, *aliases)}
    for column, table in (("industry", INDUSTRY_SPELLINGS), ("education", EDUCATION_SPELLINGS))
}

TIDIED = ("country", "state", "industry", "education")  # the answers `tidy` rewrites


@functools.lru_cache(maxsize=1 << 16)
def _spelled(column: str, answer: str) -> str:
    return _SPELLINGS[column].get(_fold(answer), answer)


def tidy(column: str, answer: object) -> object:
    """A free-text country as its canonical name (an unrecognised answer is kept as written), the multi-select
    state answer as canonical state names joined with ', ', an industry or education answer in the newest form's
    words; any other answer as it is."""
    if column == "country":
        return canonical_country(answer) or answer  # type: ignore[arg-type]
    if column == "state":
        return ", ".join(us_states(answer)) or (answer if isinstance(answer, str) else None)  # type: ignore[arg-type]
    if column in _SPELLINGS and isinstance(answer, str):
        return _spelled(column, answer)
    return answer
