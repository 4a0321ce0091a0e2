"""The reader library as an HIS uses it (issue 13 "Done when"): from a C program, from Java
(JNA) and from Python ctypes, through real pcscd + vpcd readers and a real settlement service.
Each test runs its own pcscd (``private_pcscd``): cards come and go, pcscd stops, without
touching the shared rig other test runs use.

Each kind runs the happy path (Init → ReadCardBas → VerifyPIN on the scripted pad → the
token admits the patient) and, in one process that must keep running, every failure:
not initialised, a bad Init, a too-small buffer, a wrong PIN, a blocked PIN, a lost card,
no card, the service down; and pcscd stopped (a private pcscd).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest

from card.icc import VirtualCard
from card.vpcd import VpcdConnector
from terminal.readerlib.pinpad import type_pins

pytestmark = pytest.mark.pcsc

KINDS = ("c", "java", "ctypes")


def init_json(world, reader, *, port: int | None = None, **ext) -> str:
    institution = world.hospital
    return json.dumps(
        {
            "IP": "127.0.0.1",
            "PORT": port or int(world.url.rsplit(":", 1)[1]),
            "TIMEOUT": 10,
            "ACCESS_KEY": institution.api_key,
            "SECRETKEY": "unused",
            "ORG_ID": institution.code,
            "CARD_PASSTYPE": "1",
            "EXT": {"psam": str(institution.psam_path), "reader": reader, **ext},
        },
        ensure_ascii=False,
    )


@contextlib.contextmanager
def inserted(patient, reader):
    """The patient's card in a reader of a private pcscd (a vpcd connector in this process)."""
    card = VpcdConnector(VirtualCard.open(patient.image), port=reader.port)
    card.start()
    try:
        yield card
    finally:
        card.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answer(process, line: str) -> tuple[int, str]:
    parts = process.call(line)
    return int(parts[0]), process.text(parts[1])


