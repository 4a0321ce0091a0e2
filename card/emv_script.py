"""Issuer-script secure messaging of the financial application — card and bank side.

EMV 4.3 Book 2 §9.2 / Book 3 §6.5 shape, with the project's choices below.
Used by the card (to verify) and by the bank's terminal (to build commands).

**Command MAC.** For ``84 24`` (PIN CHANGE/UNBLOCK), ``84 DC`` (UPDATE RECORD)
and ``84 DA`` (PUT DATA) the last four bytes of the data field are::

    MAC = retail_mac(SK_SMI, CLA INS P1 P2 Lc || ATC || ARQC || data)[:4]
    SK_SMI = emv_session_key(UDK_SMI, ATC)

where ``Lc`` counts the MAC, ``ATC`` (2 bytes) and ``ARQC`` (8 bytes) are those
of the card's last GENERATE AC in the same session, and ``data`` is the
plaintext or enciphered data without the MAC.

**Enciphered data** uses ``SK_SMC = emv_session_key(UDK_SMC, ATC)``, 3DES ECB:

* a PIN (``84 24 00 02``): the 8-byte ISO 9564 format-2 block ``2L P P .. F F``
  (``L`` = number of digits, 4–12) enciphered as one block — the same block
  as the plaintext offline VERIFY **(project choice)**; a change with the old
  PIN (``84 24 00 01``, card.md §What real cards do) sends the new PIN's
  enciphered block followed by the old PIN's **(project choice)**;
* a key object (``84 DA DF01/DF02/DF03`` = UDK-AC/SMI/SMC): the 16-byte key
  enciphered as two blocks **(project choice)**.

**Bank personalisation of a blank card (project choice).** A blank card has
no UDKs yet, so the chip maker — which knows the co-branding bank when it
prints the card — loads per-card *personalisation keys*
``KP_SMI = DIV(IMK_SMI, card_factor)`` and ``KP_SMC = DIV(IMK_SMC, card_factor)``
(3DES, the card factor from the ATR). While the application is blank the same
MAC and encipherment are used with ``KP_*`` in place of ``UDK_*`` and the last
GET CHALLENGE of the session in place of the ARQC (the ATC is the card's, 0 on
a new card). The bank then: PUT DATA ``DF01``–``DF03`` (the UDKs, enciphered),
sets the bank PIN with ``84 24 00 02``, writes the records with ``84 DC`` and
ends with PUT DATA ``DF7F 01``, which switches the application to
*personalised* and erases ``KP_*``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from card.crypto import (
    Algorithm,
    decrypt_ecb,
    diversify,
    emv_session_key,
    emv_udk,
    encrypt_ecb,
    retail_mac,
)
from card.keystore import BankKeys

MAC_LENGTH = 4
TAG_UDK_AC = 0xDF01
TAG_UDK_SMI = 0xDF02
TAG_UDK_SMC = 0xDF03
TAG_LIFECYCLE = 0xDF7F
LIFECYCLE_PERSONALISED = b"\x01"
KEY_TAGS = {TAG_UDK_AC: "ac", TAG_UDK_SMI: "smi", TAG_UDK_SMC: "smc"}


@dataclass(frozen=True)
class CardUDKs:
    """The card's EMV unique keys (option A from the bank's IMKs, PAN and PAN sequence)."""

    ac: bytes
    smi: bytes
    smc: bytes

    @classmethod
    def derive(cls, bank: BankKeys, pan: str, pan_sequence: int) -> CardUDKs:
        return cls(
            emv_udk(bank.imk_ac, pan, pan_sequence),
            emv_udk(bank.imk_smi, pan, pan_sequence),
            emv_udk(bank.imk_smc, pan, pan_sequence),
        )


def personalisation_keys(bank: BankKeys, card_factor: bytes) -> tuple[bytes, bytes]:
    """``(KP_SMI, KP_SMC)`` that the chip maker loads into a blank card."""
    return (
        diversify(Algorithm.TDES, bank.imk_smi, card_factor),
        diversify(Algorithm.TDES, bank.imk_smc, card_factor),
    )


# --- PIN blocks ------------------------------------------------------------------------


def pin_block(pin: str) -> bytes:
    """ISO 9564 format 2: ``2L`` + digits + ``F`` fill to 8 bytes (EMV plaintext PIN)."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    return bytes.fromhex((f"2{len(pin):X}" + pin).ljust(16, "F"))


def parse_pin_block(block: bytes) -> str | None:
    """The digits of a format-2 block, or None if the block is malformed."""
    if len(block) != 8:
        return None
    text = block.hex().upper()
    if text[0] != "2":
        return None
    length = int(text[1], 16)
    if not 4 <= length <= 12:
        return None
    digits, fill = text[2 : 2 + length], text[2 + length :]
    if not digits.isdigit() or fill != "F" * len(fill):
        return None
    return digits


# --- secure channel --------------------------------------------------------------------


