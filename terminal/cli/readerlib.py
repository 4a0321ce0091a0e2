"""``python -m terminal readcardbas`` and ``python -m terminal pinpad`` (harness.md §Reading a
card as an HIS does; docs/reader-library.md).

``readcardbas`` loads the reader library through its C interface (ctypes), as an
HIS does: ``Init(JSON)``, ``ReadCardBas``, and with ``--pin`` it types the PIN on
the virtual PIN pad and calls ``VerifyPIN``. It prints ``pCardInfo`` on the first
line and ``pBusiCardInfo`` on the second. Exit codes follow harness.md: 0 done,
2 bad usage or input (an ``--init`` that is not JSON, a bad ``Init`` setting),
1 the library refused (its message on stderr).

``pinpad`` types PINs on reader N's scripted pad while an HIS process waits in
``VerifyPIN``/``ChangePIN`` (or before it calls them).
"""

from __future__ import annotations

import argparse
import json
import sys

from terminal.readerlib.abi import Code
from terminal.readerlib.loader import LoadedLibrary, LoadError
from terminal.readerlib.pinpad import PIN_PATTERN, PinPadError, type_pins

EXIT_DONE, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _reader(value: str) -> str | int:
    return int(value) if value.isdigit() else value


def _init_settings(raw: str, reader: str | int | None, scripted: bool) -> dict:
    """The ``--init`` JSON with ``EXT.reader`` set to ``--reader`` when given (else the JSON's,
    else reader 0) and, with ``--pin``, the scripted pad."""
    init = json.loads(raw)
    if not isinstance(init, dict):
        raise TypeError("--init must be a JSON object")
    ext = init.get("EXT") or {}
    if isinstance(ext, str):
        ext = json.loads(ext)
    if not isinstance(ext, dict):
        raise TypeError("EXT must be a JSON object")
    if reader is not None:
        ext["reader"] = reader
    ext.setdefault("reader", 0)
    if scripted:
        ext["pinpad"] = "socket"
    init["EXT"] = ext
    return init


def cmd_readcardbas(args: argparse.Namespace) -> int:
    if args.pin is not None and not PIN_PATTERN.fullmatch(args.pin):
        return _fail("--pin: a PIN is 4 to 12 digits", EXIT_BAD_INPUT)
    reader = None if args.lib_reader is None else _reader(args.lib_reader)
    try:
        init = _init_settings(args.init, reader, args.pin is not None)
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        return _fail(f"--init is not a usable JSON object: {exc}", EXIT_BAD_INPUT)
    ext = init["EXT"]
    encoding = "utf-8" if str(ext.get("charset", "gbk")).lower() in ("utf-8", "utf8") else "gbk"
    try:
        library = LoadedLibrary(encoding=encoding)
    except LoadError as exc:
        return _fail(str(exc), EXIT_REFUSED)
    code, message = library.init(json.dumps(init, ensure_ascii=False))
    if code != Code.OK:
        return _fail(message, EXIT_BAD_INPUT if code == Code.BAD_ARGUMENT else EXIT_REFUSED)
    code, card_info, busi = library.read_card_bas()
    if code != Code.OK:
        return _fail(card_info, EXIT_REFUSED)
    if args.pin is not None:
        try:
            type_pins(ext["reader"], [args.pin], timeout=5.0)
        except PinPadError as exc:
            return _fail(f"PIN pad: {exc}", EXIT_REFUSED)
        code, message = library.verify_pin()
        if code != Code.OK:
            return _fail(message, EXIT_REFUSED)
    print(card_info)
    print(busi)
    return EXIT_DONE


def cmd_pinpad(args: argparse.Namespace) -> int:
    if not all(PIN_PATTERN.fullmatch(pin) for pin in args.pins):
        return _fail("a PIN is 4 to 12 digits", EXIT_BAD_INPUT)
    try:
        taken = type_pins(_reader(args.lib_reader), args.pins, timeout=args.wait_pad)
    except PinPadError as exc:
        return _fail(str(exc), EXIT_REFUSED)
    print(f"typed {taken} PIN entr{'y' if taken == 1 else 'ies'} on reader {args.lib_reader}")
    return EXIT_DONE


def register(sub) -> None:
    read = sub.add_parser(
        "readcardbas",
        help="read a card through the reader library, as an HIS does (harness.md)",
        description="Load libsscardreader.so, call Init(JSON) and ReadCardBas and, with --pin, "
        "type the PIN on the virtual PIN pad and call VerifyPIN. Prints pCardInfo, then "
        "pBusiCardInfo. Exit 0 done, 2 bad input, 1 refused (the library's message on stderr).",
    )
    read.add_argument(
        "--reader",
        dest="lib_reader",
        default=None,
        help="reader: index in pcscd's list or name (default: EXT.reader, else 0)",
    )
    read.add_argument("--pin", default=None, help="type this PIN on the pad, then VerifyPIN")
    read.add_argument("--init", required=True, help="Init's JSON (IP, PORT, ACCESS_KEY, EXT...)")
    read.set_defaults(func=cmd_readcardbas)
    pad = sub.add_parser(
        "pinpad",
        help="type PINs on a reader's virtual PIN pad (for an HIS waiting in VerifyPIN)",
        description="Send PIN entries to the scripted PIN pad the reader library opened for "
        "reader N ($SSCARD_HOME/pinpad/reader-N.sock). ChangePIN takes three: old, new, new.",
    )
    pad.add_argument("--reader", dest="lib_reader", default="0", help="reader index or name")
    pad.add_argument(
        "--wait", dest="wait_pad", type=float, default=10.0, help="seconds to wait for the pad"
    )
    pad.add_argument("pins", nargs="+", metavar="PIN")
    pad.set_defaults(func=cmd_pinpad)
