"""The bench control API over HTTP, every effect observed through pcscd by pyscard (issue 18).

The bench runs as ``python -m card bench`` (a child process); the test is an
independent PC/SC client (``smartcard`` directly, not the project's reader layer)
and an HTTP client (``httpx``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from card.layout import SSSE_AID
from rig.bench.client import BenchApiError, BenchClient, BenchProcess

pytestmark = pytest.mark.pcsc

SELECT_SSSE = bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_AID)]) + SSSE_AID
READ_CARD_NO = bytes.fromhex("00B2072C00")  # EF05 record 7, the card number
VERIFY_RIGHT = bytes.fromhex("0020000003123456")


@pytest.fixture(scope="module")
def bench(pcsc_rig: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchProcess]:
    home = tmp_path_factory.mktemp("bench")
    his_home = home / "his"  # the HIS's SSCARD_HOME: its reader library's PIN pads live there
    process = BenchProcess.start(home, readers=2, env={**os.environ, "SSCARD_HOME": str(his_home)})
    try:
        yield process
    finally:
        assert process.stop() == 0


@pytest.fixture
def client(bench: BenchProcess) -> Iterator[BenchClient]:
    yield bench.client
    for reader in bench.client.readers():
        bench.client.clear_faults(reader["index"])
        if reader["card"] is not None:
            bench.client.remove(reader["index"])


def _pcsc_reader(name: str):
    from smartcard.System import readers

    for reader in readers():
        if str(reader) == name:
            return reader
    raise AssertionError(f"pcscd does not list {name}")


def present(name: str) -> bool:
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCARD_STATE_PRESENT,
        SCARD_STATE_UNAWARE,
        SCardEstablishContext,
        SCardGetStatusChange,
        SCardReleaseContext,
    )

    hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
    assert hresult == SCARD_S_SUCCESS
    try:
        hresult, states = SCardGetStatusChange(context, 0, [(name, SCARD_STATE_UNAWARE)])
        assert hresult == SCARD_S_SUCCESS
        return bool(states[0][1] & SCARD_STATE_PRESENT)
    finally:
        SCardReleaseContext(context)


def eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def connect(name: str):
    connection = _pcsc_reader(name).createConnection()
    connection.connect()
    return connection


def close(connection) -> None:
    """Disconnect and release the PC/SC context now (not in the GC, after pcscd stopped)."""
    from smartcard.Exceptions import CardConnectionException

    with contextlib.suppress(CardConnectionException):
        connection.release()


def send(connection, apdu: bytes) -> bytes:
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data) + bytes([sw1, sw2])


def name_of(bench: BenchProcess, index: int) -> str:
    return bench.readers[index]["name"]


def test_the_api_wants_the_token(bench: BenchProcess) -> None:
    answer = httpx.get(f"{bench.url}/v1/readers")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "token"
    wrong = httpx.get(f"{bench.url}/v1/readers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_insert_remove_swap_show_in_pcscd(bench: BenchProcess, client: BenchClient) -> None:
    name = name_of(bench, 0)
    first = client.create_card(name="王芳", sex="2")
    second = client.create_card(name="赵敏", sex="2", algorithm="3des")
    assert [r["card"] for r in client.readers()] == [None, None]
    assert client.insert(0, first["id"])["card"] == first["id"]
    assert present(name)
    connection = connect(name)
    assert bytes(connection.getATR()).hex().upper() == first["atr"]
    send(connection, SELECT_SSSE)
    assert first["card_no"].encode() in send(connection, READ_CARD_NO)
    close(connection)
    with pytest.raises(BenchApiError) as busy:
        client.insert(0, second["id"])
    assert busy.value.code == "reader_busy"
    with pytest.raises(BenchApiError) as twice:
        client.insert(1, first["id"])
    assert twice.value.code == "card_in_reader"
    assert client.swap(0, second["id"])["card"] == second["id"]
    connection = connect(name)
    send(connection, SELECT_SSSE)
    assert second["card_no"].encode() in send(connection, READ_CARD_NO)
    close(connection)
    client.remove(0)
    assert not present(name)
    events = [e["event"] for e in client.log(0)["entries"]]
    assert events.count("inserted") == 2 and "swapped" in events and events[-1] == "removed"


def test_delay_and_status_word_faults(bench: BenchProcess, client: BenchClient) -> None:
    name = name_of(bench, 1)
    card = client.create_card()
    client.insert(1, card["id"])
    client.add_fault(1, "delay", ms=300)
    client.add_fault(1, "sw", match="00B2", sw="6A82", count=1)
    connection = connect(name)
    started = time.perf_counter()
    send(connection, SELECT_SSSE)
    assert time.perf_counter() - started >= 0.3
    assert send(connection, READ_CARD_NO) == bytes.fromhex("6A82")
    assert card["card_no"].encode() in send(connection, READ_CARD_NO)  # count 1: spent
    close(connection)
    apdus = [e for e in client.log(1)["entries"] if e["event"] == "apdu"]
    assert apdus[-2]["sw"] == "6A82" and "sw" in apdus[-2]["fault"]
    assert all(e["ms"] >= 300 for e in apdus[-3:])


def test_mute_mid_session_fails_the_transmit_and_resets_the_card(
    bench: BenchProcess, client: BenchClient
) -> None:
    from smartcard.Exceptions import CardConnectionException

    name = name_of(bench, 0)
    client.insert(0, client.create_card()["id"])
    client.add_fault(0, "mute", after=2, ms=1500)
    connection = connect(name)
    send(connection, SELECT_SSSE)
    started = time.perf_counter()
    with pytest.raises(CardConnectionException):
        send(connection, READ_CARD_NO)
    assert time.perf_counter() - started >= 1.4
    close(connection)
    assert eventually(lambda: present(name))  # the reader reset the card; it answers again
    again = connect(name)
    assert send(again, SELECT_SSSE)[-2:] in (b"\x90\x00", b"\x61\x1e")
    close(again)
    assert "muted" in [e["event"] for e in client.log(0)["entries"]]


def test_a_torn_verify_never_refunds_a_try(bench: BenchProcess, client: BenchClient) -> None:
    from smartcard.Exceptions import CardConnectionException

    name = name_of(bench, 0)
    card = client.create_card()
    client.insert(0, card["id"])
    client.add_fault(0, "tear", match="0020")
    connection = connect(name)
    send(connection, SELECT_SSSE)
    with pytest.raises(CardConnectionException):
        send(connection, VERIFY_RIGHT)  # the right PIN, torn
    close(connection)  # (a handle left to the GC would reset the next card)
    assert eventually(lambda: not present(name))
    assert client.reader(0)["card"] is None
    assert client.card(card["id"])["ssse_pin_tries_left"] == 2
    client.insert(0, card["id"])
    connection = connect(name)
    send(connection, SELECT_SSSE)
    assert send(connection, VERIFY_RIGHT) == b"\x90\x00"
    close(connection)
    assert client.card(card["id"])["ssse_pin_tries_left"] == 3
    entries = client.log(0)["entries"]
    assert "torn" in [e["event"] for e in entries]
    verifies = [e["command"] for e in entries if e.get("command", "").startswith("0020")]
    assert verifies and all(c == "0020000003******" for c in verifies)
    assert "123456" not in Path(client.log(0)["file"]).read_text()


def test_remove_during_a_command(bench: BenchProcess, client: BenchClient) -> None:
    from smartcard.Exceptions import CardConnectionException

    name = name_of(bench, 1)
    card = client.create_card()
    client.insert(1, card["id"])
    client.add_fault(1, "remove", match="0020", ms=200)
    connection = connect(name)
    send(connection, SELECT_SSSE)
    with pytest.raises(CardConnectionException):
        send(connection, bytes.fromhex("0020000003999999"))
    close(connection)
    assert eventually(lambda: not present(name))
    assert client.card(card["id"])["ssse_pin_tries_left"] == 3  # it never reached the card
    assert "pulled" in [e["event"] for e in client.log(1)["entries"]]


def test_pin_pad_types_for_the_reader_library(
    bench: BenchProcess, client: BenchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from terminal.readerlib.pinpad import ScriptedPad

    monkeypatch.setenv("SSCARD_HOME", str(bench.home / "his"))
    with pytest.raises(BenchApiError) as no_pad:
        client.type_pin(0, "123456", pad="bench-test", wait_s=0.2)
    assert no_pad.value.code == "pinpad_unavailable"
    pad = ScriptedPad("bench-test")
    try:
        assert client.type_pin(0, "123456", pad="bench-test") == {"typed": 1}
        assert pad.get(2.0) == "123456"
    finally:
        pad.close()
    assert client.log(0)["entries"][-1]["event"] == "pin_typed"


def test_bad_requests_get_stable_codes(client: BenchClient) -> None:
    cases = [
        (("POST", "/v1/cards", {"state": "lost"}), 422, "needs_service"),
        (("POST", "/v1/cards", {"colour": "red"}), 422, "bad_profile"),
        (("POST", "/v1/readers/0/faults", {"kind": "fire"}), 422, "bad_fault"),
        (("POST", "/v1/readers/9/card", {"card": "c1"}), 404, "unknown_reader"),
        (("POST", "/v1/readers/0/card", ["c1"]), 400, "bad_request"),
        (("POST", "/v1/readers/0/card", {"card": "nope"}), 404, "unknown_card"),
        (("DELETE", "/v1/readers/0/card", None), 409, "reader_empty"),
        (("GET", "/v1/elsewhere", None), 404, "not_found"),
        (("PUT", "/v1/readers", None), 405, "method_not_allowed"),
    ]
    for (method, path, body), status, code in cases:
        with pytest.raises(BenchApiError) as refused:
            client.request(method, path, body)
        assert (refused.value.status, refused.value.code) == (status, code), path
