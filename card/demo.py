"""A short real session with a fresh card: ``python -m card demo``.

Creates a development key store and a card in a temporary directory, then
plays what a hospital desk and a bank terminal would send, printing every
exchange and checking the card's cryptograms against the issuer's keys.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from card.crypto import Algorithm, emv_session_key, emv_udk, encrypt_ecb, retail_mac
from card.emv_script import pin_block, pin_change_script
from card.icc import VirtualCard
from card.issue import new_card, sample_holder
from card.keystore import KEY_MEDICAL_READ, KEY_TERMINAL_AUTH, KEY_TRANSACTION, KeyStore
from card.layout import DEBIT_AID, PSE_NAME, SSSE_AID


def _apdu(header: str, data: bytes = b"", le: int | None = None) -> bytes:
    out = bytes.fromhex(header)
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le,))
    return out


def run_demo(algorithm: Algorithm = Algorithm.SM4, out=print) -> int:
    with tempfile.TemporaryDirectory(prefix="sscard-demo-") as tmp:
        keystore = KeyStore.load_or_create(Path(tmp) / "keystore.json")
        path = Path(tmp) / "card.json"
        image = new_card(path, sample_holder(), keystore=keystore, algorithm=algorithm)
        card = VirtualCard.open(path)
        bank = keystore.bank(image.bank_code)
        block = algorithm.block_size

        def send(label: str, apdu: bytes) -> bytes:
            response = card.transmit(apdu)
            out(f"{label:<34} > {apdu.hex().upper()}")
            out(f"{'':<34} < {response.hex().upper()}")
            return response

        out(f"card image {path} ({algorithm.value})")
        out(f"{'power on':<34} ATR {card.power_on().hex().upper()}")
        send("SELECT SSSE", _apdu("00A40400", SSSE_AID, 0))
        send("READ RECORD EF05 #7 (card number)", bytes.fromhex("00B2072C00"))
        # the real order (card.md §What real cards do): is the card, then the terminal, genuine
        send("GET CHALLENGE", _apdu("00840000", le=8))
        send("INTERNAL AUTHENTICATE 00", _apdu("00880000", bytes(range(block)), 8))
        challenge = send("GET CHALLENGE", _apdu("00840000", le=8))[:-2].ljust(block, b"\x00")
        key0a = keystore.card_key(algorithm, KEY_TERMINAL_AUTH, image.region, image.card_factor)
        send(
            "EXTERNAL AUTHENTICATE 0A", _apdu("0082000A", encrypt_ecb(algorithm, key0a, challenge))
        )
        name = send("READ RECORD EF06 tag 09 (name)", bytes.fromhex("00B2093000"))
        holder_name = name[2:-2].rstrip(b"\x00").decode("gbk")
        out(f"{'':<34}   name = {holder_name}")
        send("READ DF04 before key 07", bytes.fromhex("00A4000002DF04"))
        send("", bytes.fromhex("00B2010400"))
        challenge = send("GET CHALLENGE", _apdu("00840000", le=block))[:-2]
        key07 = keystore.card_key(algorithm, KEY_MEDICAL_READ, image.region, image.card_factor)
        send(
            "EXTERNAL AUTHENTICATE 07", _apdu("00820007", encrypt_ecb(algorithm, key07, challenge))
        )
        send("READ DF04 #2 (insurance type)", bytes.fromhex("00B2020400"))
        send("VERIFY SSSE PIN 123456", _apdu("00200000", bytes.fromhex("123456")))
        nonce = bytes(range(block))
        crypto = send("INTERNAL AUTHENTICATE 02", _apdu("00880002", nonce, block))[:-2]
        key02 = keystore.card_key(algorithm, KEY_TRANSACTION, image.region, image.card_factor)
        ok = crypto == encrypt_ecb(algorithm, key02, nonce)
        out(f"{'':<34}   settlement recomputes: {'match' if ok else 'MISMATCH'}")

        send("SELECT PSE", _apdu("00A40400", PSE_NAME, 0))
        send("READ PSE directory", bytes.fromhex("00B2010C00"))
        send("SELECT debit ADF", _apdu("00A40400", DEBIT_AID, 0))
        pdol_data = bytes.fromhex("00" + "000000000000" + "0156")  # 9F7A, 9F02, 5F2A
        send("GET PROCESSING OPTIONS (PDOL)", _apdu("80A80000", b"\x83\x09" + pdol_data, 0))
        for sfi in (1, 2, 3):  # the AFL: SFI 1-3, record 1 each
            send(f"READ RECORD SFI {sfi} #1", bytes((0x00, 0xB2, 0x01, (sfi << 3) | 4, 0x00)))
        send("VERIFY bank PIN (plaintext)", _apdu("00200080", pin_block("123456")))
        cdol1 = bytes.fromhex("0000000100000000000000000156000000000001562611230012345678")
        answer = send("GENERATE AC (ARQC)", _apdu("80AE8000", cdol1, 0))[:-2]
        atc, arqc = int.from_bytes(answer[3:5], "big"), answer[5:13]
        udk = emv_udk(bank.imk_ac, image.pan or "", image.pan_sequence or 0)
        expected = retail_mac(
            emv_session_key(udk, atc), cdol1 + bytes.fromhex("1800") + answer[3:5]
        )
        out(f"{'':<34}   issuer recomputes ARQC: {'match' if expected == arqc else 'MISMATCH'}")
        script = pin_change_script(
            bank, image.pan or "", image.pan_sequence or 0, atc, arqc, "654321", "123456"
        )
        send("issuer script: PIN CHANGE (old PIN)", script)
        send("VERIFY bank PIN 654321", _apdu("00200080", pin_block("654321")))
        card.power_off()
        shown = VirtualCard.open(path).image
        out(
            f"persisted: ATC {shown.atc}, SSSE PIN tries {shown.ssse_pin_tries_left}, "
            f"bank PIN tries {shown.bank_pin_tries_left}"
        )
        return 0 if ok and expected == arqc else 1
