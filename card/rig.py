"""The reader rig: N virtual readers in the real pcscd, and cards put into them from code.

How the readers come about (vsmartcard ``libifdvpcd`` 3.3 as packaged by Debian):

* a ``reader.conf`` entry ``DEVICENAME /dev/null:PORT`` makes the driver
  listen on ``PORT`` for slot 0 and ``PORT+1`` for slot 1 — the Debian build
  has two slots per entry (``VPCDSLOTS``), named ``"<FRIENDLYNAME> 00 00"``
  and ``"<FRIENDLYNAME> 00 01"`` by pcscd;
* the driver keeps its connections in a static array indexed by slot, so two
  entries sharing one driver file would overwrite each other's slots.  The rig
  therefore gives every entry its own *copy* of the driver (a different file
  is a different shared object for the dynamic loader), under
  :data:`STATE_DIR`.

So reader *i* (0-based, ``i < n``) is slot ``i % 2`` of entry ``i // 2``,
listens on port ``BASE_PORT + i`` (29963, 29964, …) and is called
``"SSCard Virtual A 00 00"``, ``"SSCard Virtual A 00 01"``,
``"SSCard Virtual B 00 00"``, ….  The rig writes exactly one file,
``/etc/reader.conf.d/sscard-rig``, and neutralises Debian's default
``/etc/reader.conf.d/vpcd`` (an extra reader on port 35963) after saving it to
:data:`STATE_DIR`, so port use is deterministic.

The ports lie below Linux's ephemeral range (32768–60999), unlike vpcd's
default 35963: pcscd binds them again on every restart, and an outgoing
connection that happened to get one of them as its local port (a card
reconnecting, a database client) would make that bind fail with "Address
already in use" and silently drop readers.

pcscd reads its configuration only when it starts.  :func:`ensure` starts
``pcscd -f`` when none is running and records its pid in :data:`RUN_DIR`;
only such a daemon is ever restarted or stopped by the rig.  A pcscd started
by someone else is reused, and when the configuration had to change under it
the rig raises :class:`RigError` saying how to restart it.

Cards go into readers from code with :func:`insert` (a ``python -m card
insert`` child process: killing it is pulling the card) or
:func:`insert_in_thread` (a :class:`~card.vpcd.VpcdConnector` thread in this
process).  A reader is *claimed* by an exclusive ``flock`` on
``RUN_DIR/reader-<i>.lock`` held by whoever serves the card, so concurrent
test processes never put two cards into one slot; the lock dies with its
process, even on SIGKILL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from card.vpcd import Icc, VpcdConnector

CONF_DIR = Path(os.environ.get("SSCARD_READER_CONF_DIR", "/etc/reader.conf.d"))
CONF_NAME = "sscard-rig"
DEBIAN_VPCD_NAME = "vpcd"
#: Where the driver copies and the saved Debian ``vpcd`` file live.
STATE_DIR = Path(os.environ.get("SSCARD_RIG_STATE", "/var/lib/sscard-rig"))
#: Locks, the pid of a rig-started pcscd and its log.
RUN_DIR = Path(os.environ.get("SSCARD_RIG_RUN", "/run/sscard-rig"))
SYSTEM_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD = "pcscd"
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
#: Port of reader 0; below the ephemeral port range (see the module docstring).
BASE_PORT = int(os.environ.get("SSCARD_RIG_BASE_PORT", "29963"))
#: Slots per reader.conf entry in the Debian vpcd build (VPCDSLOTS).
SLOTS_PER_ENTRY = 2
#: Default number of readers: a hospital's three desks plus room for parallel test runs.
DEFAULT_READERS = 6
#: pcscd allows 16 reader contexts (PCSCLITE_MAX_READERS_CONTEXTS).
MAX_READERS = 16
FRIENDLY_PREFIX = "SSCard Virtual"


class RigError(Exception):
    """The rig cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True)
class RigReader:
    """One virtual reader (slot) of the rig."""

    index: int
    name: str
    port: int

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "name": self.name, "port": self.port}


def entry_name(entry: int) -> str:
    """Friendly name of reader.conf entry ``entry`` (``SSCard Virtual A``, ``… B``, …)."""
    return f"{FRIENDLY_PREFIX} {chr(ord('A') + entry)}"


def readers(n: int = DEFAULT_READERS, base_port: int = BASE_PORT) -> list[RigReader]:
    """The readers a rig of ``n`` readers provides, in pcscd's order."""
    _check_count(n)
    return [
        RigReader(
            i,
            f"{entry_name(i // SLOTS_PER_ENTRY)} 00 {i % SLOTS_PER_ENTRY:02X}",
            base_port + i,
        )
        for i in range(n)
    ]


