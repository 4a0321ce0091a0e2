"""Every status word card.md lists, each provoked on purpose (card.md §Commands)."""

from __future__ import annotations

import json

import pytest

from card.icc import VirtualCard
from tests.card.conftest import Terminal

SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"
ADF = "00A4040008A00000033301010100"

#: (status word, setup APDUs answered 9000 or 61xx, the APDU, what it shows)
CASES = [
    (0x9000, [SSSE], "00B2012C00", "success"),
    # the 30-byte SSSE FCI of card.md §What real cards do
    (0x611E, [], "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "T=0: data waits for GET RESPONSE"),
    (0x63C2, [SSSE], "0020000003000000", "wrong PIN, tries left"),
    (0x6700, [], "00B2", "shorter than a header"),
    (0x6700, [], "00A4040005A000", "Lc disagrees with the data"),
    (0x6700, [], "00A40000030102", "FID of 3 bytes"),
    (0x6700, [], "00A4040000", "extended length"),
    (0x6700, [SSSE], "002000000112", "PIN of 1 byte"),
    (0x6982, [SSSE, "00A4000C02DF04"], "00B2010400", "DF04 before key 07"),
    (0x6982, [SSSE, "00A4000C02EF05"], "00DC020403020131", "UPDATE RECORD before key 04"),
    (0x6985, [SSSE], "00B2010400", "SFI 0 with no current EF"),
    (0x6985, [], "00C0000000", "GET RESPONSE with nothing waiting"),
    (0x6985, [ADF], "80AE80001D" + "00" * 29 + "00", "GENERATE AC before GPO"),
    (0x6A82, [], "00A4000002ABCD", "no such FID"),
    (0x6A82, [], "00A4040005A000000999", "no such AID"),
    (0x6A82, [SSSE], "00B2011C00", "SFI 3 is not in the SSSE"),
    (0x6A83, [SSSE], "00B2082C00", "EF05 has 7 records"),
    (0x6A83, [SSSE], "00B2FF2800", "no record with identifier FF"),
    (0x6A86, [], "00A4080002EF05", "SELECT P1 08"),
    (0x6A86, [SSSE], "00B2012D00", "READ RECORD P2 reference mode 5"),
    (0x6A86, [SSSE], "00B201FC00", "READ RECORD SFI 31"),
    (0x6A88, [SSSE], "0082000908" + "00" * 8, "no key 09"),
    (0x6A88, [], "80CA9F4F00", "GET DATA of an unknown tag"),
    (0x6B00, [SSSE], "00B2002C00", "record number 0"),
    (0x6C0B, [SSSE], "00B2072C01", "READ RECORD with the wrong Le"),
    (0x6D00, [], "00FF000000", "unknown INS"),
    (0x6D00, [], "80C4000000", "unknown INS"),
    (0x6E00, [], "A0A4000002EF05", "unknown CLA"),
    (0x6E00, [], "80B2012C00", "READ RECORD with CLA 80"),
]


@pytest.mark.parametrize(("sw", "setup", "apdu", "why"), CASES, ids=[c[3] for c in CASES])
def test_status_word(term: Terminal, sw: int, setup: list[str], apdu: str, why: str) -> None:
    for step in setup:
        status = term(step)[1]
        assert status == 0x9000 or status >> 8 == 0x61
    data, got = term(apdu)
    assert got == sw, f"{why}: {got:04X}"
    assert data == b"" or got == 0x9000


def test_6300_6983_6281(term: Terminal, card: VirtualCard, algorithm) -> None:
    n = algorithm.block_size
    term(SSSE)
    term(f"00840000{n:02X}")
    assert term(f"00820004{n:02X}" + "00" * n) == (b"", 0x6300)
    for _ in range(3):
        term("0020000003000000")
    assert term("0020000003123456") == (b"", 0x6983)
    # 6281: a record damaged in the image (edited by hand) is still served, with a warning
    path = card.image.path
    data = json.loads(path.read_text())
    data["records"]["EF05"]["7"] = "0709" + "41" * 8  # one byte short of its template
    path.write_text(json.dumps(data))
    damaged = VirtualCard.open(path, strict=True)
    t2 = Terminal(damaged)
    t2(SSSE)
    assert t2("00B2072C00") == (bytes.fromhex("0709" + "41" * 8), 0x6281)
    assert t2("00B2062C00")[1] == 0x9000
