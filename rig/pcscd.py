"""The rig's pcscd: write the configuration, start, stop and restart the daemon, check it.

pcscd reads ``reader.conf`` only when it starts.  :func:`ensure` starts
``pcscd -f`` when none runs and records its pid in :data:`rig.conf.RUN_DIR`;
only such a daemon is ever restarted or stopped by the rig.  A pcscd started by
someone else is reused, and when the configuration had to change under it the
rig raises :class:`~rig.conf.RigError` saying how to restart it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from rig import conf
from rig.claims import claimed_by, users_lock
from rig.conf import (
    DEFAULT_READERS,
    RigError,
    RigReader,
    check_count,
    configured_count,
    readers,
)
from terminal.readers.base import ReaderError

PCSCD = "pcscd"
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def configure(n: int = DEFAULT_READERS) -> bool:
    """Write the reader.conf for ``n`` readers; True when pcscd must restart to see it.

    Refuses to drop a reader that holds a card (a claimed reader at index ``n`` or above).
    """
    check_count(n)
    held = [index for index in range(n, configured_count()) if claimed_by(index) is not None]
    if held:
        raise RigError(
            f"readers {held} hold cards; a rig of {n} readers would drop them: "
            "remove those cards first, or keep more readers"
        )
    entries = (n + conf.SLOTS_PER_ENTRY - 1) // conf.SLOTS_PER_ENTRY
    driver_dir = conf.install_drivers(entries)
    changed = conf.neutralise_debian_vpcd()
    path = conf.CONF_DIR / conf.CONF_NAME
    text = conf.render_conf(n, driver_dir)
    if not path.exists() or path.read_text() != text:
        conf.CONF_DIR.mkdir(parents=True, exist_ok=True)
        conf.write_atomic(path, text)
        changed = True
    return changed


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
        pid = int((conf.RUN_DIR / "pcscd.pid").read_text())
        if _pid_alive(pid) and pcscd_pid() == pid:
            return pid
    return None


def start_pcscd(timeout: float = 10.0) -> int:
    """Start ``pcscd -f`` in its own session; wait until it answers; return its pid."""
    if shutil.which(PCSCD) is None:
        raise RigError("pcscd is not installed: `sudo apt-get install pcscd`")
    conf.RUN_DIR.mkdir(parents=True, exist_ok=True)
    log = open(conf.RUN_DIR / "pcscd.log", "ab")  # noqa: SIM115 - handed to the child
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
    (conf.RUN_DIR / "pcscd.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RigError(
                f"pcscd exited at once (status {process.returncode}); see {conf.RUN_DIR / 'pcscd.log'}"
            )
        if pcscd_answers():
            return process.pid
        time.sleep(0.02)
    raise RigError(f"pcscd did not answer within {timeout} s; see {conf.RUN_DIR / 'pcscd.log'}")


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
        (conf.RUN_DIR / "pcscd.pid").unlink()


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
        exclusive = users_lock(fcntl.LOCK_EX | fcntl.LOCK_NB)
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
            f"restart it yourself to load {conf.CONF_DIR / conf.CONF_NAME} "
            "(`sudo systemctl restart pcscd`, or `sudo kill "
            f"{pid}` then `python -m card rig start`)"
        )
    if pid is not None:
        _kill_pcscd(pid, 10.0)
    return start_pcscd()


@contextlib.contextmanager
def _rig_lock() -> Iterator[None]:
    conf.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(conf.RUN_DIR / "rig.lock", "a") as handle:
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
    check_count(n)
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
        from terminal.readers.pcsc import list_readers
    except ReaderError:  # pyscard is not installed
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            listed = list_readers()
        except ReaderError as exc:
            raise RigError(f"pcscd does not answer ({exc})") from None
        missing = [r for r in rigged if r.name not in listed]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not missing:
        return
    taken = [r.port for r in missing if _port_taken(r.port)]
    why = (
        f"another program holds port(s) {taken} (find it with `ss -ltnp`), free them"
        if taken
        else f"see {conf.RUN_DIR / 'pcscd.log'} or the system log"
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
        "config": str(conf.CONF_DIR / conf.CONF_NAME),
        "pcscd_pid": pid,
        "pcscd_started_by_rig": pid is not None and rig_pcscd_pid() == pid,
        "readers": [
            {**r.to_json(), "claimed_by_pid": claims.get(r.index)}
            for r in (readers(n) if n else [])
        ],
    }