def _check_count(n: int) -> None:
    if not 1 <= n <= MAX_READERS:
        raise RigError(f"a rig has 1 to {MAX_READERS} readers (pcscd's limit), not {n}")


def render_conf(n: int, driver_dir: Path, base_port: int = BASE_PORT) -> str:
    """The reader.conf text for ``n`` readers (one entry per two slots)."""
    _check_count(n)
    entries = (n + SLOTS_PER_ENTRY - 1) // SLOTS_PER_ENTRY
    lines = [
        "# Written by the sscard reader rig (card/rig.py); do not edit by hand:",
        "# `python -m card rig setup --readers N` rewrites it.",
        f"# {n} virtual readers, vpcd ports {base_port}..{base_port + entries * 2 - 1}.",
    ]
    for entry in range(entries):
        lines += [
            "",
            f'FRIENDLYNAME "{entry_name(entry)}"',
            f"DEVICENAME   /dev/null:{base_port + entry * SLOTS_PER_ENTRY}",
            f"LIBPATH      {driver_dir / f'libifdvpcd-{entry}.so'}",
        ]
    return "\n".join(lines) + "\n"


def conf_reader_count(text: str) -> int:
    """How many readers a rig reader.conf text provides (by the comment the rig writes)."""
    for line in text.splitlines():
        if line.startswith("# ") and " virtual readers" in line:
            return int(line.split()[1])
    return 0


# --- configuration -----------------------------------------------------------------


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _install_drivers(entries: int) -> Path:
    """Own copies of the vpcd driver, one per entry (see module docstring)."""
    if not SYSTEM_DRIVER.exists():
        raise RigError(
            f"{SYSTEM_DRIVER} is missing: install vsmartcard's driver "
            "(`sudo apt-get install vsmartcard-vpcd`)"
        )
    driver_dir = STATE_DIR / "drivers"
    driver_dir.mkdir(parents=True, exist_ok=True)
    original = SYSTEM_DRIVER.read_bytes()
    for entry in range(entries):
        target = driver_dir / f"libifdvpcd-{entry}.so"
        if not target.exists() or target.read_bytes() != original:
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(original)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # a new inode: a running pcscd keeps its mapping
    return driver_dir


def _neutralise_debian_vpcd() -> bool:
    """Disable Debian's ``vpcd`` reader.conf entry (it would take port 35963)."""
    path = CONF_DIR / DEBIAN_VPCD_NAME
    if not path.exists():
        return False
    text = path.read_text()
    active = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not active:
        return False
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    saved = STATE_DIR / "vpcd.debian"
    if not saved.exists():
        saved.write_text(text)
    _write_atomic(
        path,
        "# Disabled by the sscard reader rig, which configures vpcd readers in "
        f"{CONF_DIR / CONF_NAME}.\n# The original is saved as {saved}.\n",
    )
    return True


def configure(n: int = DEFAULT_READERS) -> bool:
    """Write the reader.conf for ``n`` readers; True when pcscd must restart to see it.

    Refuses to drop a reader that holds a card (a claimed reader at index ``n`` or above).
    """
    _check_count(n)
    held = [index for index in range(n, configured_count()) if claimed_by(index) is not None]
    if held:
        raise RigError(
            f"readers {held} hold cards; a rig of {n} readers would drop them: "
            "remove those cards first, or keep more readers"
        )
    entries = (n + SLOTS_PER_ENTRY - 1) // SLOTS_PER_ENTRY
    driver_dir = _install_drivers(entries)
    changed = _neutralise_debian_vpcd()
    conf = CONF_DIR / CONF_NAME
    text = render_conf(n, driver_dir)
    if not conf.exists() or conf.read_text() != text:
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        _write_atomic(conf, text)
        changed = True
    return changed


def configured_count() -> int:
    """Readers in the current rig configuration (0 when the rig was never set up)."""
    conf = CONF_DIR / CONF_NAME
    return conf_reader_count(conf.read_text()) if conf.exists() else 0


# --- pcscd -------------------------------------------------------------------------


def _pid_alive(pid: int, name: str = PCSCD) -> bool:
    """True when ``pid`` is a running (not zombie) process called ``name``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    command, _, rest = stat.partition("(")[2].rpartition(")")
    return command == name and rest.split()[0] not in ("Z", "X")


def pcscd_pid() -> int | None:
    """The pid of the running pcscd, or None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(PCSCD_PID_FILE.read_text().split()[0])
        if _pid_alive(pid):
            return pid
    return None


def pcscd_running() -> bool:
    """True when the system pcscd runs (its pid file names a live pcscd, or it answers)."""
    return pcscd_pid() is not None or pcscd_answers()


