"""T=0 helpers of the reader layer: Le correction (6Cxx) and GET RESPONSE chaining (61xx)."""

from __future__ import annotations

import pytest

from terminal.readers.base import CardUnresponsive, Response, exchange_t0, with_le


class ScriptedSlot:
    """Answers from a fixed script and records what the terminal sent."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = [bytes.fromhex(a) for a in answers]
        self.sent: list[str] = []

    def __call__(self, apdu: bytes) -> Response:
        self.sent.append(apdu.hex().upper())
        return Response.from_bytes(self.answers.pop(0))


@pytest.mark.parametrize(
    ("apdu", "le", "expected"),
    [
        ("00A40400", 0x10, "00A4040010"),  # case 1
        ("00B2010C00", 0x12, "00B2010C12"),  # case 2
        ("00DC010C02AABB", 0x00, "00DC010C02AABB00"),  # case 3
        ("00880001021122" + "08", 0x10, "0088000102112210"),  # case 4
    ],
)
def test_with_le_sets_le_for_each_case(apdu: str, le: int, expected: str) -> None:
    assert with_le(bytes.fromhex(apdu), le).hex().upper() == expected


def test_6cxx_repeats_the_command_with_the_right_le() -> None:
    slot = ScriptedSlot(["6C05", "48454C4C4F9000"])
    assert exchange_t0(slot, bytes.fromhex("00B2010C00")) == Response(b"HELLO", 0x9000)
    assert slot.sent == ["00B2010C00", "00B2010C05"]


def test_61xx_fetches_with_get_response_and_concatenates() -> None:
    slot = ScriptedSlot(["6104", "AABBCCDD6102", "EEFF9000"])
    response = exchange_t0(slot, bytes.fromhex("8088000108" + "00" * 8))
    assert response == Response(bytes.fromhex("AABBCCDDEEFF"), 0x9000)
    assert slot.sent[1:] == ["00C0000004", "00C0000002"]


def test_6cxx_then_61xx() -> None:
    slot = ScriptedSlot(["6C08", "6108", "01020304050607089000"])
    assert exchange_t0(slot, bytes.fromhex("0084000000")).data == bytes(range(1, 9))
    assert slot.sent == ["0084000000", "0084000008", "00C0000008"]


def test_error_status_words_pass_through_unchanged() -> None:
    slot = ScriptedSlot(["63C2"])
    response = exchange_t0(slot, bytes.fromhex("0020000003123456"))
    assert (response.data, response.sw, response.sw1, response.sw2) == (b"", 0x63C2, 0x63, 0xC2)
    assert not response.ok


def test_endless_61xx_is_an_unresponsive_card() -> None:
    slot = ScriptedSlot(["6101"] + ["006101"] * 100)
    with pytest.raises(CardUnresponsive):
        exchange_t0(slot, bytes.fromhex("00CA000000"))


def test_response_unpacks_like_a_tuple_and_rejects_short_answers() -> None:
    data, sw = Response.from_bytes(bytes.fromhex("01029000"))
    assert (data, sw) == (b"\x01\x02", 0x9000)
    assert bytes(Response(b"\x01", 0x6A82)) == bytes.fromhex("016A82")
    with pytest.raises(CardUnresponsive, match="re-insert"):
        Response.from_bytes(b"\x90")
