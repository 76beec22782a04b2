"""An exclusive lock on an output directory, so two runs never interleave their writes."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from yololens.errors import InputError, OutputLockedError


class DirectoryLock:
    """``with DirectoryLock(out):`` holds ``out/.yololens.lock`` with ``flock``.

    The kernel drops the lock when the process dies (even on SIGKILL), so a crashed run
    never leaves a stale lock behind; a run that ends removes the file (while still holding the lock). A run
    that locked a file another run removed meanwhile sees its path gone or replaced and locks again.
    """

    def __init__(self, directory: str | os.PathLike, guards: str | os.PathLike | None = None):
        """``guards``: lock one output file outside any locked folder instead (``.<name>.lock`` beside it)."""
        self.guards = Path(guards) if guards is not None else None
        self.directory = self.guards.parent if self.guards is not None else Path(directory)
        self.path = self.directory / (f".{self.guards.name}.lock" if self.guards is not None else ".yololens.lock")
        self._fh = None

    def __enter__(self) -> "DirectoryLock":
        for _ in range(10):
            self._acquire()
            if self._still_ours():
                break
            self._release(unlink=False)  # the holder removed it as we opened it: lock the new file
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()
        return self

    def _acquire(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a+")
        except OSError as exc:  # a parent that is a file, a read-only or full file system, no permission ...
            raise InputError(f"{self.directory}: cannot write the output folder ({_why(exc, self.directory)})") from None
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            self._fh = None
            raise OutputLockedError(
                f"{self.guards or self.directory}: output {'file' if self.guards else 'directory'} is in use by "
                f"{holder}; "
                "wait for that run to finish or choose another --out"
            ) from None

    def _still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fh.fileno()).st_ino
        except FileNotFoundError:
            return False

    def _release(self, unlink: bool) -> None:
        if self._fh is None:
            return
        if unlink:
            try:  # removed while held: no run can lock this file after us and believe it holds the folder
                os.unlink(self.path)
            except OSError:
                pass
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    def __exit__(self, *exc) -> None:
        self._release(unlink=True)


def _why(exc: OSError, directory: Path) -> str:
    """One line naming the cause, e.g. ``/data/a.txt is a file, not a folder``."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for parent in (directory, *directory.parents):
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    return exc.strerror or str(exc)
