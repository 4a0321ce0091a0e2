"""The reader library's parts without a reader: the C interface table and bounded writes,
Init's settings, pCardInfo, the PIN pad, the error texts (no pcscd needed)."""

from __future__ import annotations

import json
import threading
import time
from datetime import date

import cffi
import pytest

from card.keystore import KeyStore
from terminal import apdu
from terminal.cardinfo import HolderData, IssuanceData
from terminal.client.http import ServiceRefused, ServiceUnavailable
from terminal.psam import Psam, Role
from terminal.readerlib import capi, pinpad
from terminal.readerlib.abi import BUFFER_SIZES, FUNCTIONS, Code, bounded, header_text, truncated
from terminal.readerlib.cardinfo import (
    BasicCardInfo,
    CardInfoError,
    historical_bytes,
    terminal_number,
)
from terminal.readerlib.errors import failure
from terminal.readerlib.settings import SettingsError, buffer_sizes_hint, parse_init
from terminal.readers.base import CardRemoved, NoCard, NoReader, PcscdNotRunning
from terminal.session import PinBlocked, WrongPin

OUR_ATR = bytes.fromhex("3B6D0000004301000123456789ABCDEF33")


def test_header_declares_every_function_and_code():
    header = header_text()
    for _name, declaration in FUNCTIONS:
        assert declaration in header
    for code in Code:
        assert f"#define SSCARD_{code.name} ({int(code)})" in header
    assert "#define SSCARD_SIZE_PCARDINFO 2048" in header
    assert "#define SSCARD_SIZE_PBUSICARDINFO 8192" in header


@pytest.mark.parametrize(
    ("text", "size", "encoding", "expected"),
    [
        ("abc", 4, "gbk", b"abc\0"),
        ("abc", 3, "gbk", None),
        ("王小明", 7, "gbk", "王小明".encode("gbk") + b"\0"),
        ("王小明", 7, "utf-8", None),
        ("王小明", 10, "utf-8", "王小明".encode() + b"\0"),
    ],
)
def test_bounded(text, size, encoding, expected):
    assert bounded(text, size, encoding) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, b""),
        (1, b"\0"),
        (2, b"\0"),
        (3, "输".encode("gbk") + b"\0"),
        (4, "输".encode("gbk") + b"\0"),
    ],
)
def test_truncated_cuts_between_characters(size, expected):
    assert truncated("输出缓冲区太小", size, "gbk") == expected


def test_write_never_passes_the_size():
    ffi = cffi.FFI()
    buffer = ffi.new("char[]", b"\xaa" * 24)
    assert capi.write(ffi, buffer, "0123456789", 11, "gbk") is True
    assert ffi.string(buffer) == b"0123456789"
    buffer[0:24] = b"\xaa" * 24
    assert capi.write(ffi, buffer, "x" * 100, 16, "gbk") is False
    raw = bytes(ffi.buffer(buffer, 24))
    assert raw[16:] == b"\xaa" * 8 and b"\0" in raw[:16]
    assert raw[: raw.index(b"\0")].decode("gbk") == "输出缓冲区太小"
    assert capi.write(ffi, ffi.NULL, "x", 16, "gbk") is False


def _init(**changes) -> str:
    init = {
        "IP": "127.0.0.1",
        "PORT": 8000,
        "ACCESS_KEY": "sk_x",
        "ORG_ID": "H1",
        "EXT": {"psam": "/tmp/p.psam", "reader": 2},
    }
    init.update(changes)
    return json.dumps(init)


def test_init_settings_and_defaults():
    settings = parse_init(_init())
    assert settings.service_url == "http://127.0.0.1:8000"
    assert (settings.reader, settings.charset, settings.pinpad) == (2, "gbk", "socket")
    assert settings.size("pCardInfo") == BUFFER_SIZES["pCardInfo"]
    ext_as_string = parse_init(_init(EXT=json.dumps({"psam": "/p", "charset": "UTF-8"})))
    assert ext_as_string.charset == "utf-8" and ext_as_string.reader is None


