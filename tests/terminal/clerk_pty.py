"""A clerk at a keyboard: ``python -m terminal`` run on a pseudo-terminal (the stdlib pty
module), answered line by line as it asks, everything it shows kept for the test."""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time

#: Colours and styles (rich's), left out of what the clerk is said to see.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clerk:
    """One command (``python -m terminal``, or ``module``) on a pseudo-terminal; :meth:`expect`
    waits for text, :meth:`type` answers."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        timeout: float = 60.0,
        module: str = "terminal",
        cwd: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.seen = ""  # everything the terminal showed so far (decoded)
        self._raw = b""
        self._pos = 0  # how far expect() has consumed ``seen``
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal, getpass reads it
            try:
                if cwd:
                    os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.status: int | None = None

    def _read(self, deadline: float) -> bool:
        # poll, not select: in a long test run the descriptor may be past select's limit of 1024
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        self._raw += chunk
        self.seen = ANSI.sub("", self._raw.decode("utf-8", errors="replace"))
        return True

    def expect(self, text: str) -> str:
        """Wait until ``text`` appears after what was already expected; what came before it."""
        deadline = time.monotonic() + self.timeout
        while text not in self.seen[self._pos :]:
            if time.monotonic() > deadline or not self._read(deadline):
                raise AssertionError(f"{text!r} never shown; the terminal showed:\n{self.seen}")
        at = self.seen.index(text, self._pos)
        before = self.seen[self._pos : at]
        self._pos = at + len(text)
        return before

    def type(self, line: str) -> None:
        """Type a line and press Enter."""
        os.write(self.fd, line.encode() + b"\r")

    def wait(self) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + self.timeout
        while self._read(deadline):
            pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status
