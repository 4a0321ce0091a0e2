"""An HIS stand-in in Python through ctypes: the same line protocol as driver.c.

``python driver_ctypes.py LIBRARY`` (tests/readerlib/conftest.py)."""

from __future__ import annotations

import ctypes
import sys


def _hex(raw: bytes) -> str:
    return raw.hex().upper() or "-"


def main() -> int:
    lib = ctypes.CDLL(sys.argv[1])
    for name in ("Init", "ReadCardBas", "VerifyPIN", "ChangePIN", "iReadCardBas", "iVerifyPIN"):
        getattr(lib, name).restype = ctypes.c_long
    lib.iReadCardBas.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.iVerifyPIN.argtypes = [ctypes.c_int, ctypes.c_char_p]
    for line in sys.stdin:
        command = line.rstrip("\n")
        err, info = ctypes.create_string_buffer(1024), ctypes.create_string_buffer(2048)
        busi, out = ctypes.create_string_buffer(8192), ctypes.create_string_buffer(1024)
        if command.startswith("init "):
            answer = f"{lib.Init(command[5:].encode(), err)} {_hex(err.value)}"
        elif command == "read":
            rc = lib.ReadCardBas(info, busi)
            answer = f"{rc} {_hex(info.value)} {_hex(busi.value)}"
        elif command.startswith("read_small "):
            size = int(command[11:])
            small = ctypes.create_string_buffer(b"\xaa" * (size + 16), size + 16)
            rc = lib.ReadCardBas(small, busi)
            raw = small.raw
            intact = raw[size:] == b"\xaa" * 16
            head = _hex(raw[: raw.index(0)]) if 0 in raw[:size] else "UNTERMINATED"
            state = "canary-intact" if intact else "canary-overwritten"
            answer = f"{rc} {head} {_hex(busi.value)} {state}"
        elif command == "verify":
            answer = f"{lib.VerifyPIN(out)} {_hex(out.value)}"
        elif command == "change":
            answer = f"{lib.ChangePIN(out)} {_hex(out.value)}"
        elif command.startswith("iread "):
            answer = f"{lib.iReadCardBas(int(command[6:]), info)} {_hex(info.value)}"
        elif command.startswith("iverify "):
            answer = f"{lib.iVerifyPIN(int(command[8:]), out)} {_hex(out.value)}"
        elif command == "quit":
            break
        else:
            answer = "unknown-command"
        print(answer, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