@dataclass(frozen=True)
class SecureChannel:
    """Session keys and freshness (ATC, ARQC or challenge) for one script session."""

    sk_smi: bytes
    sk_smc: bytes
    atc: int
    arqc: bytes  # the last application cryptogram, or the GET CHALLENGE on a blank card

    @classmethod
    def from_keys(cls, smi: bytes, smc: bytes, atc: int, arqc: bytes) -> SecureChannel:
        """From card-level keys (UDK or personalisation keys)."""
        return cls(emv_session_key(smi, atc), emv_session_key(smc, atc), atc, arqc)

    @classmethod
    def issuer(
        cls, bank: BankKeys, pan: str, pan_sequence: int, atc: int, arqc: bytes
    ) -> SecureChannel:
        """The issuing bank's channel to a personalised card."""
        udks = CardUDKs.derive(bank, pan, pan_sequence)
        return cls.from_keys(udks.smi, udks.smc, atc, arqc)

    @classmethod
    def personalisation(
        cls, bank: BankKeys, card_factor: bytes, atc: int, challenge: bytes
    ) -> SecureChannel:
        """The bank's channel to a blank card (challenge in place of the ARQC)."""
        smi, smc = personalisation_keys(bank, card_factor)
        return cls.from_keys(smi, smc, atc, challenge)

    # -- MAC --

    def mac(self, header: bytes, lc: int, data: bytes) -> bytes:
        message = header + bytes((lc,)) + self.atc.to_bytes(2, "big") + self.arqc + data
        return retail_mac(self.sk_smi, message)[:MAC_LENGTH]

    def command(self, cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        """The full APDU with the MAC appended (no Le)."""
        header = bytes((cla, ins, p1, p2))
        lc = len(data) + MAC_LENGTH
        if lc > 255:
            raise ValueError("script command data too long")
        return header + bytes((lc,)) + data + self.mac(header, lc, data)

    def unwrap(self, header: bytes, field: bytes) -> bytes | None:
        """Card side: the data without its MAC if the MAC is right, else None."""
        if len(field) < MAC_LENGTH:
            return None
        data, mac = field[:-MAC_LENGTH], field[-MAC_LENGTH:]
        if not hmac.compare_digest(self.mac(header, len(field), data), mac):
            return None
        return data

    # -- encipherment --

    def encipher(self, plaintext: bytes) -> bytes:
        return encrypt_ecb(Algorithm.TDES, self.sk_smc, plaintext)

    def decipher(self, ciphertext: bytes) -> bytes:
        return decrypt_ecb(Algorithm.TDES, self.sk_smc, ciphertext)

    # -- the script commands --

    def pin_change(self, new_pin: str | None, old_pin: str | None = None) -> bytes:
        """``84 24 00 00`` (unblock), ``84 24 00 01`` (change ``old_pin`` to ``new_pin``)
        or ``84 24 00 02`` (set ``new_pin`` and unblock)."""
        if new_pin is None:
            if old_pin is not None:
                raise ValueError("a PIN change needs the new PIN")
            return self.command(0x84, 0x24, 0x00, 0x00, b"")
        new_block = self.encipher(pin_block(new_pin))
        if old_pin is not None:
            old_block = self.encipher(pin_block(old_pin))
            return self.command(0x84, 0x24, 0x00, 0x01, new_block + old_block)
        return self.command(0x84, 0x24, 0x00, 0x02, new_block)

    def update_record(self, sfi: int, number: int, record: bytes) -> bytes:
        """``84 DC number (SFI<<3|4)`` writing ``record`` (a ``70`` template)."""
        if not 1 <= sfi <= 30 or not 1 <= number <= 254:
            raise ValueError("SFI is 1..30 and record number 1..254")
        return self.command(0x84, 0xDC, number, (sfi << 3) | 4, record)

    def put_data(self, tag: int, value: bytes) -> bytes:
        """``84 DA`` tag-hi tag-lo with ``value``."""
        return self.command(0x84, 0xDA, tag >> 8, tag & 0xFF, value)

    def put_key(self, tag: int, key: bytes) -> bytes:
        """PUT DATA of a key object (``DF01``–``DF03``), the key enciphered."""
        if tag not in KEY_TAGS or len(key) != 16:
            raise ValueError("key objects are DF01/DF02/DF03 with 16-byte keys")
        return self.put_data(tag, self.encipher(key))

    def finish_personalisation(self) -> bytes:
        return self.put_data(TAG_LIFECYCLE, LIFECYCLE_PERSONALISED)


def pin_change_script(
    bank_keys: BankKeys,
    pan: str,
    pan_sequence: int,
    atc: int,
    arqc: bytes,
    new_pin: str | None,
    old_pin: str | None = None,
) -> bytes:
    """The bank's PIN CHANGE/UNBLOCK issuer script command (full APDU).

    ``atc`` and ``arqc`` come from the card's GENERATE AC answer in the same
    session; ``new_pin`` None unblocks only; with ``old_pin`` the PIN changes
    only if the old one is right (P2 ``01``).
    """
    channel = SecureChannel.issuer(bank_keys, pan, pan_sequence, atc, arqc)
    return channel.pin_change(new_pin, old_pin)


def personalisation_script(
    bank_keys: BankKeys,
    card_factor: bytes,
    atc: int,
    challenge: bytes,
    *,
    pan: str,
    pan_sequence: int,
    records: dict[int, dict[int, bytes]],
    bank_pin: str,
) -> list[bytes]:
    """Every command the bank sends to personalise a blank card's financial application.

    ``challenge`` is the card's answer to one GET CHALLENGE in the same session,
    ``atc`` its ATC (``9F36``, 0 on a new card); ``records`` maps each SFI to its
    record numbers and ``70`` templates (see :func:`card.issue.emv_records`).
    """
    channel = SecureChannel.personalisation(bank_keys, card_factor, atc, challenge)
    udks = CardUDKs.derive(bank_keys, pan, pan_sequence)
    commands = [
        channel.put_key(TAG_UDK_AC, udks.ac),
        channel.put_key(TAG_UDK_SMI, udks.smi),
        channel.put_key(TAG_UDK_SMC, udks.smc),
        channel.pin_change(bank_pin),
    ]
    commands += [
        channel.update_record(sfi, n, rec)
        for sfi, file in sorted(records.items())
        for n, rec in sorted(file.items())
    ]
    commands.append(channel.finish_personalisation())
    return commands
