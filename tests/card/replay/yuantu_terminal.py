"""yuonceruyi/Terminal: hospital self-service kiosks reading social security cards.

``Z9`` — ``Functions/YuanTu.TaiZhouCentralHospital/HealthInsurance/Z9.cs``
(``ReadData``, lines 45-149; ``CpuApdu``, lines 151-197). It reads EF05/EF06 by
record identifier with Le = the value's length only, so a T=0 card answers
``6Cxx`` to every read: the reader repeats the command with Le = SW2 (lines
160-164) and fetches ``61xx`` with ``00C00000xx`` (lines 165-175); it needs
``9000`` at the end (lines 158, 173) and reads ``res[2 : 2 + res[1]]`` as text
(``Encoding.Default``, GBK on a Chinese Windows, line 185) or as hex (line 193);
a bare ``9000`` reads as ``""`` / ``"9000"`` (lines 183-184, 191-192). The same
sequence is in ``YuanTu.ZheJiangZhongLiuHospital/Minghua/MingHuaX3CardReader.cs``
(lines 194-325).

``MtReader`` — ``Functions/YuanTu.JiaShanHospital/HealthInsurance/MtReader.cs``
(``JiaXinCardNo``, lines 115-136): SELECT SSSE without Le, SELECT EF05, and
``00B2070000`` (the card-number record, Le 00 = all of it); each answer must end
with ``9000`` (lines 121, 127, 132) and the card number is the whole answer as
hex (line 134). A T=0 card can only answer the SELECT with ``61xx``: the reader
relies on its library (``mt_32.dll`` ``ExchangePro``) to fetch it, as the
Minhua reader library does on the wire in leithergit/Z390Kylin's log
(:mod:`tests.card.replay.z390kylin_mwlog`): ``get_response_on_61``.
"""

from __future__ import annotations

from tests.card.replay.model import (
    Answer,
    Exchange,
    Source,
    Step,
    get_response,
    get_response_on_61,
    hex_upper,
    with_le,
)

REPO = "yuonceruyi/Terminal"
COMMIT = "2b79d18a3adc884cc428cf3995dc49ce623afec7"
Z9_PATH = "Functions/YuanTu.TaiZhouCentralHospital/HealthInsurance/Z9.cs"
MT_PATH = "Functions/YuanTu.JiaShanHospital/HealthInsurance/MtReader.cs"


def z9_follow_up(send: Exchange, apdu: bytes, first: Answer) -> Answer:
    """``CpuApdu`` lines 158-180: ``6Cxx`` → the same command with Le = xx (and its own
    follow-up, the method calls itself); ``61xx`` → one ``00C00000xx``."""
    if first.sw == 0x9000 or first.data:
        return first
    if first.sw1 == 0x6C:
        again = with_le(apdu, first.sw2)
        return z9_follow_up(send, again, send(again))
    if first.sw1 == 0x61:
        return send(get_response(0x00, first.sw2))
    return first


def z9_text(data: bytes) -> str:
    """Line 183-185: ``""`` for a bare status word, else GBK ``res[2 : 2 + res[1]]``."""
    if not data:
        return ""
    return data[2 : 2 + data[1]].decode("gbk")


def z9_hex(data: bytes) -> str:
    """Line 191-193: ``"9000"`` for a bare status word, else hex ``res[2 : 2 + res[1]]``."""
    if not data:
        return "9000"
    return hex_upper(data[2 : 2 + data[1]])


def z9_name(data: bytes) -> str:
    """Line 135: ``name.Trim(' ', '\\0')``."""
    return z9_text(data).strip(" \x00")


def _z9(name: str, apdu: str, line: int, parse, fact: str | None, record: int | None) -> Step:
    """A Z9 read; ``record`` = the record's full length (tag + length + value), so a T=0
    card answers ``6C<record>`` first whenever the reader's Le (value only) differs."""
    le = int(apdu[-2:], 16)
    raw = None if record is None else ("9000" if le == record else f"6C{record:02X}")
    return Step(
        name, apdu, f"{Z9_PATH}:{line}", length=record, parse=parse, fact=fact, raw_first=raw
    )


def _select_ef(name: str, apdu: str, line: int, parse, fact: str) -> Step:
    """SELECT EF by FID (P1 00): real cards answer a bare ``9000`` (the logs in
    :mod:`tests.card.replay.si_3rdcard_eglog` and :mod:`tests.card.replay.z390kylin_mwlog`)."""
    return Step(name, apdu, f"{Z9_PATH}:{line}", length=0, parse=parse, fact=fact, raw_first="9000")


Z9 = Source(
    name="yuantu_z9",
    repo=REPO,
    commit=COMMIT,
    path=Z9_PATH,
    follow_up=z9_follow_up,
    note="kiosk reader: Le = value length, 6Cxx and 61xx handled by the reader itself",
    steps=(
        Step(
            "SELECT SSSE",
            "00a404000f7378312e73682ec9e7bbe1b1a3d5cf",
            f"{Z9_PATH}:49",
            raw_first="61xx",
        ),
        _select_ef("SELECT EF05", "00a4000002EF05", 53, z9_hex, "bare_9000"),
        _z9("card identification code", "00b2010010", 57, z9_hex, "identification_code", 18),
        _z9("card type", "00b2020001", 62, z9_text, "card_type", 3),
        _z9("spec version", "00b2030004", 67, z9_text, "version", 6),
        _z9("issuing organisation", "00b204000c", 72, z9_hex, "init_org_hex", 14),
        _z9("issue date", "00b2050004", 77, z9_hex, "issue_date", 6),
        _z9("expiry date", "00b2060004", 81, z9_hex, "expiry_date", 6),
        _z9("card number", "00b2070009", 86, z9_text, "card_number", 11),
        _select_ef("SELECT EF06", "00a4000002ef06", 91, z9_text, "bare_text"),
        _z9("social security number", "00b2080018", 96, z9_text, "ssn", 20),
        _z9("name", "00b209001e", 101, z9_name, "name", 32),
        _z9("sex", "00b20a0001", 106, z9_text, "sex", 3),
        _z9("nation", "00b20b0001", 111, z9_hex, "nation", 3),
        _z9("birthplace", "00b20c0003", 116, z9_hex, "birthplace", 5),
        _z9("birth date", "00b20d0004", 121, z9_hex, "birth_date", 6),
    ),
)


MT_READER = Source(
    name="yuantu_mtreader",
    repo=REPO,
    commit=COMMIT,
    path=MT_PATH,
    follow_up=get_response_on_61,
    note="card number only; the library fetches 61xx",
    steps=(
        Step(
            "SELECT SSSE",
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
            f"{MT_PATH}:119-121",
            raw_first="61xx",
        ),
        Step("SELECT EF05", "00A4020002EF05", f"{MT_PATH}:125-127", length=0, raw_first="9000"),
        Step(
            "card number record, Le 00",
            "00B2070000",
            f"{MT_PATH}:130-134",
            length=11,
            parse=lambda data: hex_upper(data) + "9000",
            fact="card_number_answer",
            raw_first="9000",
        ),
    ),
)

SOURCES = (Z9, MT_READER)
