"""A card session: SSSE commands over any card channel, with the PSAM beside it.

This is the *protocol-to-workflow* seam: each method is one step of
``docs/card.md`` (select, read records, authenticate, verify, proof,
PIN maintenance), raising typed errors instead of returning status words.
The channel is anything with ``transmit(apdu) -> (data, sw)`` that already
handles ``61xx`` / ``6Cxx`` (the reader layer), and an ``atr``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from card.keystore import (
    KEY_MAINTENANCE,
    KEY_MEDICAL_READ,
    KEY_TERMINAL_AUTH,
    KEY_TRANSACTION,
)
from card.sw import SW, is_wrong_pin
from terminal import apdu
from terminal.cardinfo import (
    CardDataError,
    CardIdentity,
    HolderData,
    IssuanceData,
    MedicalData,
    algorithm_from_fci,
    identity_from_atr,
    parse_identification_code,
)
from terminal.psam import Psam

EF05_RECORDS = 7
EF06_RECORDS = 7
DF04_RECORDS = 4
#: GET CHALLENGE Le: 8 bytes on every card, as readers of real cards ask (card.md §What real
#: cards do); EXTERNAL AUTHENTICATE and MACs pad it with zeros to a block
CHALLENGE_LENGTH = 8
#: INTERNAL AUTHENTICATE P2: 00 = the internal-auth key 01, as real readers send it
INTERNAL_AUTH_P2 = 0x00


class CardChannel(Protocol):
    """What a session needs from a reader: the ATR and one APDU exchange."""

    def transmit(self, command: bytes) -> tuple[bytes, int]: ...


class WrongPin(Exception):
    """The card refused the PIN; ``tries_left`` more attempts before it blocks."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        if tries_left:
            message = f"wrong PIN: {tries_left} {'try' if tries_left == 1 else 'tries'} left"
        else:
            message = "wrong PIN: the PIN is now blocked; the holder must go to a bank branch"
        super().__init__(message)


class PinBlocked(Exception):
    """A PIN is blocked (6983): the SSSE PIN at a bank branch or the card centre, the bank
    PIN at the issuing bank."""

    def __init__(self, pin: str = "ssse") -> None:
        self.pin = pin
        if pin == "bank":
            message = (
                "the bank PIN is blocked: the issuing bank unblocks it (unblock or reset, "
                "not change)"
            )
        else:
            message = (
                "the social security PIN is blocked: the holder must have it unblocked "
                "at a bank branch, the card centre or a designated hospital"
            )
        super().__init__(message)


@dataclass
class CardRead:
    """What the desk read from the card before any PIN."""

    identity: CardIdentity
    issuance: IssuanceData
    holder: HolderData
    medical: MedicalData | None = None


