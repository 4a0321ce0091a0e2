"""The readers a rig provides and the ``reader.conf`` that makes pcscd create them.

Reader *i* is slot ``i % 2`` of ``reader.conf`` entry ``i // 2``, listens on
``BASE_PORT + i`` and every entry loads its own copy of the vpcd driver (why:
:mod:`rig`).  The paths are module attributes read at call time, so tests may
point them at a scratch directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONF_DIR = Path(os.environ.get("SSCARD_READER_CONF_DIR", "/etc/reader.conf.d"))
CONF_NAME = "sscard-rig"
DEBIAN_VPCD_NAME = "vpcd"
#: Where the driver copies and the saved Debian ``vpcd`` file live.
STATE_DIR = Path(os.environ.get("SSCARD_RIG_STATE", "/var/lib/sscard-rig"))
#: Locks, the pid of a rig-started pcscd and its log.
RUN_DIR = Path(os.environ.get("SSCARD_RIG_RUN", "/run/sscard-rig"))
SYSTEM_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
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
    check_count(n)
    return [
        RigReader(
            i,
            f"{entry_name(i // SLOTS_PER_ENTRY)} 00 {i % SLOTS_PER_ENTRY:02X}",
            base_port + i,
        )
        for i in range(n)
    ]


def check_count(n: int) -> None:
    if not 1 <= n <= MAX_READERS:
        raise RigError(f"a rig has 1 to {MAX_READERS} readers (pcscd's limit), not {n}")


def render_conf(n: int, driver_dir: Path, base_port: int = BASE_PORT) -> str:
    """The reader.conf text for ``n`` readers (one entry per two slots)."""
    check_count(n)
    entries = (n + SLOTS_PER_ENTRY - 1) // SLOTS_PER_ENTRY
    # The header stays byte for byte what the rig wrote when it lived in card/rig.py: a
    # rig (this one or an older checkout on the same machine) that finds different text
    # rewrites the file and restarts pcscd under every other client.
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


# --- writing the configuration -----------------------------------------------------


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install_drivers(entries: int) -> Path:
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


def neutralise_debian_vpcd() -> bool:
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
    write_atomic(
        path,
        "# Disabled by the sscard reader rig, which configures vpcd readers in "
        f"{CONF_DIR / CONF_NAME}.\n# The original is saved as {saved}.\n",
    )
    return True


def configured_count() -> int:
    """Readers in the current rig configuration (0 when the rig was never set up)."""
    conf = CONF_DIR / CONF_NAME
    return conf_reader_count(conf.read_text()) if conf.exists() else 0


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
