"""A run folder: weights as safetensors, everything else as JSON; written atomically, no pickle."""

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from safetensors import SafetensorError
from safetensors.numpy import load, save

from .conformal import ConformalState
from .errors import ArtifactError, RecipeError, first_problem
from .features import FeatureState
from .fitted import FittedModel
from .linear import LinearState
from .nn.forward import ACTIVATIONS
from .nn.spec import ModelSpec, Params, flatten, shapes, unflatten
from .recipe import LOSS_NAMES, Recipe, nesting, validate_recipe
from .tasks import TaskName

FORMAT = "salarynet-run/1"
WEIGHTS = "model.safetensors"

# Bounds on a run file, far above what training writes (a recommended run: 5 MB of weights, 1 MB of
# preprocessing, JSON 4 levels deep) and far below what would exhaust memory or the stack.
MAX_JSON = 64 << 20
MAX_WEIGHTS = 1 << 30
MAX_DEPTH = 32
MAX_SIZE = 2**31 - 1  # a layer, vocabulary or width: categories and n-grams are int32 indices
MAX_TOKENS = 4096  # n-grams per row: every served row holds this many indices and weights
LINE = 300  # the longest error line: it may quote keys and values of a damaged file
ROLES = {
    "model.json": "model description",
    "preprocessing.json": "preprocessing state",
    "recipe.json": "recipe",
    "data.json": "data record",
    "metrics.json": "metrics record",
}


def weights_bytes(params: Params) -> bytes:
    return save({k: np.asarray(v, np.float32) for k, v in flatten(params).items()}, metadata={"format": FORMAT})


# A refitted run's held-out outputs (class probabilities or log salary, as the metrics read them, in float64):
# rows int32[test], outputs float64[test, outputs].
HELDOUT = "heldout.safetensors"


def heldout_bytes(heldout: dict[str, np.ndarray]) -> bytes:
    return save(
        {"rows": np.asarray(heldout["rows"], np.int32), "outputs": np.asarray(heldout["outputs"], np.float64)},
        metadata={"format": FORMAT},
    )


CHECKED = (WEIGHTS, "preprocessing.json", "recipe.json")  # what a prediction depends on, checksummed in model.json
LINEAR = "linear.json"  # a [blend] recipe's logistic regression: checksummed too where there is one
CONFORMAL = "conformal.json"  # a [conformal] recipe's range corrections: checksummed too where there is one
# fit.refit's held-out outputs (the model before the refit, on its test rows, with their row indices): what
# `evaluate` reports on the run's own test rows, so checksummed as well.
OPTIONAL = (LINEAR, CONFORMAL, HELDOUT)


def model_json(spec: ModelSpec, loss: str, files: dict[str, bytes]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": spec.to_json(),
        "loss": loss,
        "sha256": {name: hashlib.sha256(files[name]).hexdigest() for name in CHECKED + OPTIONAL if name in files},
    }


def run_files(model: FittedModel) -> dict[str, bytes]:
    """The files of a run folder that hold the model (weights, preprocessing, recipe, data and metrics records,
    the blend, the calibration and the held-out outputs where there are some), model.json's checksums last."""
    files = {
        WEIGHTS: weights_bytes(model.params),
        "preprocessing.json": to_json_bytes(model.features.to_json()),
        "recipe.json": to_json_bytes(model.recipe.model_dump(mode="json")),
        "data.json": to_json_bytes(model.data),
        "metrics.json": to_json_bytes(model.record),
    }
    if model.heldout is not None:
        files[HELDOUT] = heldout_bytes(model.heldout)
    if model.blend is not None:
        files[LINEAR] = to_json_bytes(model.blend.to_json())
    if model.conformal is not None:
        files[CONFORMAL] = to_json_bytes(model.conformal.to_json())
    files["model.json"] = to_json_bytes(model_json(model.spec, model.recipe.compile.loss, files))
    return files


def to_json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()


def _ours(folder: Path, kind: str) -> bool:
    """A folder salarynet wrote: its marker file is there and holds only salarynet's files."""
    marker = folder / kind
    try:
        ok = kind != "model.json" or _parse_json(_read_bytes(marker, MAX_JSON), marker).get("format") == FORMAT
    except ArtifactError:
        return False
    return ok and all(p.name in OUR_FILES for p in folder.iterdir())


OUR_FILES = {
    WEIGHTS,
    HELDOUT,
    *OPTIONAL,
    "model.json",
    "preprocessing.json",
    "recipe.json",
    "data.json",
    "metrics.json",
    "history.csv",
    "curves.png",
    "compare.md",
    "compare.json",
    "roc.png",
    "report.html",
    "report.md",
    "report.json",
}


