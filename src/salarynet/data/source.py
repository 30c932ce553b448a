"""Where the survey comes from: a given file, the snapshot shipped inside the package (the default), or the
live public sheet downloaded once into a per-user cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from ..errors import DataError
from .files import check_file

if TYPE_CHECKING:  # pandas (survey.py) is imported when a file is read, after the cheap checks of check_data
    from .survey import Survey


# The survey's public Google Sheet, as CSV (see ../shared/data/README.md). Override with SALARYNET_SURVEY_URL.
SURVEY_URL = (
    "https://docs.google.com/spreadsheets/d/1IPS5dBSGtwYVbjsfbaMCYIWnOuRmJcbequohNxCyGVw"
    "/export?format=csv&gid=1625408792"
)
PROVENANCE = "survey.json"
EMBEDDED = "embedded"  # --data embedded (the default): the snapshots shipped in the package, every year
LIVE = "live"  # --data live: the public sheet, downloaded once into the cache
# The snapshots in salarynet/data/snapshot/, by survey year, each with its provenance in <name>.json.
# `--data embedded:2023` names one of them.
SNAPSHOTS = {2021: "ask-a-manager-2021.csv.gz", 2023: "ask-a-manager-2023.csv.gz"}


def embedded_path(year: int = 2021) -> Path:
    return Path(str(resources.files("salarynet.data").joinpath("snapshot", SNAPSHOTS[year])))


def embedded_record(year: int = 2021) -> dict[str, Any]:
    """A shipped snapshot's provenance: where and when it was taken, what part of its public copy it is, its rows
    and sha256."""
    name = SNAPSHOTS[year].removesuffix(".csv.gz") + ".json"
    return json.loads(resources.files("salarynet.data").joinpath("snapshot", name).read_text())


def cache_dir() -> Path:
    """SALARYNET_CACHE_DIR, else the platform's per-user cache folder."""
    return Path(os.environ.get("SALARYNET_CACHE_DIR") or platformdirs.user_cache_dir("salarynet"))


