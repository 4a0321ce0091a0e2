"""Load ``libsscardreader.so`` through ctypes, as any non-cffi caller would (the CLI, tests).

:func:`library_path`: ``$SSCARD_READERLIB`` if set, else ``<sys.prefix>/lib/libsscardreader.so``
(where scripts/setup.sh builds it). :class:`LoadedLibrary` declares each function's
argument and return types from :mod:`terminal.readerlib.abi` and allocates the
documented buffer sizes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from terminal.readerlib.abi import BUFFER_SIZES, FUNCTIONS, LIBRARY_NAME


class LoadError(Exception):
    """The shared object is missing or cannot be loaded; the message says how to build it."""


def library_path() -> Path:
    override = os.environ.get("SSCARD_READERLIB")
    return Path(override) if override else Path(sys.prefix) / "lib" / LIBRARY_NAME


class LoadedLibrary:
    """The library's functions with ctypes signatures; each call returns (code, texts...)."""

    def __init__(self, path: Path | None = None, encoding: str = "gbk") -> None:
        self.path = path or library_path()
        if not self.path.exists():
            raise LoadError(
                f"no reader library at {self.path}: build it with scripts/setup.sh or "
                "`python -m terminal.readerlib.build` (or set SSCARD_READERLIB)"
            )
        try:
            self.dll = ctypes.CDLL(str(self.path))
        except OSError as exc:
            raise LoadError(f"cannot load {self.path}: {exc}") from exc
        self.encoding = encoding
        for name, declaration in FUNCTIONS:
            function = getattr(self.dll, name)
            function.restype = ctypes.c_long
            takes_int = "(int " in declaration
            pointers = declaration.count("char*")
            function.argtypes = ([ctypes.c_int] if takes_int else []) + [ctypes.c_char_p] * pointers

    def _text(self, buffer) -> str:
        return buffer.value.decode(self.encoding, errors="replace")

    @staticmethod
    def buffer(name: str, size: int | None = None):
        return ctypes.create_string_buffer(size or BUFFER_SIZES[name])

    def init(self, init_json: str) -> tuple[int, str]:
        err = self.buffer("pErrMsg")
        code = self.dll.Init(init_json.encode("utf-8"), err)
        return code, self._text(err)

    def read_card_bas(self) -> tuple[int, str, str]:
        info, busi = self.buffer("pCardInfo"), self.buffer("pBusiCardInfo")
        code = self.dll.ReadCardBas(info, busi)
        return code, self._text(info), self._text(busi)

    def verify_pin(self) -> tuple[int, str]:
        out = self.buffer("pOutBuff")
        return self.dll.VerifyPIN(out), self._text(out)

    def change_pin(self) -> tuple[int, str]:
        out = self.buffer("pOutBuff")
        return self.dll.ChangePIN(out), self._text(out)
