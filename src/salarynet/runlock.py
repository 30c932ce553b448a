"""A run folder claimed before the work: a lock file beside it, so that two commands never write one folder,
and a folder that cannot be written is refused before the work, not after it."""

import contextlib
import os
from pathlib import Path

from .artifacts import check_out
from .errors import ArtifactError


def _remove_empty(made: list[Path]) -> None:
    """Folders a claim made, innermost first, where they are still empty."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


class Claim:
    """A run folder claimed before the work: a lock file beside it (`.<name>.lock`, created exclusively, holding
    the process id) that no other salarynet command can create until release(). Two commands started together
    never pick the same default folder, and never both write the same --out."""

    def __init__(self, path: Path, lock: Path, made: list[Path] | None = None):
        self.path, self.lock, self.made = path, lock, made or []

    def release(self) -> None:
        """The lock removed, and the folders made for it where they are still empty (no run was written)."""
        with contextlib.suppress(OSError):
            if self.lock.read_text().strip() == str(os.getpid()):
                self.lock.unlink()
        _remove_empty(self.made)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _writable_parent(out: Path) -> None:
    """Refuse, before any work, a folder that cannot be made: a parent that is a file, or no write permission."""
    parent = out.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ArtifactError(f"{parent}: a file, not a folder, so {out} cannot be made there; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(f"{parent}: not writable, so {out} cannot be made there; choose another --out")


def _make_parents(out: Path) -> list[Path]:
    """out's missing parent folders, made: the ones made, outermost first (a failed command removes them)."""
    missing = [p for p in reversed(out.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArtifactError(f"{out}: cannot write here ({e.strerror}); choose another --out") from None
    return missing


def _lock(out: Path) -> Path | None:
    """Create out's lock file exclusively: its path, or None if another live process holds it."""
    lock = out.parent / f".{out.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _alive(lock):
                return None
            with contextlib.suppress(OSError):  # a lock left by a process that is gone (killed): take it over
                lock.unlink()
            continue
        except OSError as e:
            raise ArtifactError(f"{out}: cannot write here ({e.strerror}); choose another --out") from None
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return lock
    return None


def _alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return True  # being written, or unreadable: leave it
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def claim_run(out: Path | None, default: Path, overwrite: bool = False) -> Claim:
    """The run folder a command will write, claimed before the work (Claim): `out`, or the first of default,
    default-2, ... that neither exists nor is claimed. Refused in one line, before the work, where it cannot be
    written: a parent that is a file or read-only, another command writing it, a folder that is not a run, or a
    run already there without overwrite."""
    if out is None:
        _writable_parent(default)
        made = _make_parents(default)
        for n in range(1, 10_000):
            candidate = default if n == 1 else default.with_name(f"{default.name}-{n}")
            if candidate.exists() or candidate.is_symlink():
                continue
            try:
                lock = _lock(candidate)
            except ArtifactError:
                _remove_empty(made)
                raise
            if lock is None:
                continue
            if candidate.exists() or candidate.is_symlink():  # made between the look and the lock
                Claim(candidate, lock).release()
                continue
            return Claim(candidate, lock, made)
        _remove_empty(made)
        raise ArtifactError(f"{default}: 10,000 runs of this name; choose an --out")
    _writable_parent(out)
    made = _make_parents(out)
    try:
        lock = _lock(out)
    except ArtifactError:
        _remove_empty(made)
        raise
    if lock is None:
        _remove_empty(made)
        raise ArtifactError(f"{out}: another salarynet command is writing it now; wait for it, or choose another --out")
    claim = Claim(out, lock, made)
    try:
        check_out(out)
        if not overwrite and out.is_dir() and any(out.iterdir()):
            raise ArtifactError(f"{out}: holds a run already; --overwrite replaces it, or choose another --out")
    except BaseException:
        claim.release()
        raise
    return claim
