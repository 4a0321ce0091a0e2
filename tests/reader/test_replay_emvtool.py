"""emvtool (russss/python-emv) reading the financial application through pcscd + vpcd (#12).

:mod:`tests.card.replay.python_emv` is emvtool's command sequence and transport
(cited there line by line). ``cap`` runs PSE → SELECT → GET PROCESSING OPTIONS →
every AFL record → VERIFY → GENERATE AC, once with emvtool's own ``83 00`` and
once with the card's PDOL filled as yuonceruyi/Terminal's PBOC terminal does;
``info`` scans the PSE, ``2PAY.SYS.DDF01`` and every SFI/record of the
application, then GET DATA. Both run raw (``SCardTransmit`` with emvtool's own
``61xx``/``6Cxx`` handling) and through the terminal's T=0-aware reader layer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.keystore import KeyStore
from terminal.readers.base import Reader
from tests.card.replay import cards, python_emv
from tests.card.replay.model import Answer, Exchange, ber_tlv, tlv_find

pytestmark = pytest.mark.pcsc

UNIONPAY_DEBIT = bytes.fromhex("A000000333010101")


@pytest.fixture(scope="module")
def bank_card(
    pcsc_rig, reader_keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reader]:
    path = tmp_path_factory.mktemp("emvtool") / "card.json"
    cards.issue(path, reader_keystore, Algorithm.SM4)
    inserted = pcsc_rig.insert_card(VirtualCard.open(path))
    reader = pcsc_rig.reader(inserted)
    try:
        yield reader
    finally:
        reader.close()
        inserted.remove()


def exchange(connection, mode: str) -> Exchange:
    transmit = connection.transmit_raw if mode == "raw" else connection.transmit

    def send(apdu: bytes) -> Answer:
        response = transmit(apdu)
        return Answer(response.data, response.sw)

    return send


def card_data(result: python_emv.CapResult) -> dict[bytes, bytes]:
    data: dict[bytes, bytes] = {}
    for record in result.records.values():
        data.update(ber_tlv(tlv_find(record, b"\x70")))
    return data


@pytest.mark.parametrize("fill_pdol", [False, True], ids=["emvtool-83-00", "pboc-pdol"])
@pytest.mark.parametrize("mode", ["raw", "t0"])
def test_emvtool_cap_reads_every_afl_record_and_gets_an_arqc(
    bank_card: Reader, mode: str, fill_pdol: bool
) -> None:
    with bank_card.connect() as connection:
        tp = python_emv.Tp(exchange(connection, mode))
        result = python_emv.cap(tp, cards.BANK_PIN, fill_pdol=fill_pdol)
        _, atc_sw = tp.exchange(python_emv.get_data(0x9F, 0x36))
        metadata = python_emv.get_metadata(tp)

    assert [app[b"\x4f"] for app in result.apps] == [UNIONPAY_DEBIT]
    assert result.apps[0][b"\x50"]  # application label
    assert tlv_find(result.fci, b"\x6f", b"\x84") == UNIONPAY_DEBIT
    assert len(result.aip) == 2 and result.afl and len(result.afl) % 4 == 0
    data = card_data(result)
    assert data[b"\x5a"].hex().upper().rstrip("F") == cards.PAN
    assert data[b"\x5f\x24"] == bytes.fromhex(f"{cards.EXPIRES:%y%m%d}")
    assert data[b"\x5f\x28"] == bytes.fromhex("0156")
    assert b"\x8c" in data and b"\x8e" in data
    assert result.verify_sw == 0x9000
    # card.md §Financial application: format 1, 80 CID ATC AC IAD (1 + 2 + 8 + 7 bytes).
    ((tag, value),) = ber_tlv(result.ac_answer)
    assert tag == b"\x80" and len(value) == 18
    assert value[0] == 0x80  # ARQC
    assert metadata["atc"] == int.from_bytes(value[1:3], "big")
    assert metadata["pin_retries"] == 3 and atc_sw == 0x9000
    if not fill_pdol:
        assert result.gpo_command == bytes.fromhex("80A8000002830000")


def test_pboc_terminal_fills_the_pdol_and_reads_records_over_sfi_1_to_3(bank_card: Reader) -> None:
    """card.md "What real cards do": the ADF's FCI carries a PDOL ``9F38`` listing ``9F7A 01``,
    ``9F02 06``, ``5F2A 02``; GPO accepts ``83 09`` filled as ICPOS.cs fills it; the AFL names
    records over SFI 1-3."""
    with bank_card.connect() as connection:
        result = python_emv.cap(
            python_emv.Tp(exchange(connection, "raw")), cards.BANK_PIN, fill_pdol=True
        )
    assert tlv_find(result.fci, b"\x6f", b"\xa5", b"\x9f\x38") == bytes.fromhex(
        "9F7A019F02065F2A02"
    )
    assert result.gpo_command == bytes.fromhex(
        "80A800000B8309" + "00" + "000000000100" + "0156" + "00"
    )
    assert {sfi for sfi, _record in result.records} == {1, 2, 3}


def test_emvtool_cap_counts_transactions(bank_card: Reader) -> None:
    """The ATC in GENERATE AC goes up by one per transaction and persists (card.md)."""
    counters = []
    for _ in range(2):
        with bank_card.connect() as connection:
            result = python_emv.cap(
                python_emv.Tp(exchange(connection, "t0")), cards.BANK_PIN, fill_pdol=True
            )
        ((_tag, value),) = ber_tlv(result.ac_answer)
        counters.append(int.from_bytes(value[1:3], "big"))
    assert counters[1] == counters[0] + 1


@pytest.mark.parametrize("mode", ["raw", "t0"])
def test_emvtool_info_scans_the_card(bank_card: Reader, mode: str) -> None:
    """client.py ``info``: PSE and application records found by scanning, 2PAY absent."""
    with bank_card.connect() as connection:
        tp = python_emv.Tp(exchange(connection, mode))
        apps = python_emv.list_applications(tp)
        pse_records = python_emv.render_app(tp, python_emv.PSE)
        with pytest.raises(python_emv.ErrorResponse) as absent:
            python_emv.render_app(tp, python_emv.PPSE)
        app_records = python_emv.render_app(tp, apps[0][b"\x4f"])
        metadata = python_emv.get_metadata(tp)
        fci, _ = tp.exchange(python_emv.select(apps[0][b"\x4f"]))
        options, _ = tp.exchange(python_emv.gpo(python_emv.pdol_data(fci)))
    assert absent.value.sw == 0x6A82
    assert pse_records and all(sfi == 1 for sfi, _ in pse_records)
    _aip, afl = python_emv.processing_options(options)
    named = {
        (afl[i] >> 3, record)
        for i in range(0, len(afl), 4)
        for record in range(afl[i + 1], afl[i + 2] + 1)
    }
    assert named <= set(app_records)
    assert set(metadata) == {"pin_retries", "atc", "last_online_atc"}
