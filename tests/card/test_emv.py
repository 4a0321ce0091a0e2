"""The financial application (card.md §Financial application; EMV 4.3 Books 2 and 3)."""

from __future__ import annotations

from datetime import date

from card import tlv
from card.crypto import Algorithm, encrypt_ecb
from card.emv_script import SecureChannel, personalisation_script, pin_block, pin_change_script
from card.icc import VirtualCard
from card.image import CardImage
from card.issue import emv_records, new_card, ssse_records
from tests.card import independent as ref
from tests.card.conftest import FACTOR, HOLDER, PAN, Terminal

SELECT_PSE = "00A404000E315041592E5359532E444446303100"
SELECT_ADF = "00A4040008A00000033301010100"
GPO = "80A8000002830000"
CDOL1 = bytes.fromhex("00000001234500000000000001560000000000015626112300CAFEBABE")
AIP = bytes.fromhex("1800")


def start(term: Terminal) -> None:
    term.ok(SELECT_ADF)
    term.ok(GPO)


def generate_ac(term: Terminal, p1: int = 0x80, data: bytes = CDOL1) -> bytes:
    return term.ok(bytes((0x80, 0xAE, p1, 0x00, len(data))) + data + b"\x00")


def test_pse_adf_gpo_records_byte_for_byte(term: Terminal) -> None:
    fci = term.ok(SELECT_PSE)
    assert fci.hex().upper() == "6F15840E" + b"1PAY.SYS.DDF01".hex().upper() + "A503880101"
    entry = term.ok("00B2010C00")
    assert entry.hex().upper() == (
        "701F611D4F08A000000333010101500E" + b"UnionPay Debit".hex().upper() + "870101"
    )
    assert term("00B2020C00") == (b"", 0x6A83)
    # card.md §What real cards do: the PDOL 9F7A 01, 9F02 06, 5F2A 02 in the ADF's FCI
    fci = term.ok(SELECT_ADF)
    assert fci.hex().upper() == (
        "6F2B8408A000000333010101A51F500E"
        + b"UnionPay Debit".hex().upper()
        + "870101"
        + "9F38099F7A019F02065F2A02"
    )
    assert term.ok("00A4040007A000000333010100") == fci  # partial AID selection
    # GPO with the PDOL data (83 09) or none (83 00); records over SFI 1-3 named by the AFL
    afl = "08010100" + "10010100" + "18010100"
    assert term.ok("80A800000B8309" + "01" + "000000001000" + "0156" + "00").hex().upper() == (
        "800E1800" + afl
    )
    assert term.ok(GPO).hex().upper() == "800E1800" + afl
    records = {sfi: term.ok(f"00B201{(sfi << 3) | 4:02X}00") for sfi in (1, 2, 3)}
    assert term("00B2020C00") == (b"", 0x6A83)
    assert term("00B2012400") == (b"", 0x6A82)
    objects = {}
    for rec in records.values():
        [(tag, value)] = tlv.parse(rec)
        assert tag == b"\x70"
        objects.update({t.hex().upper(): v for t, v in tlv.parse(value)})
    assert objects["5A"].hex().upper() == PAN + "F"
    assert objects["57"].hex().upper() == PAN + "D3401" + "220" + "00000"
    assert objects["5F24"].hex() == "340115" and objects["5F25"].hex() == "240115"
    assert objects["5F28"].hex() == "0156" and objects["5F34"].hex() == "01"
    assert objects["5F20"] == b"ZHANG/SAN"
    assert objects["8C"].hex().upper() == "9F02069F03069F1A0295055F2A029A039C019F3704"
    assert objects["8D"].hex().upper() == "8A0295059F3704"
    assert objects["8E"].hex().upper() == "00000000000000000100"
    for tag in ("9F07", "9F0D", "9F0E", "9F0F"):
        assert tag in objects


