"""Cards into rig readers: a card process (:func:`insert`) or a connector thread.

A card process is ``python -m rig.cli insert IMAGE --json``: it claims the
reader itself, so the claim dies with it, and killing it is pulling the card.
A connector thread (:func:`insert_in_thread`) serves an in-memory card from
this process through :class:`card.vpcd.VpcdConnector`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Self

from card.vpcd import Icc, VpcdConnector
from rig.claims import ReaderClaim, RigUse, claim
from rig.conf import RigError, RigReader


class InsertedCard:
    """A card sitting in a rig reader; :meth:`remove` takes it out."""

    def __init__(
        self,
        reader: RigReader,
        process: subprocess.Popen[str] | None = None,
        connector: VpcdConnector | None = None,
        claim_: ReaderClaim | None = None,
    ) -> None:
        self.reader = reader
        self.process = process
        self.connector = connector
        self._claim = claim_
        # A card process holds its own RigUse; a connector thread needs one here.
        self._use = RigUse() if connector is not None else None

    def __repr__(self) -> str:
        how = f"pid {self.process.pid}" if self.process else "thread"
        return f"InsertedCard({self.reader.name!r}, port {self.reader.port}, {how})"

    @property
    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.connector is not None and not self.connector.stopped

    def remove(self, timeout: float = 10.0) -> None:
        """Take the card out (SIGTERM for a card process; stop for a thread)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.connector is not None:
            self.connector.stop()
        if self._claim is not None:
            self._claim.release()
        if self._use is not None:
            self._use.release()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        """Kill the card process outright (SIGKILL): a card yanked mid-whatever."""
        if self.process is None:
            raise RigError("only a card process can be killed; use remove() for a thread")
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def insert(
    image: str | os.PathLike[str],
    reader: int | str | None = None,
    timeout: float = 15.0,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> InsertedCard:
    """Insert the card image into a rig reader with a ``python -m rig.cli insert`` process.

    Returns once the card process is connected and pcscd has read its ATR.
    The child claims the reader itself, so the claim dies with it.
    """
    command = [python, "-m", "rig.cli", "insert", os.fspath(image), "--json"]
    if reader is not None:
        command += ["--reader", str(reader)]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    errors = _drain(process)
    event = _read_event(process, timeout, errors)
    if event.get("event") != "inserted":
        process.kill()
        process.wait()
        raise RigError(f"the card process did not insert the card: {event}")
    found = RigReader(int(event["index"]), str(event["name"]), int(event["port"]))
    return InsertedCard(found, process=process)


def _drain(process: subprocess.Popen[str], keep: int = 20) -> list[str]:
    """Read the card process's stderr for as long as it runs; the last ``keep`` lines."""
    lines: list[str] = []
    stream = process.stderr

    def drain() -> None:
        if stream is None:
            return
        for line in stream:
            lines.append(line.rstrip())
            del lines[:-keep]

    threading.Thread(target=drain, name="card-insert-stderr", daemon=True).start()
    return lines


def _read_event(
    process: subprocess.Popen[str], timeout: float, errors: list[str] | None = None
) -> dict[str, object]:
    stdout = process.stdout
    if stdout is None:
        raise RigError("the card process has no stdout pipe")
    result: dict[str, object] = {}

    def reader_thread() -> None:
        for line in stdout:
            line = line.strip()
            if line.startswith("{"):
                result.update(json.loads(line))
                return

    thread = threading.Thread(target=reader_thread, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        if not thread.is_alive():
            # stdout reached its end: the card process is exiting; let it finish so its
            # status and last words are reported, not mistaken for a timeout.
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        exited = process.poll() is not None
        process.kill()
        process.wait()
        if exited:
            time.sleep(0.05)  # let the stderr thread read the last words
            said = "; ".join(line for line in (errors or []) if line) or "no message"
            raise RigError(
                f"the card process exited (status {process.returncode}) before inserting "
                f"the card: {said}"
            )
        raise RigError(
            f"the card process did not report an insertion within {timeout} s "
            f"(exit status {process.returncode}); is pcscd running with the rig readers? "
            "`python -m card rig status`"
        )
    return result


def insert_in_thread(
    card: Icc, reader: int | str | None = None, timeout: float = 10.0
) -> InsertedCard:
    """Insert an in-memory card through a :class:`VpcdConnector` thread of this process."""
    claimed = claim(reader)
    connector = VpcdConnector(card, port=claimed.reader.port)
    connector.start()
    deadline = time.monotonic() + timeout
    while connector.served == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    if connector.served == 0:
        connector.stop()
        claimed.release()
        raise RigError(
            f"pcscd did not poll {claimed.reader.name} (port {claimed.reader.port}) within "
            f"{timeout} s: is pcscd running with the rig configuration? `python -m card rig status`"
        )
    return InsertedCard(claimed.reader, connector=connector, claim_=claimed)
