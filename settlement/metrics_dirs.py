"""The workers' metrics folders of ``serve --workers N`` runs, and those killed runs left behind
(docs/operations.md §Metrics, "Several workers").

Each run's folder is ``sscard-metrics-<pid>-<random>`` in the temporary directory, ``<pid>``
the ``serve`` process that made it; it removes the folder when it stops. A ``serve`` killed
with SIGKILL cannot, so every ``serve`` first removes the folders left that way: a folder of
this user whose owning process is gone and that no live process of this user works in (no
worker still has it as its ``PROMETHEUS_MULTIPROC_DIR``). A folder of an earlier version's
name (``sscard-metrics-<random>``, no pid) counts as left behind once no process works in it
and it has not changed for :data:`UNNAMED_GRACE_S` (its server may be starting). Another
user's folder, a link, or anything else by that prefix is left alone.

This module imports nothing of prometheus_client: the main ``serve`` process must not load it
before it sets ``PROMETHEUS_MULTIPROC_DIR`` for its workers.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from settlement.config import Settings, publish_setting

PREFIX = "sscard-metrics-"
#: The name of a run's folder: the owning ``serve`` process's pid, then mkdtemp's random part.
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-[A-Za-z0-9_]+")
#: Seconds an unnamed (pre-pid) folder must be unchanged before it counts as left behind.
UNNAMED_GRACE_S = 300.0
#: Where processes' environments are read (Linux); absent elsewhere: only the pid is checked.
PROC = Path("/proc")


def prepare(settings: Settings, workers: int) -> Path | None:
    """At ``serve``'s start: remove the folders killed runs left (one log line names them);
    then, with several workers, a fresh private folder (0700) for them, named after this
    process and published as ``PROMETHEUS_MULTIPROC_DIR`` (the caller removes it when the
    service stops), unless PROMETHEUS_MULTIPROC_DIR already names one."""
    removed = remove_stale()
    if removed:
        logging.getLogger("settlement").info(
            "removed %d metrics folder(s) of stopped services: %s",
            len(removed),
            ", ".join(str(folder) for folder in removed),
        )
    if workers < 2 or settings.metrics_dir is not None:
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    publish_setting("PROMETHEUS_MULTIPROC_DIR", str(folder))
    return folder


def remove_stale(temp_dir: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the metrics folders killed runs left in ``temp_dir`` (default: the temporary
    directory) as the module docstring says; the folders removed."""
    temp_dir = Path(temp_dir or tempfile.gettempdir())
    now = time.time() if now is None else now
    try:
        candidates = [entry for entry in temp_dir.iterdir() if entry.name.startswith(PREFIX)]
    except OSError:
        return []
    candidates = [entry for entry in candidates if _own_folder(entry)]
    if not candidates:
        return []
    in_use = _folders_in_use()
    removed = []
    for folder in candidates:
        if _left_behind(folder, in_use, now):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


def _own_folder(entry: Path) -> bool:
    """A real folder (not a link) owned by this user."""
    try:
        info = entry.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def _left_behind(folder: Path, in_use: set[str], now: float) -> bool:
    if str(folder) in in_use or str(folder.resolve()) in in_use:
        return False
    owned = _OWNED.fullmatch(folder.name)
    if owned is not None:
        return not _alive(int(owned.group(1)))
    try:
        return now - folder.stat().st_mtime > UNNAMED_GRACE_S
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a process of another user counts as alive)."""
    if pid <= 0:
        return True  # not a pid a run records: never treat as gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _folders_in_use() -> set[str]:
    """The ``PROMETHEUS_MULTIPROC_DIR`` of every live process of this user whose environment
    can be read (a worker of a run whose ``serve`` is gone still writes to its folder)."""
    folders: set[str] = set()
    try:
        entries = list(PROC.iterdir())
    except OSError:
        return folders
    marker = b"PROMETHEUS_MULTIPROC_DIR="
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(marker):
                folders.add(os.fsdecode(variable[len(marker) :]).rstrip("/"))
    return folders
