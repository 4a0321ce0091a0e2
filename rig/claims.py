"""Claims: who holds which rig reader, which card image, and whether pcscd is in use.

Every claim is an exclusive (or, for "pcscd in use", shared) ``flock`` on a file
in :data:`rig.conf.RUN_DIR`, held by the process that serves the card: the
kernel drops it when that process dies, even on SIGKILL, so a claim never
outlives its holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from typing import IO, Self

from rig import conf
from rig.conf import DEFAULT_READERS, RigError, RigReader, configured_count, find_reader, readers
from terminal.readers.base import CardStillPresent, ReaderError


def users_lock(mode: int) -> IO[str] | None:
    """``users.lock`` locked with ``mode``; None when a non-blocking lock is refused."""
    conf.RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(conf.RUN_DIR / "users.lock", "a")  # noqa: SIM115 - returned to the caller
    try:
        fcntl.flock(handle, mode)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class _HeldLock:
    """An open lock file this process holds a ``flock`` on, until :meth:`release`.

    (Or until the process dies: the kernel drops the lock with the file.)
    """

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RigUse(_HeldLock):
    """A shared claim that pcscd is in use (a test session, a card in a reader, a benchmark).

    :func:`stop_pcscd` leaves pcscd running while anyone holds one.
    """

    def __init__(self) -> None:
        super().__init__(users_lock(fcntl.LOCK_SH))


class CardHold(_HeldLock):
    """This process has card image ``image`` in a reader (see :func:`hold_image`)."""


def hold_image(image: str | os.PathLike[str]) -> CardHold:
    """Hold a card image for one reader; RigError when another process has it in one.

    One image is one physical card: served from two readers by two processes,
    each with its own copy in memory, the image would keep only the last
    writer's counters and PIN state.  The lock is a file in :data:`conf.RUN_DIR`
    named after the image's real path (the image itself is replaced on every
    write, so it cannot carry the lock); it dies with the process.
    """
    real = os.path.realpath(image)
    conf.RUN_DIR.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(real.encode()).hexdigest()[:24]
    handle = open(conf.RUN_DIR / f"image-{key}.lock", "a+")  # noqa: SIM115 - kept open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RigError(
            f"card image {real} is already in a reader (pid {holder}): a card is in one "
            "reader at a time; remove it there first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return CardHold(handle)


class ReaderClaim(_HeldLock):
    """An exclusive claim on one rig reader, held until :meth:`release` (or process death)."""

    def __init__(self, reader: RigReader, handle: IO[str]) -> None:
        super().__init__(handle)
        self.reader = reader


def _try_claim(reader: RigReader) -> ReaderClaim | None:
    conf.RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(conf.RUN_DIR / f"reader-{reader.index}.lock", "a+")  # noqa: SIM115 - kept open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return ReaderClaim(reader, handle)


def wait_until_empty(name: str, timeout: float = 3.0) -> bool:
    """Wait until pcscd reports no card in reader ``name``; False on timeout.

    A card whose connection just closed still looks present until pcscd's next
    poll (up to 400 ms); a new card connecting in that window would be served
    the old card's state.  Asked through the terminal's reader layer; without
    pyscard, pcscd or that reader there is nothing stale to wait for.
    """
    try:
        from terminal.readers.pcsc import PcscReader
    except ReaderError:  # pyscard is not installed
        time.sleep(0.5)
        return True
    try:
        with PcscReader(name) as reader:
            reader.wait_for_removal(timeout)
    except CardStillPresent:
        return False
    except ReaderError:
        return True  # unknown reader or no pcscd: nothing stale to wait for
    return True


def claimed_by(index: int) -> int | None:
    """Pid holding reader ``index``, or None when it is free."""
    path = conf.RUN_DIR / f"reader-{index}.lock"
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def claim(which: int | str | None = None, n: int | None = None) -> ReaderClaim:
    """Claim the named reader, or the first free one; RigError if it is (they are) taken.

    Returns once pcscd has noticed that the previous card left the reader.
    """
    claimed = _claim(which, n)
    if claimed.reader.index >= 0:
        wait_until_empty(claimed.reader.name)
    return claimed


def _claim(which: int | str | None, n: int | None) -> ReaderClaim:
    reader = find_reader(which, n)
    if reader is not None:
        taken = _try_claim(reader)
        if taken is None:
            raise RigError(
                f"{reader.name} (port {reader.port}) already holds a card "
                f"(pid {claimed_by(reader.index)}): remove it first or pick another reader"
            )
        return taken
    for candidate in readers(n or configured_count() or DEFAULT_READERS):
        taken = _try_claim(candidate)
        if taken is not None:
            return taken
    raise RigError(
        "every rig reader holds a card: remove one, or configure more readers with "
        "`python -m card rig setup --readers N`"
    )