def pcscd_answers() -> bool:
    """True when pcscd accepts connections on its socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(PCSCD_SOCKET))
        except OSError:
            return False
    return True


def rig_pcscd_pid() -> int | None:
    """The pid of a pcscd that the rig started and that still runs, or None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((RUN_DIR / "pcscd.pid").read_text())
        if _pid_alive(pid) and pcscd_pid() == pid:
            return pid
    return None


def start_pcscd(timeout: float = 10.0) -> int:
    """Start ``pcscd -f`` in its own session; wait until it answers; return its pid."""
    if shutil.which(PCSCD) is None:
        raise RigError("pcscd is not installed: `sudo apt-get install pcscd`")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    log = open(RUN_DIR / "pcscd.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            [PCSCD, "--foreground", "--info"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    (RUN_DIR / "pcscd.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RigError(
                f"pcscd exited at once (status {process.returncode}); see {RUN_DIR / 'pcscd.log'}"
            )
        if pcscd_answers():
            return process.pid
        time.sleep(0.02)
    raise RigError(f"pcscd did not answer within {timeout} s; see {RUN_DIR / 'pcscd.log'}")


def _users_handle(mode: int) -> IO[str] | None:
    """``users.lock`` locked with ``mode``; None when a non-blocking lock is refused."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(RUN_DIR / "users.lock", "a")  # noqa: SIM115 - returned to the caller
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
        super().__init__(_users_handle(fcntl.LOCK_SH))


class CardHold(_HeldLock):
    """This process has card image ``image`` in a reader (see :func:`hold_image`)."""


def hold_image(image: str | os.PathLike[str]) -> CardHold:
    """Hold a card image for one reader; RigError when another process has it in one.

    One image is one physical card: served from two readers by two processes,
    each with its own copy in memory, the image would keep only the last
    writer's counters and PIN state.  The lock is a file in :data:`RUN_DIR`
    named after the image's real path (the image itself is replaced on every
    write, so it cannot carry the lock); it dies with the process.
    """
    real = os.path.realpath(image)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(real.encode()).hexdigest()[:24]
    handle = open(RUN_DIR / f"image-{key}.lock", "a+")  # noqa: SIM115 - kept open
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


def _kill_pcscd(pid: int, timeout: float) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        (RUN_DIR / "pcscd.pid").unlink()


def stop_pcscd(timeout: float = 10.0, force: bool = False) -> bool:
    """Stop pcscd if the rig started it and nobody uses it; True when one was stopped.

    "Uses" means holds a :class:`RigUse` (the ``pcsc_rig`` fixture, every card
    inserted through the rig); ``force`` stops it regardless (the cards wait
    and reconnect when pcscd comes back).
    """
    pid = rig_pcscd_pid()
    if pid is None:
        return False
    exclusive = None
    if not force:
        exclusive = _users_handle(fcntl.LOCK_EX | fcntl.LOCK_NB)
        if exclusive is None:
            return False
    try:
        _kill_pcscd(pid, timeout)
    finally:
        if exclusive is not None:
            exclusive.close()
    return True


def restart_pcscd() -> int:
    """Restart a rig-started pcscd (to read a new reader.conf); refuse for anyone else's."""
    pid = pcscd_pid()
    if pcscd_running() and (pid is None or rig_pcscd_pid() != pid):
        raise RigError(
            f"pcscd (pid {pid}) was not started by the rig, so the rig leaves it alone: "
            f"restart it yourself to load {CONF_DIR / CONF_NAME} "
            "(`sudo systemctl restart pcscd`, or `sudo kill "
            f"{pid}` then `python -m card rig start`)"
        )
    if pid is not None:
        _kill_pcscd(pid, 10.0)
    return start_pcscd()


@contextlib.contextmanager
def _rig_lock() -> Iterator[None]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / "rig.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(n: int = DEFAULT_READERS) -> list[RigReader]:
    """Make sure pcscd runs with (at least) ``n`` rig readers; return the readers.

    A rig configured for more readers is kept.  Starts pcscd when none runs;
    restarts it when the configuration changed and the rig started it; raises
    :class:`RigError` when someone else's pcscd would have to be restarted.
    """
    _check_count(n)
    with _rig_lock():
        n = max(n, configured_count())
        changed = configure(n)
        if not pcscd_running():
            start_pcscd()
        elif changed:
            restart_pcscd()
        elif not pcscd_answers():
            raise RigError("pcscd runs but does not answer on its socket: restart it")
        rigged = readers(n)
        check_listed(rigged)
        return rigged


