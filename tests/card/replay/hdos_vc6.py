"""a7082633/HDOS_VC6: HD_XJDLL, a Huada reader DLL reading the Xinjiang social security card.

``新疆焦阳/HD_XJDLL/HD_XJDLL.cpp`` (lines 40-181): SELECT SSSE by AID without
Le (success when SW1 is ``61`` or ``90``, line 56), the card number by SFI and
record number ``00 B2 07 2C 0B`` (record 7 of SFI 5, SW1 ``90`` required, line
69; ``UserNo = ResponseAPDU + 2``, 9 bytes, line 77), SELECT EF06 by FID under
the current DF (SW1 ``90``, line 83), then EF06 by record identifier with Le =
value length + 2, copying ``ResponseAPDU + 2`` for ``rt - 4`` bytes (the value;
``rt`` counts the status word) or hex-encoding BCD values (lines 146, 161, 176).
Its output is ``UserNo|SHBZHM|XM|XB|MZ|CSD|CSRQ`` (line 178).

The EF06 reads test the SW of the wrong buffer (``Response`` instead of
``ResponseAPDU``, lines 96-168) so in effect accept anything; they still need
``9000`` and the record's data to read the values, which is what is checked.
The DLL's ``ICC_Reader_Application`` returns the card's answer as it is (the
code tests SW1 ``61`` itself): ``no_follow_up``.
"""

from __future__ import annotations

from tests.card.replay.model import Source, Step, gbk_c_string, hex_upper, no_follow_up

REPO = "a7082633/HDOS_VC6"
COMMIT = "6a85b047517b7c76e388c322cfa3ceaccbdb3156"
PATH = "新疆焦阳/HD_XJDLL/HD_XJDLL.cpp"


def _value(data: bytes) -> bytes:
    """``memcpy(X, ResponseAPDU + 2, rt - 4)``: the record without tag and length."""
    return data[2:]


def _text(data: bytes) -> str:
    return gbk_c_string(_value(data))


def _bcd(size: int):
    """``HexToStr(ResponseAPDU + 2, size, ...)``."""

    def parse(data: bytes) -> str:
        return hex_upper(data[2 : 2 + size])

    return parse


def _read(name: str, apdu: str, line: int, parse, fact: str) -> Step:
    return Step(
        name,
        apdu,
        f"{PATH}:{line}",
        length=int(apdu[-2:], 16),
        parse=parse,
        fact=fact,
        raw_first="9000",
    )


SOURCE = Source(
    name="hdos_vc6",
    repo=REPO,
    commit=COMMIT,
    path=PATH,
    follow_up=no_follow_up,
    note="Huada reader DLL (Xinjiang): SFI + record number, then record identifiers",
    steps=(
        Step(
            "SELECT SSSE",
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
            f"{PATH}:41-47,56",
            accept=("61xx", "90xx"),
            raw_first="61xx",
        ),
        Step(
            "card number (EF05 record 7 by SFI)",
            "00B2072C0B",
            f"{PATH}:67-77",
            accept=("90xx",),
            length=0x0B,
            parse=lambda data: data[2:11].decode("ascii"),
            fact="card_number",
            raw_first="9000",
        ),
        Step(
            "SELECT EF06",
            "00A4020002EF06",
            f"{PATH}:81-83",
            accept=("90xx",),
            length=0,
            raw_first="9000",
        ),
        _read("social security number", "00B2080014", 94, _text, "ssn"),
        _read("name", "00B2090020", 108, _text, "name"),
        _read("sex", "00B20A0003", 122, _text, "sex"),
        _read("nation", "00B20B0003", 136, _bcd(1), "nation"),
        _read("birthplace", "00B20C0005", 151, _bcd(3), "birthplace"),
        _read("birth date", "00B20D0006", 166, _bcd(4), "birth_date"),
    ),
)


def output_line(values: list[object]) -> str:
    """Line 178: ``sprintf(dataOut, "%s|%s|%s|%s|%s|%s|%s", UserNo, SHBZHM, XM, XB, MZ, CSD,
    CSRQ)`` from the parsed values of the steps that read them (in step order)."""
    return "|".join(str(v) for v in values)