def test_generate_ac_recomputed_independently(term: Terminal, card: VirtualCard, keystore) -> None:
    bank = keystore.bank("102")
    start(term)
    term.ok(b"\x00\x20\x00\x80\x08" + pin_block("123456") + b"\x00")  # trailing Le accepted
    answer = generate_ac(term)
    [(tag, value)] = tlv.parse(answer)
    assert tag == b"\x80" and len(value) == 18  # format 1: CID ATC AC IAD = 1+2+8+7
    cid, atc, ac, iad = value[0], value[1:3], value[3:11], value[11:]
    assert cid == 0x80 and atc == b"\x00\x01"
    udk = ref.udk(bank.imk_ac, PAN, 1)
    expected = ref.retail_mac(ref.session_key(udk, 1), CDOL1 + AIP + atc)
    assert ac == expected
    assert iad.hex().upper() == "06010A03200400"  # ARQC in 1st GENERATE AC, offline PIN passed
    # the ATC persists and increments on every GENERATE AC
    assert CardImage.load(card.image.path).atc == 1
    assert term.ok("80CA9F3600").hex().upper() == "9F36020001"
    second = generate_ac(term, 0x40, bytes.fromhex("30300000000000CAFEBABE"))
    assert second[2] == 0x40 and second[3:5] == b"\x00\x02"
    assert generate_ac.__name__ and term(b"\x80\xae\x40\x00\x0b" + bytes(11)) == (b"", 0x6985)
    card.reset()
    start(term)
    third = generate_ac(term, 0x00)  # AAC requested
    assert third[2] == 0x00 and third[3:5] == b"\x00\x03"
    card2 = VirtualCard.open(card.image.path)
    assert card2.image.atc == 3


def test_generate_ac_errors_have_no_side_effects(term: Terminal, card: VirtualCard) -> None:
    term.ok(SELECT_ADF)
    assert term(b"\x80\xae\x80\x00\x1d" + CDOL1 + b"\x00") == (b"", 0x6985)  # before GPO
    term.ok(GPO)
    assert term(b"\x80\xae\x80\x00\x1d" + CDOL1 + b"\x05") == (b"", 0x6C14)
    assert term(b"\x80\xae\x80\x00\x1c" + CDOL1[:-1] + b"\x00") == (b"", 0x6700)
    assert term(b"\x80\xae\xc0\x00\x1d" + CDOL1 + b"\x00") == (b"", 0x6A86)
    assert term(b"\x80\xae\x90\x00\x1d" + CDOL1 + b"\x00") == (b"", 0x6A86)  # CDA: unsupported
    assert card.image.atc == 0
    assert term("80A8000003830100") == (b"", 0x6700)
    assert term("80CA9F4F00") == (b"", 0x6A88)


def test_get_data(term: Terminal) -> None:
    term.ok(SELECT_ADF)
    assert term.ok("80CA9F1700").hex().upper() == "9F170103"
    term(b"\x00\x20\x00\x80\x08" + pin_block("111111"))
    assert term.ok("80CA9F1700").hex().upper() == "9F170102"
    assert term.ok("80CA9F1300").hex().upper() == "9F13020000"
    assert term("80CA9F17") == (b"", 0x6104)


def test_bank_pin_lockout_and_issuer_unblock(term: Terminal, card: VirtualCard, keystore) -> None:
    bank = keystore.bank("102")
    start(term)
    for left in (2, 1, 0):
        assert term(b"\x00\x20\x00\x80\x08" + pin_block("000000")) == (b"", 0x63C0 | left)
    assert term(b"\x00\x20\x00\x80\x08" + pin_block("123456")) == (b"", 0x6983)
    assert term("0020008008" + "2F" + "00" * 7) == (b"", 0x6983)
    # a script needs a GENERATE AC in this session
    script = pin_change_script(bank, PAN, 1, 0, bytes(8), None)
    assert term(script) == (b"", 0x6985)
    answer = generate_ac(term)
    atc, arqc = int.from_bytes(answer[3:5], "big"), answer[5:13]
    assert answer[-2] & 0x01  # CVR: PIN try limit exceeded
    wrong = pin_change_script(bank, PAN, 1, atc, bytes(8), None)  # MAC over the wrong ARQC
    assert term(wrong) == (b"", 0x6982)
    other_bank = pin_change_script(keystore.bank("103"), PAN, 1, atc, arqc, None)
    assert term(other_bank) == (b"", 0x6982)
    term.ok(pin_change_script(bank, PAN, 1, atc, arqc, None))
    assert card.image.bank_pin_tries_left == 3
    assert term.ok("80CA9F1300").hex().upper() == "9F13020001"  # last online ATC
    # card.md §What real cards do: one issuer script command per session
    assert term(pin_change_script(bank, PAN, 1, atc, arqc, "2468")) == (b"", 0x6985)
    term.ok(b"\x00\x20\x00\x80\x08" + pin_block("123456"))
    atc, arqc = script_session(term, card)
    # set a new PIN by script, verified independently: 3DES ECB of the format-2 block
    channel = SecureChannel.issuer(bank, PAN, 1, atc, arqc)
    apdu = pin_change_script(bank, PAN, 1, atc, arqc, "2468")
    sk_smc = ref.session_key(ref.udk(bank.imk_smc, PAN, 1), atc)
    assert apdu[5:13] == ref.tdes(sk_smc, bytes.fromhex("242468FFFFFFFFFF"))
    sk_smi = ref.session_key(ref.udk(bank.imk_smi, PAN, 1), atc)
    mac_input = apdu[:5] + atc.to_bytes(2, "big") + arqc + apdu[5:13]
    assert apdu[13:] == ref.retail_mac(sk_smi, mac_input)[:4]
    assert channel.pin_change("2468") == apdu
    term.ok(apdu)
    assert term(b"\x00\x20\x00\x80\x08" + pin_block("123456")) == (b"", 0x63C2)
    term.ok(b"\x00\x20\x00\x80\x08" + pin_block("2468"))
    assert CardImage.load(card.image.path).bank_pin.matches("2468")