@dataclass
class CardSession:
    """One card in one reader, driven step by step; counts the APDUs it sends."""

    channel: CardChannel
    psam: Psam
    atr: bytes
    apdu_count: int = 0
    trace: Callable[[bytes, bytes, int], None] | None = None
    identity: CardIdentity = field(init=False)

    def __post_init__(self) -> None:
        self.identity = identity_from_atr(self.atr)

    # --- transport -----------------------------------------------------------------

    def exchange(self, command: bytes) -> tuple[bytes, int]:
        self.apdu_count += 1
        data, sw = self.channel.transmit(command)
        if self.trace is not None:
            self.trace(command, data, sw)
        return data, sw

    def send(self, command: bytes, name: str) -> bytes:
        data, sw = self.exchange(command)
        if sw != SW.OK:
            raise apdu.CardStatusError(name, sw)
        return data

    # --- reading -------------------------------------------------------------------

    def select_ssse(self) -> None:
        """SELECT SSSE with its FCI; the algorithm the card announces there is the one used."""
        fci = self.send(apdu.select_aid(apdu.SSSE_AID), "SELECT SSSE")
        algorithm = algorithm_from_fci(fci)
        if algorithm is not self.identity.algorithm:
            self.identity = replace(self.identity, algorithm=algorithm)

    def read_records(self, sfi: int, count: int, name: str) -> dict[int, bytes]:
        """Records 1..count of EF ``sfi`` as ``{tag: value}`` (TLV records)."""
        records: dict[int, bytes] = {}
        for number in range(1, count + 1):
            record = self.send(apdu.read_record(sfi, number), f"READ RECORD {name}.{number}")
            try:
                tag, value = apdu.parse_tlv_record(record)
            except ValueError as exc:
                raise CardDataError(f"{name} record {number}: {exc}") from exc
            records[tag] = value
        return records

    def read_public(self) -> CardRead:
        """The real reading order (card.md §What real cards do): SELECT SSSE, EF05, mutual
        authentication (:meth:`authenticate`), then EF06.

        EF06 is free to read on the card; the terminal reads it only after both
        sides proved genuine, as readers of real cards do.
        """
        self.select_ssse()
        issuance = IssuanceData.from_records(
            self.read_records(apdu.SFI_ISSUANCE, EF05_RECORDS, "EF05")
        )
        region, factor = parse_identification_code(issuance.identification_code)
        if (region, factor) != (self.identity.region, self.identity.card_factor):
            raise CardDataError("EF05 card identification code does not match the ATR")
        self.authenticate()
        holder = HolderData.from_records(self.read_records(apdu.SFI_HOLDER, EF06_RECORDS, "EF06"))
        return CardRead(self.identity, issuance, holder)

    def authenticate(self) -> None:
        """Is the card genuine, then is the terminal genuine (SSSE selected).

        GET CHALLENGE, INTERNAL AUTHENTICATE (P2 00, key 01) over a PSAM-chosen
        block, checked by the PSAM; then GET CHALLENGE and EXTERNAL AUTHENTICATE
        0A with the PSAM's cryptogram.
        """
        self.psam.require(KEY_TERMINAL_AUTH, self.identity, "authenticate the terminal")
        self.get_challenge()  # the real order; the input below is the PSAM's own randomness
        block = self.psam.internal_auth_block(self.identity)
        command = apdu.internal_authenticate(INTERNAL_AUTH_P2, block, apdu.INTERNAL_AUTH_ANSWER)
        answer = self.send(command, "INTERNAL AUTH")
        self.psam.check_internal_auth(self.identity, block, answer)
        self.external_authenticate(KEY_TERMINAL_AUTH, "authenticate the terminal")

    def get_challenge(self) -> bytes:
        challenge = self.send(apdu.get_challenge(CHALLENGE_LENGTH), "GET CHALLENGE")
        if len(challenge) != CHALLENGE_LENGTH:
            raise CardDataError(f"challenge of {len(challenge)} bytes, expected {CHALLENGE_LENGTH}")
        return challenge

    def external_authenticate(self, kid: int, operation: str) -> None:
        """GET CHALLENGE then EXTERNAL AUTHENTICATE ``kid`` with the PSAM's cryptogram."""
        self.psam.require(kid, self.identity, operation)  # before any byte goes out
        challenge = self.get_challenge()
        cryptogram = self.psam.external_auth_cryptogram(self.identity, kid, challenge, operation)
        self.send(apdu.external_authenticate(kid, cryptogram), f"EXTERNAL AUTH {kid:02X}")

    def read_medical(self) -> MedicalData:
        """EXTERNAL AUTHENTICATE 07, then the DF04 records (hospital PSAMs only)."""
        self.psam.require(KEY_MEDICAL_READ, self.identity, "read the medical insurance data")
        self.external_authenticate(KEY_MEDICAL_READ, "read the medical insurance data")
        self.send(apdu.select_fid(apdu.DF04_FID), "SELECT DF04")
        medical = MedicalData.from_records(self.read_records(0, DF04_RECORDS, "DF04"))
        return medical

    # --- PIN -----------------------------------------------------------------------

    def pin_tries_left(self) -> int:
        """VERIFY without data: tries left (0 = blocked); ``-1`` when already verified."""
        _, sw = self.exchange(apdu.verify(None))
        if sw == SW.OK:
            return -1
        if sw == SW.PIN_BLOCKED:
            return 0
        if is_wrong_pin(sw):
            return sw & 0x0F
        raise apdu.CardStatusError("VERIFY (tries left)", sw)

    def _pin_command(self, command: bytes, name: str) -> None:
        """Run a command that checks the PIN: 9000 done, 6983 blocked, 63Cx wrong (x tries left)."""
        _, sw = self.exchange(command)
        if sw == SW.OK:
            return
        if sw == SW.PIN_BLOCKED:
            raise PinBlocked()
        if is_wrong_pin(sw):
            raise WrongPin(sw & 0x0F)
        raise apdu.CardStatusError(name, sw)

    def verify_pin(self, pin: str) -> None:
        self._pin_command(apdu.verify(pin), "VERIFY")

    def card_present_proof(self, nonce: bytes) -> bytes:
        """INTERNAL AUTHENTICATE 02 over the service's nonce (PIN must be verified)."""
        if len(nonce) != self.identity.algorithm.block_size:
            raise CardDataError(
                f"the service's nonce has {len(nonce)} bytes; "
                f"a {self.identity.algorithm.value} card needs {self.identity.algorithm.block_size}"
            )
        return self.send(apdu.internal_authenticate(KEY_TRANSACTION, nonce), "INTERNAL AUTH 02")

    def change_pin(self, old: str, new: str) -> None:
        self._pin_command(apdu.change_pin(old, new), "CHANGE PIN")

    def reset_retry_counter(self, new_pin: str | None) -> None:
        """RESET RETRY COUNTER (unblock, or set ``new_pin`` and unblock) with a key-03 MAC."""
        self.psam.require_pin_unblock(self.identity, new_pin)  # before any byte goes out
        challenge = self.get_challenge()
        command = self.psam.reset_retry_counter_apdu(self.identity, challenge, new_pin)
        self.send(command, "RESET RETRY COUNTER")

    # --- maintenance ---------------------------------------------------------------

    def update_record(self, sfi: int, number: int, record: bytes) -> None:
        """UPDATE RECORD (needs EXTERNAL AUTHENTICATE 04 earlier in this session)."""
        self.send(apdu.update_record(sfi, number, record), f"UPDATE RECORD {sfi:02X}.{number}")

    def authenticate_maintenance(self) -> None:
        self.external_authenticate(KEY_MAINTENANCE, "update card data")
