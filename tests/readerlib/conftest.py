"""The reader library under test: built once per session, driven by an HIS stand-in in C, Java
(JNA) or Python (ctypes) through real pcscd + vpcd readers and a real settlement service.

``readerlib_build`` compiles ``libsscardreader.so`` from this checkout into a temporary
folder; ``his(kind, env)`` starts a driver process (``driver.c``, ``Driver.java``,
``driver_ctypes.py``) speaking a line protocol: one command per line (``init JSON``,
``read``, ``read_small N``, ``verify``, ``change``, ``iread T``, ``iverify T``), one
answer per line: the return code and each output buffer in hex (GBK bytes by default).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from terminal.readerlib.build import build
from tests.terminal.conftest import World

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JNA_JAR = Path("/usr/share/java/jna.jar")
KINDS = ("c", "java", "ctypes")
ANSWER_TIMEOUT = 120.0


@dataclass(frozen=True)
class Build:
    folder: Path
    library: Path
    c_driver: Path
    java_classes: Path | None


@pytest.fixture(scope="session")
def readerlib_build(tmp_path_factory) -> Build:
    """The library, its header, and the C and Java drivers compiled against it."""
    folder = tmp_path_factory.mktemp("readerlib")
    library = build(folder)
    c_driver = folder / "driver"
    subprocess.run(
        [
            "gcc",
            "-Wall",
            "-Werror",
            "-I",
            str(folder),
            str(HERE / "driver.c"),
            "-o",
            str(c_driver),
            "-L",
            str(folder),
            "-lsscardreader",
            f"-Wl,-rpath,{folder}",
        ],
        check=True,
        capture_output=True,
    )
    java_classes = None
    if shutil.which("javac") and JNA_JAR.exists():
        java_classes = folder / "java"
        java_classes.mkdir()
        subprocess.run(
            ["javac", "-cp", str(JNA_JAR), "-d", str(java_classes), str(HERE / "Driver.java")],
            check=True,
            capture_output=True,
        )
    return Build(folder, library, c_driver, java_classes)


class His:
    """One HIS stand-in process; :meth:`call` sends a command and returns the answer's parts."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )

    def call(self, line: str, timeout: float = ANSWER_TIMEOUT) -> list[str]:
        assert self.process.poll() is None, self.stderr()
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()
        # poll, not select: in a long test run the descriptor may be past select's limit of 1024
        poller = select.poll()
        poller.register(self.process.stdout, select.POLLIN)
        ready = poller.poll(timeout * 1000)
        assert ready, f"no answer to {line.split()[0]} in {timeout} s; stderr: {self.stderr()}"
        answer = self.process.stdout.readline().decode("ascii").split()
        assert answer, f"the process ended: {self.stderr()}"
        return answer

    def text(self, hex_text: str, encoding: str = "gbk") -> str:
        return "" if hex_text == "-" else bytes.fromhex(hex_text).decode(encoding)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.flush()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@pytest.fixture
def his(readerlib_build, tmp_path, monkeypatch) -> Iterator:
    """``his(kind, env=None)`` → a running :class:`His` of ``kind`` (c, java, ctypes).

    ``SSCARD_HOME`` (where the PIN pads' sockets are) is the test's own folder, in the
    test process too (``type_pins`` finds the pad there)."""
    home = tempfile.mkdtemp(prefix="sscard-home-")  # short: a unix socket path has 107 bytes
    monkeypatch.setenv("SSCARD_HOME", home)
    started: list[His] = []

    def start(kind: str, env: dict[str, str] | None = None) -> His:
        env = {**(env or os.environ), "SSCARD_HOME": os.environ["SSCARD_HOME"]}
        env["PYTHONPATH"] = str(REPO)
        if kind == "c":
            command = [str(readerlib_build.c_driver)]
        elif kind == "java":
            if readerlib_build.java_classes is None:
                pytest.skip("javac or libjna-java is not installed")
            classpath = f"{JNA_JAR}:{readerlib_build.java_classes}"
            command = ["java", "-cp", classpath, "Driver", str(readerlib_build.library)]
        else:
            command = [sys.executable, str(HERE / "driver_ctypes.py"), str(readerlib_build.library)]
        process = His(command, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def world(settlement_service, tmp_path_factory) -> World:
    return World(settlement_service, tmp_path_factory.mktemp("readerlib-world"))
