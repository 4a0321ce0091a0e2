"""gdgly/SI_3rdCard: the log of a real 3rd-generation (SM4) social security card, Chengdu 510100.

``docs/EgAPP-20180611.log`` (GBK, CR CR LF line ends; line numbers below count
LF-terminated lines, so every entry is followed by an empty line). A DeCard
Z90 reader (``DCIC32``) reads the card (``TYPEA卡复位成功``, line 177: the card
was read contactless, ISO/IEC 14443 T=CL, where a SELECT without Le gets its
FCI at once) with the terminal authentication key of an HSM (key ``0A``, lines
347-349). The sequence (lines 185-447):

1. SELECT SSSE by AID without Le → the 30-byte FCI
   ``6F1C 840F <AID> A509 88011E 9F0C03 860103`` (line 191); the reader takes the
   algorithm from it (``该社保卡支持SM4算法``, lines 219-221) and the city code
   from EF05 record 1 (``应用城市代码=[510100]``, line 219).
2. SELECT EF05 (bare ``9000``), READ RECORD by identifier, ``P2 00`` (current
   EF), Le = value length + 2: tags 01, 03, 07.
3. SELECT SSSE again, GET CHALLENGE ``0084000008`` twice (8 bytes each on this
   SM4 card), INTERNAL AUTHENTICATE ``0088000010`` with the two challenges,
   newest first, as 16 bytes of input, no Le → 8 bytes (line 315).
4. GET CHALLENGE twice, EXTERNAL AUTHENTICATE ``0082000A10`` + 16 bytes → ``9000``
   (line 359).
5. EF05 tags 03, 05, 06; SELECT EF06; tags 08, 09, 4E.

A second session (``VERIFY_SOURCE``, lines 571-675) verifies the holder's PIN
from the reader's PIN pad: SELECT SSSE, EF05 tags 01 and 07, SELECT SSSE again,
VERIFY ``0020000003123456`` → ``9000`` (line 673; the PIN is the initial
``123456``, line 655).

On a contact T=0 card (ours), the SELECT and INTERNAL AUTHENTICATE without Le
answer ``611E`` / ``6108`` (card.md §Commands, case-4 behaviour) and the DeCard
library fetches the data: ``get_response_on_61``. Crypto values cannot match a
real card's keys: INTERNAL AUTHENTICATE is checked against the left half of
SM4(K01, input), EXTERNAL AUTHENTICATE is computed as ENC(K0A, last challenge
zero-padded to a block) (card.md "What real cards do"). On a 3DES card the
same sequence is played with one 8-byte block where the SM4 card takes 16
bytes (the log is of an SM4 card; the 3DES shape is the spec's).
"""

from __future__ import annotations

from tests.card.independent import block_cipher
from tests.card.replay.model import Run, Source, Step, get_response_on_61, hex_upper, tlv_value

REPO = "gdgly/SI_3rdCard"
COMMIT = "b8be2772ff6af82ac9617dda37bf499aafb21a87"
PATH = "docs/EgAPP-20180611.log"

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"