def script_session(term: Terminal, card: VirtualCard) -> tuple[int, bytes]:
    """A new card session up to the GENERATE AC an issuer script rides on: (ATC, ARQC)."""
    card.reset()
    start(term)
    answer = generate_ac(term)
    return int.from_bytes(answer[3:5], "big"), answer[5:13]


def test_holder_cannot_change_bank_pin_with_change_pin(term: Terminal, card: VirtualCard) -> None:
    """card.md §What real cards do: 80 5E in the financial application is refused (6985)."""
    term.ok(SELECT_ADF)
    assert term("805E010007" + "123456FF" + "135790") == (b"", 0x6985)
    assert card.image.bank_pin.matches("123456")
    assert card.image.bank_pin_tries_left == 3


def test_issuing_bank_changes_bank_pin_with_the_old_one(
    term: Terminal, card: VirtualCard, keystore
) -> None:
    """card.md §What real cards do: 84 24 00 01 changes the bank PIN, old PIN required."""
    bank = keystore.bank("102")
    atc, arqc = script_session(term, card)
    change = pin_change_script(bank, PAN, 1, atc, arqc, "135790", old_pin="123456")
    assert change[:4] == bytes.fromhex("84240001") and change[4] == 20
    # new PIN block then old PIN block, each enciphered under SK_SMC (independent 3DES)
    sk_smc = ref.session_key(ref.udk(bank.imk_smc, PAN, 1), atc)
    assert change[5:13] == ref.tdes(sk_smc, bytes.fromhex("26135790FFFFFFFF"))
    assert change[13:21] == ref.tdes(sk_smc, bytes.fromhex("26123456FFFFFFFF"))
    term.ok(change)
    assert CardImage.load(card.image.path).bank_pin.matches("135790")
    # a wrong old PIN costs a try (spent before the comparison), the PIN stays
    atc, arqc = script_session(term, card)
    wrong = pin_change_script(bank, PAN, 1, atc, arqc, "111111", old_pin="000000")
    assert term(wrong) == (b"", 0x63C2)
    image = CardImage.load(card.image.path)
    assert image.bank_pin.matches("135790") and image.bank_pin.tries_left == 2
    # the same accepted command replayed in a later session fails its MAC
    atc, arqc = script_session(term, card)
    assert term(change) == (b"", 0x6982)


def test_issuer_update_record_and_put_data(term: Terminal, card: VirtualCard, keystore) -> None:
    bank = keystore.bank("102")
    start(term)
    answer = generate_ac(term)
    atc, arqc = int.from_bytes(answer[3:5], "big"), answer[5:13]
    channel = SecureChannel.issuer(bank, PAN, 1, atc, arqc)
    record = tlv.tlv(0x70, tlv.tlv(0x9F4D, b"\x0b\x0a"))
    bad = bytearray(channel.update_record(4, 2, record))
    bad[-1] ^= 1
    assert term(bytes(bad)) == (b"", 0x6982)  # a wrong MAC does not use up the session's script
    term.ok(channel.update_record(4, 1, record))
    assert term("00B2012400") == (record, 0x9000)
    atc, arqc = script_session(term, card)
    channel = SecureChannel.issuer(bank, PAN, 1, atc, arqc)
    assert term(channel.update_record(4, 2, b"\x71\x00")) == (b"", 0x6700)
    assert term("00DC010C03700100") == (b"", 0x6982)  # plain UPDATE RECORD refused here
    assert term(channel.put_data(0x9F4F, b"\x00")) == (b"", 0x6A88)
    # rotate the SMC key (a new session: one script command per session)
    atc, arqc = script_session(term, card)
    channel = SecureChannel.issuer(bank, PAN, 1, atc, arqc)
    term.ok(channel.put_key(0xDF03, bytes(range(16))))
    assert card.image.emv_keys["smc"] == bytes(range(16))
    assert term(channel.finish_personalisation()) == (b"", 0x6985)  # already personalised