def check_out(out: Path, kind: str = "model.json") -> None:
    """Refuse a folder write_run may not replace: call it before the work, so a refusal costs nothing."""
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or _ours(out, kind))):
        raise ArtifactError(
            f"{out}: exists and is not a salarynet {'run' if kind == 'model.json' else 'folder'} "
            "(or holds other files); choose another --out"
        )


def write_run(out: Path, files: dict[str, bytes], kind: str = "model.json") -> Path:
    """Write every file into a temporary sibling folder, then swap it in: no half-written run.

    An existing folder salarynet wrote (marked by `kind`, holding only its files) is replaced; an empty
    folder is used; any other folder is left alone.
    """
    out = Path(out)
    check_out(out, kind)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as e:
        raise ArtifactError(f"{out}: cannot write the run folder here ({e.strerror}); choose another --out") from None
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run folder is an ordinary folder
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)  # put the previous run back
        if isinstance(e, OSError):
            raise ArtifactError(f"{out}: could not write the run ({e.strerror}); nothing was changed") from None
        raise
    if old.is_symlink():  # --overwrite onto a symlink: the link is what was replaced
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
    return out


# ---------------------------------------------------------------- reading a run: every byte bounded and checked


def _read_bytes(path: Path, limit: int) -> bytes:
    """A run file's bytes. Only a regular file is opened (a FIFO would block the open, /dev/zero never
    ends), only one of at most `limit` bytes, and no more than its size is read."""
    try:
        info = os.stat(path)  # follows a symlink: what would be read
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path}: not a regular file; a run folder holds plain files only")
        if info.st_size > limit:
            raise ArtifactError(f"{path}: {info.st_size:,} bytes, more than a run file may hold ({limit:,})")
        # Non-blocking in case it became a FIFO since the check; a regular file reads as usual.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            return f.read(info.st_size)
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: incomplete run, {path.name} is missing") from None
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read it ({e.strerror})") from None


def _parse_json(raw: bytes, path: Path) -> dict[str, Any]:
    """A run file's JSON object. Training writes finite numbers a few levels deep; anything else is
    damage, refused here before it can overflow the stack or a conversion."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise ArtifactError(f"{path}: damaged JSON (nested too deeply); train the run again") from None
    except ValueError as e:  # also a decoding error, a byte-order mark, and the number checks below
        raise ArtifactError(_line(f"{path}: damaged JSON ({e}); train the run again")) from None
    if nesting(value, MAX_DEPTH) > MAX_DEPTH:
        raise ArtifactError(f"{path}: damaged JSON (nested more than {MAX_DEPTH} levels); train the run again")
    if not isinstance(value, dict):
        raise ArtifactError(
            f"{path}: not a {FORMAT} {ROLES.get(path.name, 'file')} "
            f"(a JSON {type(value).__name__} where an object belongs)"
        )
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 18:  # past 64 bits; Python itself refuses 4,300 digits, with a confusing hint
        raise ValueError(f"the number {text[:20]}... is too large")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _constant(text: str) -> NoReturn:
    raise ValueError(f"{text} is not a number")  # NaN and Infinity: to_json_bytes never writes them


def _line(text: str) -> str:
    """One line of at most LINE characters: messages may quote keys and values from a damaged file."""
    text = " ".join(text.splitlines())
    return text if len(text) <= LINE else text[: LINE - 3] + "..."


# ---------------------------------------------------------------- the run files' schemas


class _Schema(BaseModel):
    # strict: a run file holds exactly the JSON types training writes; "3" is not 3, nor 3.5 an integer
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Size = Annotated[int, Field(ge=1, le=MAX_SIZE)]
Pair = Annotated[list[Size], Field(min_length=2, max_length=2)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Layer(_Schema):
    units: Size
    activation: Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]


class _Spec(_Schema):
    """ModelSpec.to_json's output."""

    in_size: int = Field(ge=0, le=MAX_SIZE)
    layers: list[_Layer] = Field(min_length=1)
    embeddings: list[Pair] = []
    text: Pair | None = None
    dropout: float = Field(0.0, ge=0, lt=1)
    wide: bool = False
    collapse: int | None = None

    @model_validator(mode="after")
    def _collapse_splits(self) -> "_Spec":
        if self.collapse is not None and not 0 < self.collapse < self.layers[-1].units:
            raise ValueError(
                f"collapse {self.collapse} does not split the last layer's {self.layers[-1].units} classes"
            )
        return self


