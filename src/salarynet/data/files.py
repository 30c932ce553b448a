"""Whether a path can be a survey export, checked before anything heavy is imported (source.py and survey.py
both ask; neither imports the other for it)."""

from pathlib import Path

from ..errors import DataError

READABLE = (".csv", ".csv.gz", ".xlsx")


def check_file(path: Path) -> None:
    """A file that can be a survey export, or one line saying why not (before anything is imported or read)."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a survey export file ({', '.join(READABLE)})")
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a survey export: {', '.join(READABLE)})")
    if not path.name.lower().endswith((".xlsx", ".csv", ".gz")):
        raise DataError(f"{path}: unsupported file type (expected {', '.join(READABLE)})")
