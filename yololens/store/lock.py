"""An exclusive lock on an output directory, so two runs never interleave their writes."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from yololens.errors import OutputLockedError


class DirectoryLock:
    """``with DirectoryLock(out):`` holds ``out/.yololens.lock`` with ``flock``.

    The kernel drops the lock when the process dies (even on SIGKILL), so a crashed run
    never leaves a stale lock behind.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.path = self.directory / ".yololens.lock"
        self._fh = None

    def __enter__(self) -> "DirectoryLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            self._fh = None
            raise OutputLockedError(
                f"{self.directory}: output directory is in use by {holder}; "
                "wait for that run to finish or choose another --out"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