class _ModelFile(_Schema):
    format: Literal[FORMAT]  # first: another format's file is named as that, not by its first odd field
    model: _Spec
    loss: Literal[LOSS_NAMES]  # type: ignore[valid-type]
    sha256: dict[Literal[CHECKED + OPTIONAL], Sha256]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _every_checksum(self) -> "_ModelFile":
        if missing := [name for name in CHECKED if name not in self.sha256]:
            raise ValueError(f"sha256 lacks {', '.join(missing)}")
        return self


class _Column(_Schema):
    column: str
    encoding: Literal["ordinal", "category", "multi"]
    codes: dict[str, float]
    unlisted: Literal["exclude", "zero"] = "exclude"
    labels: dict[str, str] = {}
    common: str | None = None


class _Text(_Schema):
    columns: list[str] = Field(min_length=1)
    buckets: int = Field(ge=2, le=MAX_SIZE)
    max_tokens: int = Field(ge=1, le=MAX_TOKENS)
    seen: list[int]
    idf: list[float]
    titles: list[str] = Field([], max_length=10_000)

    @model_validator(mode="after")
    def _one_weight_per_bucket(self) -> "_Text":
        if len(self.idf) != len(self.seen):
            raise ValueError(f"seen has {len(self.seen)} buckets but idf {len(self.idf)} weights")
        if not all(0 < b < self.buckets for b in self.seen):
            raise ValueError(f"seen holds a bucket outside 1..{self.buckets - 1}")
        return self


class _Preprocessing(_Schema):
    """FeatureState.to_json's output."""

    columns: list[_Column] = Field(min_length=1)
    min: list[float]
    max: list[float]
    text: _Text | None = None
    task: TaskName
    threshold: float
    bands: list[float]
    scale: Literal["minmax", "none"]
    shift: float = 0.0
    spread: float = Field(1.0, gt=0)


S = TypeVar("S", bound=_Schema)


def _validated(schema: type[S], data: dict[str, Any], path: Path) -> S:
    """The file's data in its schema, or one line naming the first field that is wrong."""
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        where, message, _ = first_problem(e)
        raise ArtifactError(_line(f"{path}: {where + ': ' if where else ''}{message}")) from None


def _mismatch(pre: _Preprocessing, spec: ModelSpec) -> str | None:
    """Where preprocessing.json disagrees with model.json (inputs the network cannot take), or None."""
    numeric = sum(1 if c.encoding == "ordinal" else len(c.codes) for c in pre.columns if c.encoding != "category")
    if not len(pre.min) == len(pre.max) == numeric == spec.in_size:
        return (
            f"min, max and columns make {len(pre.min)}, {len(pre.max)} and {numeric} numeric inputs; "
            f"model.json's in_size is {spec.in_size}"
        )
    categories = [(i, c) for i, c in enumerate(pre.columns) if c.encoding == "category"]
    if len(categories) != len(spec.embeddings):
        return f"{len(categories)} category columns; model.json has {len(spec.embeddings)} embeddings"
    for (i, col), (vocabulary, _) in zip(categories, spec.embeddings):
        if not _numbered(col.codes, 1) or len(col.codes) + 1 != vocabulary:
            return f"columns.{i}.codes: must number the answers 1..{vocabulary - 1} (model.json's vocabulary)"
    for i, col in enumerate(pre.columns):
        if col.encoding == "multi" and not _numbered(col.codes, 0):
            return f"columns.{i}.codes: must number the options 0..{len(col.codes) - 1}"
    vocabulary = len(pre.text.seen) + 1 if pre.text else None
    if vocabulary != (spec.text[0] if spec.text else None):
        return f"text: a vocabulary of {vocabulary}; model.json's text table is {spec.text}"
    return None


def _numbered(codes: dict[str, float], first: int) -> bool:
    """The codes number the answers first, first + 1, ... in some order, as training does."""
    return sorted(codes.values()) == list(range(first, first + len(codes)))


# ---------------------------------------------------------------- loading


def _weights(raw: bytes, spec: ModelSpec, path: Path) -> Params:
    """The weights model.json describes; its sizes are counted against the file before anything is allocated."""
    expected = shapes(spec)
    needed = 4 * sum(math.prod(shape) for shape in expected.values())
    if needed > len(raw):
        raise ArtifactError(
            f"{path.parent / 'model.json'}: describes {needed // 4:,} weights ({needed:,} bytes) "
            f"but {WEIGHTS} holds {len(raw):,} bytes"
        )
    try:
        tensors = load(raw)
    except (SafetensorError, KeyError) as e:  # KeyError: a dtype numpy lacks
        raise ArtifactError(_line(f"{path}: damaged weights ({type(e).__name__}: {e}); train the run again")) from None
    for name, shape in expected.items():
        got = tensors.get(name)
        if got is None or got.shape != shape or got.dtype != np.float32:
            found = "nothing" if got is None else f"{got.dtype} {got.shape}"
            raise ArtifactError(f"{path}: {name} is {found}, expected float32 {shape}")
    return unflatten(spec, tensors)


