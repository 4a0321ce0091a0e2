"""The key-change signal: one small file every worker of a machine watches (docs/api.md §API keys).

The service caches a looked-up API key for a few seconds so that the hot routes
authenticate without a database read. A revocation, rotation or expiry change
must still hold from the next request on, in every worker process: whoever
changes a key (the admin API in any worker, or the CLI) replaces this file after
the change has committed, and every worker compares the file's identity (inode,
modification time, size: one ``stat``) before it trusts its cache. The file holds
a counter only; it is created 0600.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

Stamp = tuple[int, int, int] | None


class KeySignal:
    """The signal file at ``path`` (None: this process only, e.g. an in-memory database)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._local = 0  # changes made in this process (all there is without a file)
        self._seen = self.stamp()

    def stamp(self) -> Stamp:
        """The file's identity now (None when there is no file)."""
        if self.path is None:
            return (0, self._local, 0)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def changed(self) -> bool:
        """True once after each change since the last call (the caller forgets its cache)."""
        stamp = self.stamp()
        if stamp == self._seen:
            return False
        with self._lock:
            self._seen = stamp
        return True

    def raise_signal(self) -> None:
        """Tell every watcher that keys changed (call after the change committed)."""
        self._local += 1
        if self.path is None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            count = int(self.path.read_text() or "0")
        except (FileNotFoundError, ValueError):
            count = 0
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(count + 1).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
