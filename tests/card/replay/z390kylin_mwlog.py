"""leithergit/Z390Kylin: the Minhua (mw) reader library's wire log of a real social security card.

``mw_kylin_ARM64(X3)1.6.0/demo/log/mwcard2021-10-12-13-00.txt`` logs both the
reader frames and the APDUs of one card read (lines 55-95, repeated at
152-192). Line numbers below count LF-terminated lines of that file.

What it shows about a real T=0 card and a real reader library:

* ATR ``3B6D0000`` + 13 historical bytes (line 56).
* SELECT SSSE by AID without Le → the card answers ``6118`` (line 59) and the
  library itself sends ``00C0000018`` (line 60) and gets the 24-byte FCI
  ``6F16 840F <AID> A503 88010B`` + ``9000`` (line 62). This card's FCI has no
  algorithm indicator (an older card: spec version ``1.00``, line 71).
* READ RECORD by record identifier in an SFI-qualified form, ``P2 = SFI << 3``
  (``00B2012812``: tag 01 of EF05, line 64; ``00B2083014``: tag 08 of EF06,
  line 84), with Le = value length + 2.
* SELECT EF by FID with ``P1 00`` answers a bare ``9000`` (lines 75, 83).
* ``00B207280E`` (Le 14 for the 11-byte card-number record) was answered by
  this card with the 11 bytes and ``9000`` (line 79). card.md §Commands has a
  READ RECORD whose Le differs from the record's length answer ``6Cxx`` (the
  ISO/IEC 7816-3 T=0 rule), so our card answers ``6C0B`` and the library
  repeats the command with Le ``0B``; the log never shows what this library
  does on ``6Cxx`` — the Le correction of ``get_response_on_61`` is the
  standard T=0 behaviour, assumed here. The reader ends up with the same
  11 bytes either way.
"""

from __future__ import annotations

from tests.card.replay.model import Source, Step, get_response_on_61, hex_upper, tlv_value

REPO = "leithergit/Z390Kylin"
COMMIT = "1eb63522b750e3856568745e197ac3af2ad1adf1"
PATH = "mw_kylin_ARM64(X3)1.6.0/demo/log/mwcard2021-10-12-13-00.txt"

#: The real card's ATR (line 56) and its select answers on the wire (lines 59, 62).
REAL_ATR = bytes.fromhex("3B6D00000081008843866533010114F199")
REAL_SELECT_FIRST = "6118"
REAL_FCI = bytes.fromhex("6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388010B")


def _text(data: bytes) -> str:
    return tlv_value(data).split(b"\x00", 1)[0].decode("gbk").rstrip(" ")


def _read(name: str, apdu: str, line: int, parse, fact: str, record: int) -> Step:
    le = int(apdu[-2:], 16)
    return Step(
        name,
        apdu,
        f"{PATH}:{line}",
        length=record,
        parse=parse,
        fact=fact,
        raw_first="9000" if le == record else f"6C{record:02X}",
    )


SOURCE = Source(
    name="z390kylin_mwlog",
    repo=REPO,
    commit=COMMIT,
    path=PATH,
    follow_up=get_response_on_61,
    note="reader library wire log of a real card: 61xx fetched by the library",
    steps=(
        Step(
            "SELECT SSSE",
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
            f"{PATH}:57-63",
            raw_first="61xx",
        ),
        _read(
            "card identification code",
            "00B2012812",
            64,
            lambda d: hex_upper(tlv_value(d)),
            "identification_code",
            18,
        ),
        _read("spec version", "00B2032806", 68, _text, "version", 6),
        Step("SELECT EF05", "00A4000002EF05", f"{PATH}:72-75", length=0, raw_first="9000"),
        _read("card number", "00B207280E", 76, _text, "card_number", 11),
        Step("SELECT EF06", "00A4000002EF06", f"{PATH}:80-83", length=0, raw_first="9000"),
        _read("social security number", "00B2083014", 84, _text, "ssn", 20),
        _read("name", "00B2093020", 88, _text, "name", 32),
        _read("sex", "00B20A3003", 92, _text, "sex", 3),
    ),
)