def _features(raw: bytes, spec: ModelSpec, path: Path) -> FeatureState:
    pre = _validated(_Preprocessing, _parse_json(raw, path), path)
    if problem := _mismatch(pre, spec):
        raise ArtifactError(_line(f"{path}: {problem}"))
    return FeatureState.from_json(pre.model_dump())


def _recipe(raw: bytes, path: Path) -> Recipe:
    try:
        return validate_recipe(_parse_json(raw, path), str(path))
    except RecipeError as e:  # as an ArtifactError: the run, not a recipe the user wrote, is at fault
        raise ArtifactError(_line(str(e))) from None


def load_run(path: str | Path) -> FittedModel:
    """A run folder, every file checked (sizes, checksums, schemas, shapes), as the FittedModel it holds."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArtifactError(f"{path}: a file, not a run folder (`salarynet train` writes a folder, e.g. runs/tutorial)")
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such run folder; train one with `salarynet train --out {path}`")
    if not (path / "model.json").exists():
        raise ArtifactError(f"{path}: not a salarynet run (no model.json); train one with `salarynet train --out DIR`")
    meta = _validated(
        _ModelFile, _parse_json(_read_bytes(path / "model.json", MAX_JSON), path / "model.json"), path / "model.json"
    )
    for name in OPTIONAL:
        if (path / name).exists() and name not in meta.sha256:
            raise ArtifactError(f"{path / name}: model.json has no checksum for it; the run was changed")
    files = {
        name: _read_bytes(path / name, MAX_WEIGHTS if name in (WEIGHTS, HELDOUT) else MAX_JSON) for name in meta.sha256
    }
    for name, content in files.items():
        if hashlib.sha256(content).hexdigest() != meta.sha256[name]:
            raise ArtifactError(f"{path / name}: checksum differs from model.json; the file was changed or truncated")
    spec = ModelSpec.from_json(meta.model.model_dump())
    params = _weights(files[WEIGHTS], spec, path / WEIGHTS)
    features = _features(files["preprocessing.json"], spec, path / "preprocessing.json")
    recipe = _recipe(files["recipe.json"], path / "recipe.json")
    data, metrics = (
        _parse_json(_read_bytes(path / name, MAX_JSON), path / name) for name in ("data.json", "metrics.json")
    )
    heldout = _heldout(files[HELDOUT], path / HELDOUT, spec) if HELDOUT in files else None
    blend = None
    if LINEAR in files:
        blend = LinearState.from_json(_parse_json(files[LINEAR], path / LINEAR), path / LINEAR)
    if (blend is None) != (recipe.blend is None) or (blend and blend.coef.shape[0] not in (1, spec.answers)):
        raise ArtifactError(f"{path / LINEAR}: does not match the recipe's blend section; train the run again")
    calibration = None
    if CONFORMAL in files:
        calibration = ConformalState.from_json(_parse_json(files[CONFORMAL], path / CONFORMAL), path / CONFORMAL)
    if (calibration is None) != (recipe.conformal is None):
        raise ArtifactError(f"{path / CONFORMAL}: does not match the recipe's conformal section; train the run again")
    return FittedModel(recipe, features, spec, params, blend, calibration, data, metrics, heldout, None, path)


def _heldout(content: bytes, path: Path, spec: ModelSpec) -> dict[str, np.ndarray]:
    """A refitted run's held-out outputs, checked: one row index and one finite output row per test row."""
    try:
        tensors = load(content)
    except (SafetensorError, KeyError) as e:
        raise ArtifactError(
            _line(f"{path}: damaged held-out outputs ({type(e).__name__}: {e}); train the run again")
        ) from None
    rows, outputs = tensors.get("rows"), tensors.get("outputs")
    if (
        rows is None
        or outputs is None
        or rows.dtype != np.int32
        or outputs.dtype != np.float64
        or rows.ndim != 1
        or outputs.shape != (len(rows), spec.answers)
        or not np.isfinite(outputs).all()
        or (rows < 0).any()
    ):
        found = {k: f"{v.dtype} {v.shape}" for k, v in tensors.items()}
        raise ArtifactError(
            _line(f"{path}: holds {found}; expected rows int32[n] and finite outputs float64[n, {spec.answers}]")
        )
    return {"rows": rows, "outputs": outputs}