@pytest.mark.parametrize("kind", KINDS)
def test_read_verify_and_admit(kind, his, world, private_pcscd):
    private = private_pcscd(n=2)
    patient = world.patient()
    with inserted(patient, private.readers[0]):
        process = his(kind, env=private.env)
        # The reader as an HIS names it: its index in pcscd's list.
        assert answer(process, "init " + init_json(world, 0, wait=10)) == (0, "初始化成功")
        rc, info_hex, busi_hex = process.call("read")
        info, token = process.text(info_hex), process.text(busi_hex)
        assert rc == "0", info
        fields = info.split("|")
        assert len(fields) == 12 and fields[-1] == ""
        assert fields[:3] == ["430100", patient.certno, patient.card_no]
        assert fields[3].startswith("430100D156000005") and len(fields[3]) == 32
        assert fields[4] == "张三丰" and fields[6] and len(fields[7]) == len(fields[8]) == 8
        assert len(fields[9]) == 12 and fields[9].isdigit() and fields[10] == "SSCARD0000"
        assert token.startswith("ca_")
        assert answer(process, "iread 2")[0] == -14  # no contactless readers here
        type_pins(0, ["123456"])
        assert answer(process, "verify") == (0, "密码校验成功")
    client = world.hospital.client(world.url)
    admission = client.admit(
        {"psn_no": patient.psn_no, "insutype": "310", "card_authentication": token}
    )
    assert admission["card_no"] == patient.card_no
    assert client.card_authentication(token)["pin_verified"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_every_failure_is_a_code_and_a_message(kind, his, world, private_pcscd):
    """On a private pcscd (cards come and go here without touching the shared rig)."""
    private = private_pcscd(n=2)
    reader, other = private.readers
    process = his(kind, env=private.env)
    rc, text = answer(process, "read")
    assert rc == -1 and "Init" in text
    rc, text = answer(process, "init {not json")
    assert rc == -2 and "JSON" in text

    patient = world.patient()
    card = VpcdConnector(VirtualCard.open(patient.image), port=reader.port)
    card.start()
    try:
        _wrong_pins_and_small_buffer(process, world, reader.name)
    finally:
        card.stop()
    rc, text = _read_until(process, -4)
    assert rc == -4 and "没有卡" in text

    lost = world.patient()
    world.centre_client.report_loss(lost.card_no)
    card = VpcdConnector(VirtualCard.open(lost.image), port=other.port)
    card.start()
    try:
        assert answer(process, "init " + init_json(world, other.name, wait=10))[0] == 0
        rc, text = answer(process, "read")
        assert rc == -6 and "挂失" in text
        assert answer(process, "init " + init_json(world, other.name, port=closed_port()))[0] == 0
        rc, text = answer(process, "read")
        assert rc == -7 and "无法连接医保结算服务" in text
    finally:
        card.stop()
    assert answer(process, "init " + init_json(world, reader.name))[0] == 0  # still running
    assert process.alive()


def _read_until(process, code: int, seconds: float = 15.0) -> tuple[int, str]:
    """``read`` until it answers ``code`` (a card taken out or put in takes pcscd a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        rc, text = answer(process, "read")
        if rc == code or time.monotonic() > deadline:
            return rc, text
        time.sleep(0.2)


def _wrong_pins_and_small_buffer(process, world, reader: str) -> None:
    # A buffer smaller than the answer: declared in EXT.buffers, never written past.
    small = init_json(world, reader, buffers={"pCardInfo": 16}, wait=10)
    assert answer(process, "init " + small)[0] == 0
    rc, head, _busi, canary = process.call("read_small 16")
    assert (int(rc), canary) == (-8, "canary-intact")
    assert process.text(head) == "输出缓冲区太小"

    assert answer(process, "init " + init_json(world, reader))[0] == 0
    assert process.call("read")[0] == "0"
    type_pins(reader, ["000000"])
    assert answer(process, "verify") == (-9, "密码错误，还可以尝试2次")
    type_pins(reader, ["111111"])
    assert answer(process, "verify") == (-9, "密码错误，还可以尝试1次")
    type_pins(reader, ["222222"])
    rc, text = answer(process, "verify")
    assert rc == -9 and "密码已锁定" in text and "社保卡服务中心" in text
    type_pins(reader, ["123456"])
    rc, text = answer(process, "verify")
    assert rc == -10 and "合作银行网点" in text and "定点医院" in text


@pytest.mark.parametrize("kind", KINDS)
def test_pcscd_stopped(kind, his, world, private_pcscd):
    private = private_pcscd(n=2)
    target = private.readers[0]
    patient = world.patient()
    connector = VpcdConnector(VirtualCard.open(patient.image), port=target.port)
    connector.start()
    try:
        process = his(kind, env=private.env)
        init = init_json(world, target.name, wait=10)
        assert answer(process, "init " + init)[0] == 0
        rc, text = answer(process, "read")
        assert rc == 0, text
        private.stop()
        rc, text = answer(process, "read")
        assert rc in (-3, -5) and "pcscd" in text, text
        private.start()  # pcscd is back: the same process reads again, no new Init needed
        rc, text = _read_until(process, 0, seconds=30)
        assert rc == 0, text
    finally:
        connector.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_change_pin_and_the_mohrss_calls(kind, his, world, private_pcscd):
    """ChangePIN from the pad (old, new, new), then iReadCardBas / iVerifyPIN with the new PIN
    (on a private pcscd)."""
    private = private_pcscd(n=2)
    reader = private.readers[0]
    patient = world.patient()
    card = VpcdConnector(VirtualCard.open(patient.image), port=reader.port)
    card.start()
    try:
        process = his(kind, env=private.env)
        assert answer(process, "init " + init_json(world, reader.name, wait=10))[0] == 0
        assert answer(process, "change")[0] == -13  # nothing read yet
        rc, info = answer(process, "iread 1")
        assert rc == 0 and info.split("|")[2] == patient.card_no
        type_pins(reader.name, ["123456", "654321", "654322"])
        assert answer(process, "change") == (-2, "两次输入的新密码不一致，密码未修改")
        type_pins(reader.name, ["123456", "654321", "654321"])
        assert answer(process, "change") == (0, "密码修改成功")
        type_pins(reader.name, ["123456"])
        assert answer(process, "iverify 3") == (-9, "密码错误，还可以尝试2次")
        type_pins(reader.name, ["654321"])
        assert answer(process, "iverify 3") == (0, "密码校验成功")
        assert answer(process, "iverify 7")[0] == -2
    finally:
        card.stop()
