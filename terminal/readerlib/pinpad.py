"""The virtual PIN pad of the reader library: ``VerifyPIN``/``ChangePIN`` take no PIN.

The HIS never sees the PIN (reader-library.md §1.14): the library asks the pad.
Two pads:

* :class:`ScriptedPad` (default): a unix socket per reader,
  ``$SSCARD_HOME/pinpad/reader-<N>.sock`` (mode 0600 in a 0700 folder), opened by
  ``Init``. A harness types with ``python -m terminal pinpad --reader N PIN…``
  (:func:`type_pins`), before or while an HIS process waits in ``VerifyPIN``; each
  entry is one PIN as the holder would key it, used once, forgotten after
  :data:`ENTRY_TTL_S` seconds if nobody asks for it.
* :class:`TtyPad`: prompts on the controlling terminal (``/dev/tty``) without echo.

A PIN is never logged, never written to a file, never put in an exception message.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import socket
import threading
import time
from collections import deque
from pathlib import Path

#: A typed entry nobody asked for within this many seconds is dropped.
ENTRY_TTL_S = 120.0
#: What one connection may send: a few PIN entries separated by spaces or newlines.
MAX_MESSAGE = 256
PIN_PATTERN = re.compile(r"\d{4,12}")
#: sun_path holds 108 bytes with the NUL.
MAX_SOCKET_PATH = 107


class PinPadError(Exception):
    """The pad cannot be used (socket in use, no terminal) or got no PIN in time."""


def pad_dir() -> Path:
    """``$SSCARD_HOME/pinpad`` (``~/.sscard/pinpad`` by default)."""
    home = os.environ.get("SSCARD_HOME") or str(Path.home() / ".sscard")
    return Path(home) / "pinpad"


def socket_path(reader_key: str | int) -> Path:
    """The socket of reader ``reader_key`` (its index in pcscd's list, or its name: spaces
    and other characters become ``_``, a name over 40 characters its SHA-1's first 16 hex)."""
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(reader_key))
    if len(key) > 40:
        key = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = pad_dir() / f"reader-{key}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise PinPadError(
            f"密码键盘路径太长（unix套接字最多{MAX_SOCKET_PATH}字节）：{path}；请缩短SSCARD_HOME"
        )
    return path


class ScriptedPad:
    """Listens on the reader's socket; :meth:`get` hands out the typed entries in order."""

    def __init__(self, reader_key: str | int) -> None:
        self.path = socket_path(reader_key)
        self._entries: deque[tuple[float, str]] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._server = self._listen()
        self._thread = threading.Thread(target=self._serve, name="sscard-pinpad", daemon=True)
        self._thread.start()

    def _listen(self) -> socket.socket:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink(missing_ok=True)  # left behind by a process that died
            else:
                probe.close()
                raise PinPadError(f"密码键盘{self.path}正被另一个进程使用（同一读卡器只能有一个）")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old_umask)
        server.listen(4)
        server.settimeout(0.5)
        return server

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                self._receive(conn)

    def _receive(self, conn: socket.socket) -> None:
        data = b""
        with contextlib.suppress(OSError):
            while len(data) <= MAX_MESSAGE and not data.endswith(b"\n"):
                chunk = conn.recv(MAX_MESSAGE + 1)
                if not chunk:
                    break
                data += chunk
        entries = data.decode("ascii", errors="replace").split()
        if len(data) > MAX_MESSAGE or not entries or not all(map(PIN_PATTERN.fullmatch, entries)):
            with contextlib.suppress(OSError):
                conn.sendall(b"refused: type 4 to 12 digits per PIN\n")
            return
        now = time.monotonic()
        with self._ready:
            self._entries.extend((now, entry) for entry in entries)
            self._ready.notify_all()
        with contextlib.suppress(OSError):
            conn.sendall(f"ok {len(entries)}\n".encode())

    def get(self, timeout: float, prompt: str = "") -> str:
        """The next typed PIN (waiting up to ``timeout`` seconds); :class:`PinPadError` if none."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                now = time.monotonic()
                while self._entries and now - self._entries[0][0] > ENTRY_TTL_S:
                    self._entries.popleft()
                if self._entries:
                    return self._entries.popleft()[1]
                if now >= deadline or self._closed:
                    raise PinPadError(
                        f"{timeout:g}秒内未在密码键盘输入密码"
                        f"（测试时用 python -m terminal pinpad 输入，键盘：{self.path}）"
                    )
                self._ready.wait(deadline - now)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        with self._ready:
            self._ready.notify_all()
        self.path.unlink(missing_ok=True)


class TtyPad:
    """Prompts on ``/dev/tty`` with echo off (the holder keys the PIN; the HIS sees nothing)."""

    def get(self, timeout: float, prompt: str = "请输入密码：") -> str:
        try:
            with open("/dev/tty", "r+", encoding="utf-8") as tty:
                pin = getpass.getpass(prompt, stream=tty)
        except OSError:
            raise PinPadError("没有可用的终端（/dev/tty）作为密码键盘") from None
        if not PIN_PATTERN.fullmatch(pin.strip()):
            raise PinPadError("密码应为4到12位数字")
        return pin.strip()

    def close(self) -> None:
        return None


def type_pins(reader_key: str | int, pins: list[str], timeout: float = 10.0) -> int:
    """Type ``pins`` on reader ``reader_key``'s scripted pad (waiting up to ``timeout`` s for
    the library to open it); how many entries the pad took. :class:`PinPadError` otherwise."""
    for pin in pins:
        if not PIN_PATTERN.fullmatch(pin):
            raise PinPadError("a PIN is 4 to 12 digits")
    path = socket_path(reader_key)
    deadline = time.monotonic() + timeout
    while True:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(max(1.0, timeout))
        try:
            client.connect(str(path))
            client.sendall((" ".join(pins) + "\n").encode("ascii"))
            answer = client.recv(128).decode("ascii", errors="replace").strip()
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() >= deadline:
                raise PinPadError(
                    f"no PIN pad at {path}: is an HIS process using reader {reader_key} "
                    "(the library opens the pad in Init)?"
                ) from None
            time.sleep(0.05)
        finally:
            client.close()
    if not answer.startswith("ok "):
        raise PinPadError(f"the PIN pad refused: {answer or 'no answer'}")
    return int(answer.split()[1])