def compile_cache_dir() -> Path | None:
    """Where compiled fits are kept between runs: SALARYNET_COMPILE_CACHE ('off' to disable), else <cache>/xla; in
    either, a folder per processor (machine_key): a cache shared between machines never hands one instruction set's
    program to another (JAX's own cache key holds XLA_FLAGS, not the processor)."""
    setting = os.environ.get("SALARYNET_COMPILE_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    return (Path(setting) if setting else cache_dir() / "xla") / machine_key()


def machine_key() -> str:
    """The processor's architecture and instruction-set extensions, as a short hash (the flags line of
    /proc/cpuinfo where there is one, else what the platform module says)."""
    import platform

    features = platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            features = next((line for line in f if line.startswith(("flags", "Features"))), features)
    key = f"{platform.machine()} {' '.join(sorted(features.split(':')[-1].split()))}"
    return f"{platform.machine() or 'cpu'}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def use_compile_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache: a later run with the same shapes skips the compile."""
    folder = compile_cache_dir()
    if folder is not None:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance(survey: Survey, source: str, path: Path) -> dict[str, Any]:
    """What a run records of its data: source is "file", "live" or "embedded"."""
    return {
        "source": source,
        "file": str(path.resolve()),
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "rows": len(survey.frame),
        "schema": survey.schema,
        "read_at": _now(),
        "notes": survey.notes,
    }


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()


def _our_record(target_dir: Path) -> dict[str, Any] | None:
    """The cache's survey.json if salarynet wrote it (it names a survey.* file in the folder), else None."""
    try:
        record = json.loads((target_dir / PROVENANCE).read_text())
        file = Path(record["file"])
        return record if file.parent == target_dir and file.name.startswith("survey.") and record["sha256"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_cache(target_dir: Path, target: Path) -> dict[str, Any] | None:
    """The earlier record, after refusing to replace a survey.json or survey.* that salarynet did not write."""
    record = _our_record(target_dir)
    if record is None and (target_dir / PROVENANCE).exists():
        raise DataError(
            f"{target_dir / PROVENANCE}: exists and is not salarynet's cache record; "
            "set SALARYNET_CACHE_DIR to a folder of salarynet's own"
        )
    if target.exists() and (record is None or Path(record["file"]) != target):
        raise DataError(
            f"{target}: exists and is not salarynet's cached survey; "
            "set SALARYNET_CACHE_DIR to a folder of salarynet's own"
        )
    return record


def _install(file: Path, origin: str) -> tuple[Survey, dict[str, Any]]:
    """Check that `file` is a readable survey, then move it into the cache (what --data live reads).
    Only files salarynet wrote there are replaced: the earlier copy it recorded, and its record."""
    survey = read_survey(file)
    target_dir = cache_dir().resolve()
    target = target_dir / f"survey{_suffix(file)}"
    earlier = _check_cache(target_dir, target)
    staged = target_dir / f".staged-{os.getpid()}{_suffix(file)}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, staged)
        os.replace(staged, target)  # the new copy replaces the old one whole
        record = provenance(survey, LIVE, target) | {"origin": origin, "fetched_at": _now()}
        (target_dir / PROVENANCE).write_text(json.dumps(record, indent=2))
        old = Path(earlier["file"]) if earlier else None
        if old is not None and old != target and old.is_file() and sha256(old) == earlier["sha256"]:
            old.unlink()  # the copy salarynet recorded before (another suffix), unchanged since
    except OSError as e:
        raise DataError(
            f"cannot write the survey cache {target_dir} ({e.strerror or e}); set SALARYNET_CACHE_DIR "
            "to a writable folder, or pass --data FILE"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
    survey.path = str(target)
    return survey, record


def import_file(path: str | Path) -> dict[str, Any]:
    """`salarynet data import FILE`: a local copy of the survey for offline machines."""
    path = Path(path)
    return _install(path, f"imported from {path.resolve()}")[1]


def cached() -> dict[str, Any] | None:
    """The cached live copy's record, or None (no cache, or a damaged record: download again)."""
    record = _our_record(cache_dir().resolve())
    if record is None or not Path(record["file"]).is_file():
        return None
    return record | {"source": LIVE, "origin": record.get("origin", record["source"])}


def download(url: str | None = None, timeout: float = 60) -> dict[str, Any]:
    url = url or os.environ.get("SALARYNET_SURVEY_URL") or SURVEY_URL
    target_dir = cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".download-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        return _install(Path(tmp), url)[1]
    except DataError as e:
        raise DataError(f"the download from {url} is not a survey export: {e}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(
            f"could not download the survey from {url} ({reason}); the embedded snapshot needs no internet: "
            "leave out --data (or --data embedded), or pass --data FILE"
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def open_embedded(year: int = 2021) -> tuple[Survey, dict[str, Any]]:
    path, record = embedded_path(year), embedded_record(year)
    if not path.is_file() or sha256(path) != record["sha256"]:
        raise DataError(
            f"{path}: the survey snapshot shipped with salarynet is missing or changed "
            f"(expected sha256 {record['sha256']}); reinstall salarynet, or pass --data FILE"
        )
    survey = read_survey(path)
    survey.path = SNAPSHOTS[year]  # messages name the snapshot, not a path inside the installation
    return survey, {
        "source": EMBEDDED,
        "file": SNAPSHOTS[year],
        "year": year,
        "sha256": record["sha256"],
        "bytes": record["bytes"],
        "rows": len(survey.frame),
        "schema": survey.schema,
        "snapshot_date": record["snapshot_date"],
        "origin": record["source"],
        "description": record["description"],
        "notes": survey.notes,
    }


Data = str | Path | list[str | Path] | tuple[str | Path, ...] | None  # what --data (given 0, 1 or more times) names


def _embedded_year(item: str) -> int | None:
    """2023 for "embedded:2023"; None for anything else."""
    kind, _, year = item.partition(":")
    return int(year) if kind == EMBEDDED and year.isdigit() and int(year) in SNAPSHOTS else None


def expand(data: Data, years: list[int] | tuple[int, ...] | None = None) -> list[str]:
    """--data's sources one by one: "embedded" (or none given) is every shipped snapshot, `years`'s where given."""
    items = [str(d) for d in ([] if data is None else [data] if isinstance(data, (str, Path)) else data)]
    out: list[str] = []
    for item in items or [EMBEDDED]:
        if item == EMBEDDED:
            out += [f"{EMBEDDED}:{y}" for y in SNAPSHOTS if years is None or y in years] or [f"{EMBEDDED}:2021"]
        else:
            out.append(item)
    if len(set(out)) < len(out):
        twice = next(i for i in out if out.count(i) > 1)
        raise DataError(f"--data {twice}: given twice; each survey file is read once")
    return out


def _open_one(item: str) -> tuple[Survey, dict[str, Any]]:
    if (year := _embedded_year(item)) is not None:
        return open_embedded(year)
    if item.partition(":")[0] == EMBEDDED:
        raise DataError(
            f"--data {item}: no such snapshot; expected embedded, or one of "
            f"{', '.join(f'{EMBEDDED}:{y}' for y in SNAPSHOTS)}"
        )
    if item == LIVE:
        record = cached() or download()
        survey = read_survey(record["file"])
        return survey, record | {"notes": survey.notes}
    survey = read_survey(item)
    return survey, provenance(survey, "file", Path(item))


def _years(survey: Survey) -> dict[str, int]:
    return {str(y): int(n) for y, n in sorted(survey.frame["survey_year"].value_counts().items())}


def open_survey(data: Data, years: list[int] | tuple[int, ...] | None = None) -> tuple[Survey, dict[str, Any]]:
    """The survey to use and its provenance: files; "live" (the cache, downloading once); by default (nothing,
    or "embedded") the snapshots shipped with salarynet (`years`'s, where given). Several sources are read as one
    survey, their rows one after the other; the provenance lists each ("parts")."""
    from .survey import combine

    opened = [_open_one(item) for item in expand(data, years)]
    if len(opened) == 1:
        survey, record = opened[0]
        return survey, record | {"years": _years(survey)}
    survey = combine([s for s, _ in opened])
    parts = [record | {"years": _years(s)} for s, record in opened]
    return survey, {
        "source": EMBEDDED if all(p["source"] == EMBEDDED for p in parts) else "files",
        "file": " + ".join(str(p["file"]) for p in parts),
        "sha256": hashlib.sha256(" ".join(str(p["sha256"]) for p in parts).encode()).hexdigest(),
        "rows": len(survey.frame),
        "schema": ", ".join(dict.fromkeys(str(p["schema"]) for p in parts)),
        "years": _years(survey),
        "parts": parts,
        "notes": survey.notes,
    }


def check_data(data: Data) -> None:
    """--data's files exist and have a survey's type ("embedded" and "live" are checked when opened)."""
    for item in expand(data):
        if item != LIVE and item.partition(":")[0] != EMBEDDED:
            check_file(Path(item))


def read_survey(path: str | Path) -> Survey:
    from .survey import read_survey as read

    return read(path)


def load_survey(*paths: str | Path):
    """The survey as a DataFrame under canonical column names, a survey_year column included: by default the
    embedded snapshots (2021 and 2023); or "live", "embedded:2021", or any files the command line reads, one
    after the other."""
    return open_survey(list(paths))[0].frame


def training_data(data: dict[str, Any]) -> list[str] | None:
    """What --data reopens a run's training survey with (its data.json): each snapshot or file it read, or None
    when a file is gone."""
    out = []
    for part in data.get("parts") or [data]:
        if part.get("source") == EMBEDDED:
            name = part.get("file")
            year = part.get("year", next((y for y, n in SNAPSHOTS.items() if n == name), 2021))
            out.append(f"{EMBEDDED}:{year}")
            continue
        file = part.get("file")
        if not (isinstance(file, str) and Path(file).is_file()):
            return None
        out.append(file)
    return out
