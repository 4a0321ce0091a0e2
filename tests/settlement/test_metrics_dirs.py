"""Metrics folders left by ``serve`` runs killed with SIGKILL are removed at the next start
(settlement.metrics_dirs, docs/operations.md §Metrics): only this user's, only those whose
``serve`` is gone and that no worker still writes to; never a live server's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from settlement.metrics_dirs import PREFIX, UNNAMED_GRACE_S, remove_stale
from tests.fixtures.service import start_service


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc/*/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def _gone(pid: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_only_folders_of_gone_runs_that_no_process_uses_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f"{PREFIX}{dead}-abc123"
    live = tmp_path / f"{PREFIX}{alive}-def456"
    worked_in = tmp_path / f"{PREFIX}{dead}-ghi789"  # its serve is gone, a worker is not
    old_unnamed = tmp_path / f"{PREFIX}oldrun1"
    new_unnamed = tmp_path / f"{PREFIX}newrun2"
    other = tmp_path / "not-metrics"
    for folder in (stale, live, worked_in, old_unnamed, new_unnamed, other):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    a_file = tmp_path / f"{PREFIX}{dead}-file00"
    a_file.write_text("not a folder")
    link = tmp_path / f"{PREFIX}{dead}-link00"
    link.symlink_to(stale)
    now = time.time()
    os.utime(old_unnamed, (now - UNNAMED_GRACE_S - 60, now - UNNAMED_GRACE_S - 60))
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(worked_in))
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        removed = remove_stale(tmp_path, now=now)
    finally:
        worker.kill()
        worker.wait()
    assert sorted(removed) == sorted([stale, old_unnamed])
    assert not stale.exists() and not old_unnamed.exists()
    for kept in (live, worked_in, new_unnamed, other, a_file, link):
        assert kept.is_symlink() or kept.exists(), kept
    # Once the worker is gone too, its folder goes.
    assert remove_stale(tmp_path, now=now) == [worked_in]


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's folder needs root")
def test_another_users_folder_is_left_alone(tmp_path):
    theirs = tmp_path / f"{PREFIX}{_dead_pid()}-theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    assert remove_stale(tmp_path) == []
    assert theirs.exists()


def test_a_sigkilled_serve_leaves_its_folder_and_the_next_serve_removes_it(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    killed = start_service(tmp_path / "killed", workers=2, extra_env=env)
    try:
        (folder,) = temp.iterdir()
        assert folder.name.startswith(f"{PREFIX}{killed.process.pid}-")
        workers = _children(killed.process.pid)
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        # Its serve is gone but its workers still write there: not removed.
        assert remove_stale(temp) == []
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert all(_gone(pid) for pid in workers)
        assert folder.exists()
    finally:
        killed.stop()
    live_other = temp / f"{PREFIX}{os.getpid()}-alive1"
    live_other.mkdir()
    second = start_service(tmp_path / "second", workers=2, extra_env=env)
    try:
        assert not folder.exists()
        assert live_other.exists()
        (own,) = (f for f in temp.iterdir() if f.name.startswith(f"{PREFIX}{second.process.pid}-"))
        assert "removed 1 metrics folder(s) of stopped services" in second.log_tail(20000)
    finally:
        second.stop()
    assert not own.exists()
    assert sorted(temp.iterdir()) == [live_other]
