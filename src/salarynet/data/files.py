"""Whether a path can be a survey export, checked before anything heavy is imported (source.py and survey.py
both ask; neither imports the other for it); and the one way salarynet writes a file whole."""

import contextlib
import os
from collections.abc import Callable
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


def write_whole(
    path: Path,
    content: bytes | str | Callable[[Path], None],
    commit: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> None:
    """Write a file whole or not at all: into a temporary file beside it, then renamed over it (os.replace, one
    step on one file system). An error or Ctrl-C leaves the earlier file as it was and no temporary file behind.
    content: bytes, text (UTF-8) or a function that writes the temporary path (a DataFrame's to_csv); commit: a
    context the rename happens in (the command line's: from there a late Ctrl-C no longer unsays the file)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        elif isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            content(tmp)
        with commit():
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
