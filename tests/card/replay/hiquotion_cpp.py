"""yxsylyh/hiquotion_cpp: a DeCard (dcic32) social security card reader class.

``Hardware/card/SIDCard/DeCard/SIDCardOperation.cpp``, ``CSIDCardOperation::read``
(lines 76-153): SELECT SSSE by AID without Le, SELECT EF05 and EF06 by FID
under the current DF, and READ RECORD by record identifier (``00 B2 tag 00
Le``, SFI 0 = current EF) with Le = value length + 2. Two helpers:

* ``doGetRecordCmd_Hex`` (lines 195-226) builds ``"00B2"+flag+"00"+len``, strips
  the tag and length (``Right(len-4)``, line 216) and the status word
  (``getResult``, lines 248-261); an answer that is only a status word must be
  ``9000`` or ``61xx`` (lines 220, 254).
* ``doGetRecordCmd`` (lines 228-245) sends ``{0, 0xB2, flag, 0, len}`` and keeps
  ``redata[2 : len]`` as a C string (lines 239-242); it checks no status word.

The library call returns the card's answer as it is (the code itself accepts
``61xx``), so the reader does no GET RESPONSE of its own: ``no_follow_up``.
"""

from __future__ import annotations

from tests.card.replay.model import Source, Step, gbk_c_string, hex_upper, no_follow_up

REPO = "yxsylyh/hiquotion_cpp"
COMMIT = "39e35053f979f7b613075c6a582fe58333c95dff"
PATH = "Hardware/card/SIDCard/DeCard/SIDCardOperation.cpp"

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"


def _hex_record(data: bytes) -> str:
    """``doGetRecordCmd_Hex``: drop tag and length, keep the value as hex."""
    return hex_upper(data[2:])


def _birthplace(data: bytes) -> str:
    """Line 145-146: trailing ``FF`` pairs removed from the hex birthplace."""
    text = _hex_record(data)
    while text.endswith("FF"):
        text = text[:-2]
    return text


def _binary_record(le: int):
    """``doGetRecordCmd(flag, len)``: ``memcpy(redata, redata+2, len); redata[len-2] = 0``."""

    def parse(data: bytes) -> str:
        return gbk_c_string(data[2:le])

    return parse


def _read(name: str, tag: int, le: int, line: int, parse, fact: str) -> Step:
    return Step(
        name=name,
        apdu=f"00B2{tag:02X}00{le:02X}",
        cite=f"{PATH}:{line}",
        # The hex helper accepts 9000 (and 61xx when no data came); the binary one checks
        # nothing but needs the record's data to read a value.
        accept=("9000",),
        length=le,
        parse=parse,
        fact=fact,
        raw_first="9000",
    )


SOURCE = Source(
    name="hiquotion_cpp",
    repo=REPO,
    commit=COMMIT,
    path=PATH,
    follow_up=no_follow_up,
    note="DeCard reader class; reads EF05/EF06 by record identifier",
    steps=(
        Step(
            "SELECT SSSE",
            SELECT_SSSE,
            f"{PATH}:157,161",
            accept=("9000", "61xx"),
            raw_first="61xx",
        ),
        Step("SELECT EF05", "00A4020002EF05", f"{PATH}:177,181", length=0, raw_first="9000"),
        _read("card identification code", 0x01, 0x12, 96, _hex_record, "identification_code"),
        _read("issue date", 0x05, 0x06, 100, _hex_record, "issue_date"),
        _read("expiry date", 0x06, 0x06, 104, _hex_record, "expiry_date"),
        _read("card number", 0x07, 0x0B, 108, _binary_record(0x0B), "card_number"),
        Step("SELECT EF06", "00A4020002EF06", f"{PATH}:187,191", length=0, raw_first="9000"),
        _read("social security number", 0x08, 0x14, 125, _binary_record(0x14), "ssn"),
        _read("name", 0x09, 0x20, 129, _binary_record(0x20), "name"),
        _read("sex", 0x0A, 0x03, 133, _binary_record(0x03), "sex"),
        _read("nation", 0x0B, 0x03, 137, _hex_record, "nation"),
        _read("birthplace", 0x0C, 0x05, 141, _birthplace, "birthplace"),
        _read("birth date", 0x0D, 0x06, 148, _hex_record, "birth_date"),
    ),
)
