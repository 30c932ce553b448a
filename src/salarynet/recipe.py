"""Recipes: pydantic models of a run's settings; load a TOML, override values with --set."""

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .data.answers import CURRENCIES
from .data.schemas import COLUMNS, normalise
from .errors import RecipeError, first_problem
from .tasks import TASKS, TaskName, task_of


def _folded(value: Any) -> Any:
    """A choice matches whatever its case (`compile.optimizer = "Adam"`)."""
    return value.strip().lower() if isinstance(value, str) else value


FeatureColumn = Literal[tuple(COLUMNS)]  # type: ignore[valid-type]
Activation = Annotated[Literal["relu", "sigmoid", "softmax", "tanh", "linear"], BeforeValidator(_folded)]
LOSS_NAMES = ("binary_crossentropy", "categorical_crossentropy", "mse", "mse_quantiles")  # nn.losses.LOSSES's keys
Loss = Annotated[Literal[LOSS_NAMES], BeforeValidator(_folded)]  # type: ignore[valid-type]
# The currencies with an exchange rate for every survey year (data/exchange_rates.csv).
Optimizer = Annotated[Literal["adagrad", "sgd", "adam", "rmsprop"], BeforeValidator(_folded)]


class _Section(BaseModel):
    # strict: `fit.epochs = true` is no number of epochs, and "20" no integer (pydantic would coerce both).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


# Bounds that keep a typo from asking for more memory or time than any machine has (each far above
# what a useful recipe sets): weights, shuffle orders and token tables are allocated from these.
MAX_UNITS, MAX_LAYERS, MAX_EPOCHS, MAX_WIDTH = 16_384, 32, 10_000, 1_024


class DataSection(_Section):
    # "USD": keep US-dollar rows as they are (the tutorial). "convert": every row, converted to USD
    # with 2021 average exchange rates; rows whose currency has no rate are excluded and counted.
    currency: str | None = "USD"
    # Salaries (in USD) outside [min_salary, max_salary] are excluded as implausible; None: no bound.
    min_salary: float | None = Field(None, ge=0)
    max_salary: float | None = Field(None, gt=0)
    # The survey years whose rows it learns from; None: every year. The default data is then only those years'
    # snapshots, and the rows of other years in a given file are excluded and counted (survey_year_unlisted).
    years: list[Annotated[int, Field(ge=1990, le=2100)]] | None = Field(None, min_length=1)


class ColumnEncoding(_Section):
    column: FeatureColumn
    # ordinal: the answer's number from `order` (1-based, like R factor codes) or `codes`.
    # category: an index into a vocabulary learned on the training rows, embedded; rare answers pooled.
    # multi: a multi-select answer (comma-separated), one 0/1 input per option seen in training.
    encoding: Literal["ordinal", "category", "multi"] = "ordinal"
    order: list[str] | None = None
    codes: dict[str, float] | None = None
    # An ordinal answer that is not listed: exclude the row (the tutorial) or code it 0.
    unlisted: Literal["exclude", "zero"] = "exclude"
    min_count: int = Field(10, ge=1)  # category/multi: answers seen fewer times share the reserved index
    dim: int | None = Field(
        None, gt=0, le=MAX_WIDTH
    )  # category: embedding width; default min(16, 1 + sqrt(vocabulary))

    @model_validator(mode="after")
    def _one_of(self) -> "ColumnEncoding":
        if self.encoding != "ordinal":
            if self.order is not None or self.codes is not None:
                raise ValueError(f"column {self.column!r}: 'order' and 'codes' are for encoding = \"ordinal\"")
            return self
        if (self.order is None) == (self.codes is None):
            raise ValueError(f"column {self.column!r} needs exactly one of 'order' or 'codes'")
        answers = self.order if self.order is not None else list(self.codes or {})
        if not answers:
            raise ValueError(f"column {self.column!r} lists no answers")
        if len({normalise(a) for a in answers}) != len(answers):  # answers match up to case and spacing
            raise ValueError(f"column {self.column!r} lists an answer twice")
        return self

    def mapping(self) -> dict[str, float]:
        """Answer -> number, in the recipe's spelling (ordinal columns)."""
        if self.order is not None:
            return {answer: float(i + 1) for i, answer in enumerate(self.order)}
        return dict(self.codes or {})