@pytest.mark.parametrize(
    ("init", "says"),
    [
        ("[]", "JSON对象"),
        ("{", "JSON"),
        (_init(IP=""), "IP"),
        (_init(PORT="x"), "PORT"),
        (_init(PORT=70000), "PORT"),
        (_init(ACCESS_KEY=""), "ACCESS_KEY"),
        (_init(EXT={}), "EXT.psam"),
        (_init(EXT={"psam": "/p", "charset": "latin-1"}), "EXT.charset"),
        (_init(EXT={"psam": "/p", "pinpad": "voice"}), "EXT.pinpad"),
        (_init(EXT={"psam": "/p", "buffers": {"pCardInfo": 0}}), "EXT.buffers.pCardInfo"),
        (_init(EXT={"psam": "/p", "buffers": {"pOther": 10}}), "pOther"),
        (_init(CARD_PASSTYPE="2"), "CARD_PASSTYPE"),
        (_init(TIMEOUT="soon"), "TIMEOUT"),
    ],
)
def test_init_settings_refused(init, says):
    with pytest.raises(SettingsError) as refused:
        parse_init(init)
    assert says in str(refused.value)


def test_buffer_sizes_hint():
    assert buffer_sizes_hint("{bad")["pErrMsg"] == BUFFER_SIZES["pErrMsg"]
    declared = _init(EXT={"psam": "/p", "buffers": {"pErrMsg": 64}})
    assert buffer_sizes_hint(declared)["pErrMsg"] == 64


def test_historical_bytes():
    assert historical_bytes(OUR_ATR) == OUR_ATR[4:]
    # T0 8F (15 historical bytes, TD1), TD1 80 (TD2), TD2 01, then the bytes and TCK.
    storage = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
    assert historical_bytes(storage) == storage[4:19]
    with pytest.raises(CardInfoError):
        historical_bytes(bytes.fromhex("3B8F80"))


def test_terminal_number(tmp_path):
    psam = Psam.provision(KeyStore.generate(), "H1", Role.HOSPITAL, city="430100")
    path = tmp_path / "h1.psam"
    psam.save(path)
    derived = terminal_number(psam, path)
    assert len(derived) == 12 and derived.isdigit() and derived.startswith("430100")
    assert terminal_number(psam, path) == derived  # stable
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "terminal_no": "430100000001"}))
    assert terminal_number(Psam.load(path), path) == "430100000001"
    path.write_text(json.dumps({**data, "terminal_no": "4301"}))
    with pytest.raises(CardInfoError):
        terminal_number(Psam.load(path), path)


def test_card_info_layout():
    issuance = IssuanceData(
        identification_code=bytes.fromhex("430100D1560000050123456789ABCDEF"),
        card_type="3",
        spec_version="3.00",
        init_org="4301000000",
        issue_date=date(2026, 11, 28),
        expiry_date=date(2036, 11, 28),
        card_number="A12345678",
    )
    holder = HolderData("430102198507150034", "王小明", "1", "01", "430102", date(1985, 7, 15))
    info = BasicCardInfo.from_card(issuance, holder, OUR_ATR, "430100000001", "SSCARD0001")
    assert info.text() == (
        "430100|430102198507150034|A12345678|430100D1560000050123456789ABCDEF|王小明|"
        f"{OUR_ATR[4:].hex().upper()}|3.00|20261128|20361128|430100000001|SSCARD0001|"
    )
    with pytest.raises(CardInfoError):
        BasicCardInfo.from_card(
            issuance,
            holder._replace() if hasattr(holder, "_replace") else holder,
            OUR_ATR,
            "430100000001",
            "a|b",
        ).text()


@pytest.fixture
def home(tmp_path_factory, monkeypatch):
    import tempfile

    folder = tempfile.mkdtemp(prefix="sscard-pad-")
    monkeypatch.setenv("SSCARD_HOME", folder)
    return folder