def test_personalisation_through_commands_equals_factory(
    keystore, algorithm: Algorithm, tmp_path
) -> None:
    """issuance.md steps 5-6 on a blank card give the same card as new_card."""
    from card.issue import new_blank_card

    issued, expires = date(2024, 1, 15), date(2034, 1, 15)
    blank_path = tmp_path / "blank.json"
    new_blank_card(
        blank_path, keystore=keystore, algorithm=algorithm, region="430100", card_factor=FACTOR
    )
    card = VirtualCard.open(blank_path, strict=True)
    term = Terminal(card)
    card.power_on()
    term.ok("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
    assert term("00B2072C00") == (b"", 0x6A83)  # every record empty
    # card centre: EXTERNAL AUTHENTICATE 04 + UPDATE RECORD
    challenge = term.ok(f"00840000{algorithm.block_size:02X}")
    key04 = keystore.card_key(algorithm, 0x04, "430100", card.atr[-9:-1])
    term.ok(bytes((0, 0x82, 0, 4, len(challenge))) + encrypt_ecb(algorithm, key04, challenge))
    records = ssse_records(
        HOLDER,
        algorithm=algorithm,
        region="430100",
        card_factor=card.atr[-9:-1],
        card_number="X00000019",
        issue_date=issued,
        expiry_date=expires,
        psn_no="43010000000000012345",
    )
    for fid, recs in records.items():
        term.ok(f"00A4000C02{fid}")
        for number, rec in recs.items():
            term.ok(bytes((0, 0xDC, number, 0x04, len(rec))) + rec)
    # bank: secure channel with the personalisation keys
    term.ok(SELECT_ADF)
    assert term(GPO) == (b"", 0x6985)  # not personalised yet
    bank = keystore.bank("102")
    challenge = term.ok(f"00840000{algorithm.block_size:02X}")
    atc = int.from_bytes(term.ok("80CA9F3600")[3:], "big")
    emv = emv_records(HOLDER, pan=PAN, pan_sequence=1, issue_date=issued, expiry_date=expires)
    commands = personalisation_script(
        bank,
        card.atr[-9:-1],
        atc,
        challenge,
        pan=PAN,
        pan_sequence=1,
        records=emv,
        bank_pin="123456",
    )
    for apdu in commands:
        term.ok(apdu)
    personalised = CardImage.load(blank_path)
    factory = new_card(
        None,
        HOLDER,
        keystore=keystore,
        algorithm=algorithm,
        region="430100",
        card_number="X00000019",
        card_factor=FACTOR,
        issue_date=issued,
        expiry_date=expires,
        psn_no="43010000000000012345",
        pan=PAN,
        pan_sequence=1,
    )
    assert personalised.records == factory.records
    assert personalised.emv_keys == factory.emv_keys  # UDKs only; personalisation keys erased
    assert personalised.ssse_keys == factory.ssse_keys
    assert personalised.emv_lifecycle == "personalised"
    # and it transacts: ARQC recomputed by the issuer
    card.reset()
    start(term)
    answer = generate_ac(term)
    udk = ref.udk(bank.imk_ac, PAN, 1)
    assert answer[5:13] == ref.retail_mac(ref.session_key(udk, 1), CDOL1 + AIP + b"\x00\x01")


def test_blank_card_refuses_wrong_personalisation_key(
    blank_card: VirtualCard, keystore, algorithm
) -> None:
    term = Terminal(blank_card)
    term.ok(SELECT_ADF)
    wrong_bank = keystore.bank("105")
    assert term(
        SecureChannel.personalisation(wrong_bank, FACTOR, 0, bytes(8)).finish_personalisation()
    ) == (
        b"",
        0x6985,
    )  # no challenge yet
    challenge = term.ok(f"00840000{algorithm.block_size:02X}")
    channel = SecureChannel.personalisation(wrong_bank, FACTOR, 0, challenge)
    assert term(channel.put_key(0xDF01, bytes(16))) == (b"", 0x6982)
    right = SecureChannel.personalisation(keystore.bank("102"), FACTOR, 0, challenge)
    assert term(right.finish_personalisation()) == (b"", 0x6985)  # no UDKs yet
    assert term(b"\x80\xae\x80\x00\x1d" + CDOL1 + b"\x00") == (b"", 0x6985)