class TextSection(_Section):
    """Free text (the job title and its context) as a bag of hashed word and character n-grams."""

    columns: list[FeatureColumn] = Field(min_length=1)
    # Hash space: large enough that two n-grams rarely share a bucket. Only buckets seen min_count
    # times in training get a row of the embedding table; the rest map to the reserved index 0.
    buckets: int = Field(1 << 20, ge=16, le=1 << 26)
    min_count: int = Field(2, ge=1)
    max_tokens: int = Field(96, ge=1, le=4096)  # n-grams kept per row, words first
    dim: int = Field(64, gt=0, le=MAX_WIDTH)


PROTECTED = ("gender", "race")


class FeaturesSection(_Section):
    # binary: salary > threshold; bands: which of the bands (edges in USD); regression: log salary
    # with a low-high range from quantile outputs.
    task: TaskName = "binary"
    threshold: float = 100_000
    bands: list[float] = Field([50_000, 100_000, 150_000], min_length=1, max_length=100)
    # Not strict: a recipe saved as JSON holds the pair as a list.
    quantiles: tuple[float, float] = Field((0.1, 0.9), strict=False)
    scale: Literal["minmax", "none"] = "minmax"
    columns: list[ColumnEncoding] = Field(min_length=1)
    text: TextSection | None = None
    # Leave the protected answers (gender, race) out of the inputs; reports still measure every group.
    exclude_protected: bool = False
    # binary only: train on these finer salary bands (softmax, categorical cross-entropy) and answer
    # P(salary > threshold) as the sum of the bands above it; the threshold must be one of the edges.
    label_bands: list[float] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _unprotected(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("exclude_protected") is True and isinstance(data.get("columns"), list):
            kept = [c for c in data["columns"] if not (isinstance(c, dict) and c.get("column") in PROTECTED)]
            if not kept:
                raise ValueError(f"features.exclude_protected leaves no input: every column is one of {PROTECTED}")
            data = data | {"columns": kept}
        return data

    @model_validator(mode="after")
    def _distinct(self) -> "FeaturesSection":
        names = [c.column for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"a column is listed twice in {names}")
        if sorted(self.bands) != self.bands or len(set(self.bands)) != len(self.bands):
            raise ValueError(f"features.bands must increase: {self.bands}")
        if self.label_bands is not None:
            if not task_of(self).takes_label_bands:
                takers = [name for name, task in TASKS.items() if task.takes_label_bands]
                raise ValueError(
                    f"features.label_bands is for task = {' or '.join(map(repr, takers))}, not {self.task!r}"
                )
            if sorted(set(self.label_bands)) != self.label_bands or self.threshold not in self.label_bands:
                raise ValueError(
                    f"features.label_bands must increase and include the threshold {self.threshold:,.0f}: "
                    f"{self.label_bands}"
                )
        if not 0 < self.quantiles[0] < 0.5 < self.quantiles[1] < 1:
            raise ValueError(f"features.quantiles must be (low < 0.5 < high) in (0, 1): {self.quantiles}")
        return self

    @property
    def classes(self) -> int:
        """Label width: 2 for binary, one per band, 0 for regression."""
        return task_of(self).width()


class SplitSection(_Section):
    train_fraction: float = Field(0.7, gt=0, lt=1)


class LayerSpec(_Section):
    units: int = Field(gt=0, le=MAX_UNITS)
    activation: Activation = "linear"


class ModelSection(_Section):
    layers: list[LayerSpec] = Field(min_length=1, max_length=MAX_LAYERS)
    dropout: float = Field(0.0, ge=0, lt=1)  # after each hidden layer and on the embeddings, in training only
    l2: float = Field(0.0, ge=0)  # penalty on the dense kernels, added to the loss
    wide: bool = False  # wide & deep: a linear model of every input added to the last layer


class CompileSection(_Section):
    loss: Loss = "binary_crossentropy"
    optimizer: Optimizer = "adagrad"
    # None: Keras's default for the optimizer (adagrad/adam/rmsprop 0.001, sgd 0.01).
    learning_rate: float | None = Field(None, gt=0)
    metrics: list[Literal["accuracy"]] = ["accuracy"]


class FitSection(_Section):
    epochs: int = Field(100, gt=0, le=MAX_EPOCHS)
    batch_size: int = Field(5, gt=0, le=1 << 24)
    validation_split: float = Field(0.2, ge=0, lt=1)
    shuffle: bool = True
    # Stop when the validation loss has not improved for this many epochs, and keep the best epoch's weights.
    early_stopping: int | None = Field(None, gt=0, le=MAX_EPOCHS)
    # balanced: weigh each class by rows / (classes * its rows), as scikit-learn's "balanced".
    class_weight: Literal["none", "balanced"] = "none"
    # The training rows of the latest survey year among them count this many times in the loss (times the class
    # weight): a model that answers for that year learns most from it, and still from every earlier year.
    latest_weight: float = Field(1.0, gt=0, le=100)
    # The model is an exponential moving average of the weights over the steps, with this decay
    # (e.g. 0.99): it smooths the noise of small-batch steps. None: the last (or best) weights.
    average: float | None = Field(None, gt=0, lt=1)
    # After measuring on the held-out rows, fit again on every kept row for the epochs the held-out fit
    # chose (its best epoch with early stopping), and save that model (AutoGluon's refit_full). The test
    # metrics stay the held-out model's; the held-out model's outputs on the test rows are saved with the run.
    refit: bool = False


class BlendSection(_Section):
    # The weight of the linear model's probabilities in the answer; the network has the rest.
    linear: float = Field(gt=0, lt=1)
    c: float = Field(1.0, gt=0)  # the logistic regression's inverse L2 strength (scikit-learn's C)
    min_count: int = Field(5, ge=1)  # answers given by fewer rows share their column's "other" slot


class ConformalSection(_Section):
    # Split-conformal ranges (a range task only): this share of the training rows is set aside, used neither
    # to fit nor to stop early, and the range is widened (or narrowed) until it covers the quantiles' share of
    # those rows, which promises that share on rows exchangeable with them. With fit.refit the saved model is
    # refitted on every row but these, and calibrated again on them.
    fraction: float = Field(0.15, gt=0, lt=0.5)
    # Mondrian: each answer of this question (e.g. "gender") gets its own correction, so coverage holds
    # within each group; answers with fewer than min_rows calibration rows (or too few for any finite
    # correction: 4 at 80%) use the overall correction. A small group's correction is noisy but keeps the
    # promise on average; the overall one under-covers groups the network fits worse (5 folds: 0.74).
    by: FeatureColumn | None = None
    min_rows: int = Field(5, ge=1)


class Recipe(_Section):
    name: str = Field("custom", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # also the default run folder's name
    seed: int = Field(42, ge=0, lt=2**32 - 256)
    data: DataSection = DataSection()
    features: FeaturesSection
    split: SplitSection = SplitSection()
    model: ModelSection
    compile: CompileSection = CompileSection()
    fit: FitSection = FitSection()
    # A logistic regression on the answers and title words beside the network, their probabilities averaged.
    blend: BlendSection | None = None
    # Calibrated ranges (a range task only).
    conformal: ConformalSection | None = None

    @model_validator(mode="after")
    def _label_width(self) -> "Recipe":
        units, loss = self.model.layers[-1].units, self.compile.loss
        if problem := task_of(self.features).check(units, loss):
            raise ValueError(problem)
        if self.blend and (not task_of(self.features).classes or self.model.layers[-1].activation != "softmax"):
            raise ValueError("blend averages class probabilities: it needs a classes task and a softmax last layer")
        if self.conformal and task_of(self.features).classes:
            raise ValueError('conformal calibrates a salary range: it needs features.task = "regression"')
        if loss == "categorical_crossentropy" and units < 2:
            raise ValueError("compile.loss categorical_crossentropy needs a last layer of 2 or more units")
        if self.data.currency not in (None, "convert") and self.data.currency.upper() not in CURRENCIES:
            raise ValueError(
                f'data.currency {self.data.currency!r}: expected "convert" or one of {", ".join(CURRENCIES)}'
            )
        return self


def builtin_recipes() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("salarynet.recipes").iterdir() if p.name.endswith(".toml"))


MAX_NESTING = 32  # arrays and tables within each other in a recipe, a grid or a --set value: a recipe needs 4


def parse_table(text: str, origin: str, as_json: bool = False) -> Any:
    """TOML (or JSON) text -> its value, refused (ValueError, one line) where it nests deeper than MAX_NESTING:
    the parsers and everything after them recurse once a level, and a few thousand levels overflow the stack."""
    try:
        value = json.loads(text) if as_json else tomllib.loads(text)
    except RecursionError:
        value = None
    if value is None or nesting(value) > MAX_NESTING:
        raise ValueError(f"{origin}: nested over {MAX_NESTING} levels deep (arrays or tables within each other)")
    return value


def nesting(value: Any, limit: int = MAX_NESTING) -> int:
    """How deep lists and dicts nest in a value (0 for a scalar), counted without recursion, up to limit + 1:
    the one depth guard of parsed JSON and TOML (recipes, grids, --set values, run files)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if depth + 1 > limit:  # deep enough to refuse: no need to walk the rest
                return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


EXTENDS_DEPTH = 8  # recipes extending recipes: more than this is a loop or a mistake


def read_recipe_source(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw recipe table and where it came from: a shipped name, a .toml or a run's .json. A recipe that
    `extends` another is that recipe's table with its own keys set over it (see _extended)."""
    raw, origin = _read_one(name_or_path)
    return _extended(raw, origin, name_or_path, [origin]), origin


def _extended(raw: dict[str, Any], origin: str, name: str, chain: list[str]) -> dict[str, Any]:
    """`extends = "recommended"` (a shipped name, or a path beside this recipe's file): the base recipe's table,
    its keys named in `unset` (dotted, e.g. "features.label_bands" or "blend") taken out, then this recipe's
    keys set over it: tables merge key by key, any other value (a number, a list) replaces the base's."""
    if "extends" not in raw:
        if "unset" in raw:
            raise RecipeError(f"recipe {origin}: unset takes keys out of the recipe it extends; it extends none")
        return raw
    raw = dict(raw)
    base_name, unset = raw.pop("extends"), raw.pop("unset", [])
    if not isinstance(base_name, str) or not (isinstance(unset, list) and all(isinstance(k, str) for k in unset)):
        raise RecipeError(
            f'recipe {origin}: expected extends = "<recipe>" and unset = ["<section.key>", ...] (got '
            f"extends {base_name!r}, unset {unset!r})"
        )
    if "/" in base_name or "\\" in base_name or base_name.endswith((".toml", ".json")):
        beside = Path(name).parent if ("/" in name or "\\" in name or name.endswith((".toml", ".json"))) else Path()
        base_name = str(beside / base_name)
    base, base_origin = _read_one(base_name)
    if base_origin in chain or len(chain) >= EXTENDS_DEPTH:
        raise RecipeError(f"recipe {origin}: extends {' -> '.join(chain[1:] + [base_origin])}: a loop, or too deep")
    base = _extended(base, base_origin, base_name, chain + [base_origin])
    for key in unset:
        _unset(base, key, origin, base_origin)
    return _merged(base, raw)


def _unset(table: dict[str, Any], key: str, origin: str, base: str) -> None:
    node, parts = table, key.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or parts[-1] not in node:
        raise RecipeError(f"recipe {origin}: unset {key!r}: recipe {base} has no such key")
    del node[parts[-1]]


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_one(name_or_path: str) -> tuple[dict[str, Any], str]:
    """One recipe file's table, as written (an `extends` not yet followed)."""
    path = Path(name_or_path)
    # A bare name is a shipped recipe, even where a file or folder of that name sits in the current folder.
    if path.suffix in (".toml", ".json") or "/" in name_or_path or "\\" in name_or_path:
        if not path.is_file():
            raise RecipeError(f"recipe {name_or_path}: no such file (shipped recipes: {', '.join(builtin_recipes())})")
        try:
            text, origin = path.read_text(encoding="utf-8-sig"), str(path)  # -sig: an editor's byte-order mark
        except (OSError, UnicodeDecodeError) as e:
            raise RecipeError(f"recipe {name_or_path}: cannot read it ({e})") from None
    else:
        shipped = resources.files("salarynet.recipes").joinpath(f"{name_or_path}.toml")
        if not shipped.is_file():
            raise RecipeError(
                f"recipe {name_or_path!r}: not a shipped recipe ({', '.join(builtin_recipes())}) nor a file"
            )
        text, origin = shipped.read_text(encoding="utf-8"), f"{name_or_path} (shipped)"
    try:
        raw = parse_table(text, f"recipe {origin}", origin.endswith(".json"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise RecipeError(f"recipe {origin}: not valid {'JSON' if origin.endswith('.json') else 'TOML'}: {e}") from None
    except ValueError as e:
        raise RecipeError(str(e)) from None
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {origin}: expected a table of sections (data, features, model, ...)")
    return raw, origin


def _parse_value(text: str) -> Any:
    """A TOML literal (20, 0.5, true, "adam", [1, 2]); anything else is taken as a string."""
    try:
        return parse_table(f"v = {text}", f"--set value {text[:40]!r}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except ValueError as e:
        raise RecipeError(str(e)) from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys (fit.epochs=20, model.layers.0.units=32) in a copy of the raw table."""
    values = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fit.epochs=20")
        values[key.strip()] = _parse_value(text.strip())
    return apply_values(raw, values)


def apply_values(raw: dict[str, Any], values: dict[str, Any], flag: str = "--set") -> dict[str, Any]:
    """Set dotted keys to values in a copy of the raw table (`flag` names the source in errors)."""
    raw = json.loads(json.dumps(raw))  # a deep copy of plain TOML data
    for key, value in values.items():
        parts = key.split(".")
        node: Any = raw
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise RecipeError(f"{flag} {key}: {part!r} is not an index of a list of {len(node)} items")
                part = int(part)
            elif not isinstance(node, dict):
                raise RecipeError(f"{flag} {key}: {'.'.join(parts[:i])} is a value, not a section")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]
    return raw


def _section(annotation: Any) -> type[BaseModel] | None:
    """The recipe section a field holds: itself, or inside list[...] / ... | None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in getattr(annotation, "__args__", ()) if (m := _section(a))), None)


def recipe_keys(model: type[BaseModel] = Recipe, prefix: str = "") -> list[str]:
    """Every dotted key a recipe takes (`fit.epochs`, `compile.learning_rate`, ...), as --set names them."""
    keys = []
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        keys += recipe_keys(section, f"{prefix}{name}.") if section else [f"{prefix}{name}"]
    return keys


def _keys_at(loc: tuple) -> str:
    """The keys the section at `loc` takes: said beside a misspelt key."""
    model: type[BaseModel] | None = Recipe
    for part in (p for p in loc if not isinstance(p, int)):  # list indices stay in the same section
        field = model.model_fields.get(str(part)) if model else None
        model = _section(field.annotation) if field else None
    if model is None:
        return "see the shipped recipes for the keys"
    return f"{'.'.join(str(p) for p in loc) or 'a recipe'} takes {', '.join(model.model_fields)}"


def _one_line(error: ValidationError, origin: str) -> str:
    where, msg, first = first_problem(error)
    loc = f"{where}: " if where else ""
    if first["type"] == "extra_forbidden":
        msg = f"unknown key; {_keys_at(first['loc'][:-1])}"
    given = first.get("input")
    shown = "" if first["type"] in ("missing",) or isinstance(given, dict) else f" (got {given!r})"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"recipe {origin}: {loc}{msg}{shown}{more}"


def validate_recipe(raw: dict[str, Any], origin: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as e:
        raise RecipeError(_one_line(e, origin)) from None


def load_recipe(name_or_path: str = "tutorial", overrides: list[str] | None = None, seed: int | None = None) -> Recipe:
    """Read, override and validate a recipe; --seed wins over the recipe's seed."""
    raw, origin = read_recipe_source(name_or_path)
    raw = apply_overrides(raw, list(overrides or []) + ([f"seed={seed}"] if seed is not None else []))
    return validate_recipe(raw, origin)