def test_scripted_pad_hands_out_typed_pins_in_order(home):
    pad = pinpad.ScriptedPad(3)
    try:
        assert pinpad.type_pins(3, ["123456", "654321"]) == 2
        assert pad.get(1) == "123456" and pad.get(1) == "654321"
        with pytest.raises(pinpad.PinPadError):
            pad.get(0.1)
        # Typed while the HIS waits.
        threading.Timer(0.2, pinpad.type_pins, args=(3, ["999999"])).start()
        assert pad.get(5) == "999999"
        with pytest.raises(pinpad.PinPadError):
            pinpad.type_pins(3, ["12a456"])
        assert oct(pad.path.stat().st_mode & 0o777) == "0o600"
        with pytest.raises(pinpad.PinPadError, match="另一个进程"):
            pinpad.ScriptedPad(3)
    finally:
        pad.close()
    assert not pad.path.exists()
    with pytest.raises(pinpad.PinPadError, match="no PIN pad"):
        pinpad.type_pins(3, ["123456"], timeout=0.2)


def test_scripted_pad_forgets_old_entries(home, monkeypatch):
    monkeypatch.setattr(pinpad, "ENTRY_TTL_S", 0.1)
    pad = pinpad.ScriptedPad("SSCard Virtual A 00 00")
    try:
        pinpad.type_pins("SSCard Virtual A 00 00", ["123456"])
        time.sleep(0.2)
        with pytest.raises(pinpad.PinPadError):
            pad.get(0.1)
    finally:
        pad.close()


@pytest.mark.parametrize(
    ("exc", "code", "says"),
    [
        (WrongPin(2), Code.PIN_WRONG, "还可以尝试2次"),
        (WrongPin(0), Code.PIN_WRONG, "密码已锁定"),
        (PinBlocked(), Code.PIN_BLOCKED, "合作银行网点"),
        (NoCard("empty"), Code.NO_CARD, "没有卡"),
        (NoReader("none"), Code.READER, "读卡器"),
        (PcscdNotRunning(), Code.READER, "pcscd"),
        (CardRemoved("gone"), Code.CARD, "拔出"),
        (ServiceUnavailable("down"), Code.SERVICE, "无法连接"),
        (ServiceRefused(403, "card_lost", "", "lost", {}), Code.CARD_REFUSED, "挂失"),
        (ServiceRefused(403, "card_expired", "", "x", {}), Code.CARD_REFUSED, "有效期"),
        (ServiceRefused(403, "card_cancelled", "", "x", {}), Code.CARD_REFUSED, "注销"),
        (ServiceRefused(401, "unauthenticated", "", "x", {}), Code.SERVICE, "ACCESS_KEY"),
        (apdu.CardStatusError("READ RECORD", 0x6A82), Code.CARD, "6A82"),
        (pinpad.PinPadError("none"), Code.PIN_PAD, "none"),
        (RuntimeError("bug"), Code.INTERNAL, "RuntimeError"),
    ],
)
def test_failure_texts(exc, code, says):
    got_code, text = failure(exc)
    assert got_code == code and says in text


def test_library_logs_each_call_without_pins(home, tmp_path):
    from terminal.readerlib.library import ReaderLibrary

    psam_path = tmp_path / "h.psam"
    Psam.provision(KeyStore.generate(), "H1", Role.HOSPITAL).save(psam_path)
    library = ReaderLibrary()
    try:
        assert library.verify_pin().code == Code.NOT_INITIALISED
        init = _init(LOG_PATH=str(tmp_path / "logs"), EXT={"psam": str(psam_path), "reader": 4})
        assert library.init(init).code == Code.OK
        pinpad.type_pins(4, ["135790"])
        outcome = library.verify_pin()
        assert outcome.code == Code.SEQUENCE and "ReadCardBas" in outcome.text
        assert library.init(_init(EXT={"psam": str(tmp_path / "missing.psam")})).code == Code.PSAM
        assert library.verify_pin().code == Code.NOT_INITIALISED  # a failed Init undoes the last
    finally:
        library.close()
    (log,) = (tmp_path / "logs").iterdir()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [line.split()[1:3] for line in lines] == [["Init", "0"], ["VerifyPIN", "-13"]]
    assert "135790" not in log.read_text(encoding="utf-8")
