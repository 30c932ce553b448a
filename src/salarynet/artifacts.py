"""A run folder: weights as safetensors, everything else as JSON; written atomically, no pickle."""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save

from .errors import ArtifactError
from .features import FeatureState
from .losses import LOSSES
from .model import ACTIVATIONS, ModelSpec, Params, flatten, shapes, unflatten
from .recipe import Recipe, validate_recipe

FORMAT = "salarynet-run/1"
WEIGHTS = "model.safetensors"


@dataclass
class Run:
    path: Path
    spec: ModelSpec
    params: Params
    features: FeatureState
    recipe: Recipe
    loss: str
    data: dict[str, Any]
    metrics: dict[str, Any]


def weights_bytes(params: Params) -> bytes:
    return save({k: np.asarray(v, np.float32) for k, v in flatten(params).items()}, metadata={"format": FORMAT})


CHECKED = (WEIGHTS, "preprocessing.json", "recipe.json")  # what a prediction depends on, checksummed in model.json


def model_json(spec: ModelSpec, loss: str, files: dict[str, bytes]) -> dict[str, Any]:
    return {"format": FORMAT, "model": spec.to_json(), "loss": loss,
            "sha256": {name: hashlib.sha256(files[name]).hexdigest() for name in CHECKED}}


def to_json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()


def _ours(folder: Path, kind: str) -> bool:
    """A folder salarynet wrote: its marker file is there and holds only salarynet's files."""
    marker = folder / kind
    try:
        ok = kind != "model.json" or json.loads(marker.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False
    return ok and all(p.name in OUR_FILES for p in folder.iterdir())


OUR_FILES = {WEIGHTS, "model.json", "preprocessing.json", "recipe.json", "data.json", "metrics.json", "history.csv",
             "curves.png", "compare.md", "compare.json", "roc.png", "report.html", "report.md", "report.json"}


def write_run(out: Path, files: dict[str, bytes], kind: str = "model.json") -> Path:
    """Write every file into a temporary sibling folder, then swap it in: no half-written run.

    An existing folder salarynet wrote (marked by `kind`, holding only its files) is replaced; an empty
    folder is used; any other folder is left alone.
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or _ours(out, kind))):
        raise ArtifactError(f"{out}: exists and is not a salarynet {'run' if kind == 'model.json' else 'folder'} "
                            "(or holds other files); choose another --out")
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
    shutil.rmtree(old, ignore_errors=True)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: not a salarynet run (no {path.name}); train one with `salarynet train --out DIR`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path}: damaged JSON ({e}); train the run again") from None


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such run folder; train one with `salarynet train --out {path}`")
    meta = _read_json(path / "model.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(f"{path / 'model.json'}: not a {FORMAT} model description")
    try:
        spec = ModelSpec.from_json(meta["model"])
        if any(a not in ACTIVATIONS for a in spec.activations) or meta["loss"] not in LOSSES:
            raise ArtifactError(f"{path / 'model.json'}: unknown activation or loss ({spec.activations}, {meta['loss']!r})")
        for name in CHECKED:
            if hashlib.sha256((path / name).read_bytes()).hexdigest() != meta["sha256"][name]:
                raise ArtifactError(f"{path / name}: checksum differs from model.json; the file was changed or truncated")
        raw = (path / WEIGHTS).read_bytes()
        tensors = load(raw)
        for name, shape in shapes(spec).items():
            if name not in tensors or tensors[name].shape != shape:
                got = tensors[name].shape if name in tensors else "nothing"
                raise ArtifactError(f"{path / WEIGHTS}: {name} has shape {got}, expected {shape}")
        params = unflatten(spec, tensors)
        features = FeatureState.from_json(_read_json(path / "preprocessing.json"))
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: incomplete run, {Path(e.filename).name} is missing") from None
    except (KeyError, TypeError, ValueError, AttributeError, SafetensorError) as e:
        raise ArtifactError(f"{path}: damaged run files ({type(e).__name__}: {e})") from None
    recipe = validate_recipe(_read_json(path / "recipe.json"), str(path / "recipe.json"))
    return Run(path, spec, params, features, recipe, str(meta["loss"]),
               _read_json(path / "data.json"), _read_json(path / "metrics.json"))