def _port_taken(port: int) -> bool:
    """True when some program holds TCP ``port`` (so a vpcd slot cannot listen on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def check_listed(rigged: list[RigReader], timeout: float = 5.0) -> None:
    """RigError unless pcscd lists every rig reader (within ``timeout`` after a start).

    pcscd drops a whole reader.conf entry (both its slots) when its driver
    cannot listen on a port, and says so only in its log.  Without pyscard
    there is no way to ask, and nothing is checked.
    """
    try:
        from smartcard import scard
    except ImportError:
        return
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise RigError(f"pcscd does not answer ({scard.SCardGetErrorMessage(hresult)})")
    try:
        deadline = time.monotonic() + timeout
        while True:
            hresult, listed = scard.SCardListReaders(context, [])
            missing = [r for r in rigged if r.name not in (listed or [])]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    finally:
        scard.SCardReleaseContext(context)
    if not missing:
        return
    taken = [r.port for r in missing if _port_taken(r.port)]
    why = (
        f"another program holds port(s) {taken} (find it with `ss -ltnp`), free them"
        if taken
        else f"see {RUN_DIR / 'pcscd.log'} or the system log"
    )
    raise RigError(
        f"pcscd runs but does not list the rig readers {[r.name for r in missing]}: {why}, "
        "then restart pcscd (`python -m card rig stop`, `python -m card rig start`)"
    )


def status() -> dict[str, object]:
    """What the rig looks like now (for ``python -m card rig status``)."""
    n = configured_count()
    pid = pcscd_pid()
    claims = {r.index: claimed_by(r.index) for r in readers(n)} if n else {}
    return {
        "configured_readers": n,
        "config": str(CONF_DIR / CONF_NAME),
        "pcscd_pid": pid,
        "pcscd_started_by_rig": pid is not None and rig_pcscd_pid() == pid,
        "readers": [
            {**r.to_json(), "claimed_by_pid": claims.get(r.index)}
            for r in (readers(n) if n else [])
        ],
    }


# --- claiming readers and inserting cards ------------------------------------------


class ReaderClaim(_HeldLock):
    """An exclusive claim on one rig reader, held until :meth:`release` (or process death)."""

    def __init__(self, reader: RigReader, handle: IO[str]) -> None:
        super().__init__(handle)
        self.reader = reader


def _try_claim(reader: RigReader) -> ReaderClaim | None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(RUN_DIR / f"reader-{reader.index}.lock", "a+")  # noqa: SIM115 - kept open
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
    the old card's state.  Without pyscard or pcscd there is nothing to wait for.
    """
    try:
        from smartcard import scard
    except ImportError:
        time.sleep(0.5)
        return True
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return True
    try:
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            hresult, states = scard.SCardGetStatusChange(context, 0, [(name, state)])
            if hresult != scard.SCARD_S_SUCCESS:
                return True  # unknown reader or no pcscd: nothing stale to wait for
            _name, event, _atr = states[0]
            if not event & scard.SCARD_STATE_PRESENT:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            state = event & ~scard.SCARD_STATE_CHANGED
            scard.SCardGetStatusChange(context, int(min(left, 1.0) * 1000), [(name, state)])
    finally:
        scard.SCardReleaseContext(context)


def claimed_by(index: int) -> int | None:
    """Pid holding reader ``index``, or None when it is free."""
    path = RUN_DIR / f"reader-{index}.lock"
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


def find_reader(which: int | str | None, n: int | None = None) -> RigReader | None:
    """A rig reader by index, port, or (fragment of) name; None means "any free one"."""
    if which is None:
        return None
    all_readers = readers(n or configured_count() or DEFAULT_READERS)
    if isinstance(which, int) or (isinstance(which, str) and which.isdigit()):
        number = int(which)
        for reader in all_readers:
            if number in (reader.index, reader.port):
                return reader
        raise RigError(f"no rig reader {number}; readers: {[r.name for r in all_readers]}")
    matches = [r for r in all_readers if which.lower() in r.name.lower()]
    if len(matches) != 1:
        raise RigError(
            f"{which!r} names {len(matches)} rig readers; give an index "
            f"0..{len(all_readers) - 1}, a port or a unique part of a name: "
            f"{[r.name for r in all_readers]}"
        )
    return matches[0]


def reader_on_port(port: int, n: int | None = None) -> RigReader | None:
    """The rig reader listening on ``port``, or None when the port is not the rig's."""
    for reader in readers(n or configured_count() or DEFAULT_READERS):
        if reader.port == port:
            return reader
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
    """Insert the card image into a rig reader with a ``python -m card insert`` process.

    Returns once the card process is connected and pcscd has read its ATR.
    The child claims the reader itself, so the claim dies with it.
    """
    command = [python, "-m", "card.cli_reader", "insert", os.fspath(image), "--json"]
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
