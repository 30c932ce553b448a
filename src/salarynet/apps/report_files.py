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
    """<stem>.html, <stem>.md (the model card) and <stem>.json beside it, each written whole or not at all;
    only over an earlier report's files (check_targets)."""
    check_targets(out)
    texts = (page, card, json.dumps({"format": REPORT_FORMAT} | numbers, indent=2, default=float) + "\n")
    for path, text in zip(targets(out), texts):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return targets(out)