#: The real card's FCI (line 191) and answers, verbatim: (line of the request, command, answer).
REAL_FCI = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
LOG: tuple[tuple[int, str, str], ...] = (
    (185, SELECT_SSSE, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000"),
    (199, "00A4020002EF05", "9000"),
    (211, "00B2010012", "0110510100D156000005C0666779C8C975CC9000"),
    (225, "00B2030006", "0304332E30309000"),
    (235, "00B207000B", "07094149363636363636589000"),
    (277, SELECT_SSSE, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000"),
    (289, "0084000008", "5B2AFCA5DD0ACDF29000"),
    (299, "0084000008", "832859DC5C8D44E49000"),
    (309, "0088000010832859DC5C8D44E45B2AFCA5DD0ACDF2", "89832FB63AF5D6C29000"),
    (319, "0084000008", "294F0E67DFF409FE9000"),
    (329, "0084000008", "42CF103E5F0E4D0A9000"),
    (353, "0082000A10FA617472D0E471DD294F0E67DFF409FE", "9000"),
    (365, "00A4020002EF05", "9000"),
    (377, "00B2030006", "0304332E30309000"),
    (387, "00B2050006", "0504201804039000"),
    (397, "00B2060006", "0604202804039000"),
    (409, "00A4020002EF06", "9000"),
    (421, "00B2080014", "08123531303732333139383730363237333131359000"),
    (431, "00B2090020", "091EC0EEC0DA00000000000000000000000000000000000000000000000000009000"),
    (441, "00B24E0016", "4E1400000000000000000000000000000000000000009000"),
)

#: The second session (PIN verification): (line of the request, command, answer).
VERIFY_LOG: tuple[tuple[int, str, str], ...] = (
    (571, SELECT_SSSE, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000"),
    (585, "00A4020002EF05", "9000"),
    (597, "00B2010012", "0110510100D156000005C0666779C8C975CC9000"),
    (611, "00B207000B", "07094149363636363636589000"),
    (659, SELECT_SSSE, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C038601039000"),
    (669, "0020000003123456", "9000"),
)

KEY_INTERNAL_AUTH = 0x01
KEY_TERMINAL_AUTH = 0x0A


def block_size(algorithm: str) -> int:
    return 16 if algorithm == "sm4" else 8


def internal_authenticate(run: Run) -> bytes:
    """Line 309: ``00 88 00 00 10`` + the last two challenges, newest first (one SM4 block;
    on a 3DES card one 8-byte block: the newest challenge)."""
    newest, older = run.challenges()[-1], run.challenges()[-2]
    data = (newest + older)[: block_size(run.algorithm)]
    return bytes([0x00, 0x88, 0x00, 0x00, len(data)]) + data


def internal_auth_expected(run: Run, apdu: bytes) -> bytes:
    """What the card must answer: ENC(K01, input), the left 8 bytes (card.md)."""
    return block_cipher(run.algorithm)(run.keys[KEY_INTERNAL_AUTH], apdu[5:])[:8]


def external_authenticate(run: Run) -> bytes:
    """Line 353: ``00 82 00 0A`` + ENC(K0A, last challenge zero-padded to a block)."""
    size = block_size(run.algorithm)
    challenge = run.challenges()[-1].ljust(size, b"\x00")
    cryptogram = block_cipher(run.algorithm)(run.keys[KEY_TERMINAL_AUTH], challenge)
    return bytes([0x00, 0x82, 0x00, KEY_TERMINAL_AUTH, size]) + cryptogram


def algorithm_indicator(fci: bytes) -> str:
    """Lines 219-221: the reader reads the algorithm from the FCI's ``86`` (last byte)."""
    if fci[-3:-1] != b"\x86\x01":
        raise ValueError(f"no algorithm indicator 86 01 at the end of the FCI {fci.hex()}")
    return f"{fci[-1]:02X}"


def _read(name: str, apdu: str, line: int, parse, fact: str | None) -> Step:
    return Step(
        name,
        apdu,
        f"{PATH}:{line}",
        length=int(apdu[-2:], 16),
        parse=parse,
        fact=fact,
        raw_first="9000",
    )


def _select_ssse(line: int) -> Step:
    return Step(
        "SELECT SSSE",
        SELECT_SSSE,
        f"{PATH}:{line}",
        length=30,
        parse=algorithm_indicator,
        fact="algorithm_indicator",
        raw_first="611E",
    )


def _get_challenge(line: int) -> Step:
    return Step("GET CHALLENGE", "0084000008", f"{PATH}:{line}", length=8, raw_first="9000")


def _select_ef(fid: str, line: int) -> Step:
    return Step(
        f"SELECT {fid}",
        f"00A40200 02{fid}".replace(" ", ""),
        f"{PATH}:{line}",
        length=0,
        raw_first="9000",
    )


def _text(data: bytes) -> str:
    return tlv_value(data).split(b"\x00", 1)[0].decode("gbk")


SOURCE = Source(
    name="si_3rdcard_eglog",
    repo=REPO,
    commit=COMMIT,
    path=PATH,
    follow_up=get_response_on_61,
    note="real SM4 card log: FCI algorithm indicator, GET CHALLENGE 8, INTERNAL AUTH 00, EXTERNAL AUTH 0A",
    steps=(
        _select_ssse(185),
        _select_ef("EF05", 199),
        _read(
            "city code (EF05 tag 01)",
            "00B2010012",
            211,
            lambda d: hex_upper(tlv_value(d)[:3]),
            "region",
        ),
        _read("spec version", "00B2030006", 225, _text, "version"),
        _read("card number", "00B207000B", 235, _text, "card_number"),
        _select_ssse(277),
        _get_challenge(289),
        _get_challenge(299),
        Step(
            "INTERNAL AUTHENTICATE P2 00",
            internal_authenticate,
            f"{PATH}:309-315",
            length=8,
            raw_first="6108",
        ),
        _get_challenge(319),
        _get_challenge(329),
        Step(
            "EXTERNAL AUTHENTICATE 0A",
            external_authenticate,
            f"{PATH}:347-359",
            length=0,
            raw_first="9000",
        ),
        _select_ef("EF05", 365),
        _read("spec version", "00B2030006", 377, _text, "version"),
        _read("issue date", "00B2050006", 387, lambda d: hex_upper(tlv_value(d)), "issue_date"),
        _read("expiry date", "00B2060006", 397, lambda d: hex_upper(tlv_value(d)), "expiry_date"),
        _select_ef("EF06", 409),
        _read("social security number", "00B2080014", 421, _text, "ssn"),
        _read("name", "00B2090020", 431, _text, "name"),
        _read(
            "name extension", "00B24E0016", 441, lambda d: hex_upper(tlv_value(d)), "name_extension"
        ),
    ),
)


VERIFY_SOURCE = Source(
    name="si_3rdcard_eglog_verify",
    repo=REPO,
    commit=COMMIT,
    path=PATH,
    follow_up=get_response_on_61,
    note="real SM4 card log: PIN verification session",
    steps=(
        _select_ssse(571),
        _select_ef("EF05", 585),
        _read(
            "city code (EF05 tag 01)",
            "00B2010012",
            597,
            lambda d: hex_upper(tlv_value(d)[:3]),
            "region",
        ),
        _read("card number", "00B207000B", 611, _text, "card_number"),
        _select_ssse(659),
        Step(
            "VERIFY (PIN 123456)", "0020000003123456", f"{PATH}:653-677", length=0, raw_first="9000"
        ),
    ),
)
