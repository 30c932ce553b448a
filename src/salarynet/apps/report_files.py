"""A report's three files (<name>.html, the model card <name>.md, the numbers <name>.json): refused before any
work where they would replace what salarynet did not write, then written whole or not at all. Apart from
report.py, so that the command line checks --out before importing scikit-learn and matplotlib."""

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ArtifactError

REPORT_FORMAT = "salarynet-report/1"  # in <stem>.json: the three files beside it are a report salarynet wrote


def targets(out: Path) -> tuple[Path, Path, Path]:
    """The page, the model card (<stem>.md) and the numbers (<stem>.json) a report writes."""
    return out, out.with_suffix(".md"), out.with_suffix(".json")


def check_targets(out: Path) -> None:
    """Refuse, before any work, to replace files that are not an earlier salarynet report of the same name."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ArtifactError(f"--out {out}: expected an .html file name (the model card and numbers go beside it)")
    existing = [p for p in targets(out) if p.exists() or p.is_symlink()]
    if not existing:
        return
    not_files = [p for p in existing if p.is_symlink() or not p.is_file()]  # never open a FIFO or a device
    ours = False
    if not not_files and targets(out)[2].is_file():
        try:
            numbers = json.loads(targets(out)[2].read_text(encoding="utf-8"))
            # Reports written before the marker: their numbers hold these keys together.
            ours = (
                numbers.get("format") == REPORT_FORMAT or {"test", "rows_used", "decision", "groups"} <= numbers.keys()
            )
        except (OSError, ValueError, AttributeError):
            pass
    if not ours or not_files:
        raise ArtifactError(
            f"{(not_files or existing)[0]}: exists and is not part of a salarynet report; "
            "choose another --out (a report writes <name>.html, <name>.md and <name>.json)"
        )


def write(out: Path, page: str, card: str, numbers: dict[str, Any]) -> tuple[Path, Path, Path]:
    """<stem>.html, <stem>.md (the model card) and <stem>.json beside it, all three or none: each is written to a
    temporary file first, then the three are swapped in; a failure or an interrupt on the way (a full disk, Ctrl-C)
    takes back what was swapped in and puts an earlier report's files back. Only over an earlier report's files
    (check_targets)."""
    check_targets(out)
    texts = (page, card, json.dumps({"format": REPORT_FORMAT} | numbers, indent=2, default=float) + "\n")
    paths = targets(out)
    tmps = [p.with_name(f".{p.name}.tmp-{os.getpid()}") for p in paths]
    olds = [p.with_name(f".{p.name}.old-{os.getpid()}") for p in paths]
    moved: list[int] = []  # earlier files set aside
    placed: list[int] = []  # new files swapped in
    try:
        for tmp, text in zip(tmps, texts):
            tmp.write_text(text, encoding="utf-8")
        for i, (path, tmp, old) in enumerate(zip(paths, tmps, olds)):
            if path.exists():
                path.replace(old)
                moved.append(i)
            tmp.replace(path)
            placed.append(i)
    except BaseException:
        for i in placed:
            with contextlib.suppress(OSError):
                paths[i].unlink()
        for i in moved:
            with contextlib.suppress(OSError):
                olds[i].replace(paths[i])
        raise
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    for old in olds:
        with contextlib.suppress(OSError):
            old.unlink(missing_ok=True)
    return paths
