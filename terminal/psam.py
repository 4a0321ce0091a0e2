"""The PSAM: a terminal's security module, holding only the keys its institution may use.

The card centre provisions one PSAM image per institution (a JSON file, mode
0600, like the issuer key store) from the issuer key store with
``KeyStore.subset``. Entitlements follow ``docs/rules.md`` §PIN
authority and ``card.md`` §Keys:

=====================  ====================================================
role                   keys
=====================  ====================================================
every terminal         01 internal-auth (is the card genuine?),
                       0A terminal auth (is the terminal genuine?)
hospital               + 07 medical read (DF04)
PIN-service hospital,  + 03 PIN unblock (RESET RETRY COUNTER MAC)
special pharmacy
bank branch            + 03, and its own bank's EMV issuer keys, no other bank's
card centre            + 03, + 04 maintenance (UPDATE RECORD)
=====================  ====================================================

Key 02 (the transaction key) never sits in a PSAM: only the settlement
service checks card-present proofs. Every operation the PSAM is not entitled
to raises :class:`NotEntitled` before a byte goes to the card.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from card.crypto import encrypt_ecb, ssse_mac
from card.emv_script import pin_change_script
from card.keystore import (
    DEFAULT_BANKS,
    KEY_INTERNAL_AUTH,
    KEY_MAINTENANCE,
    KEY_MEDICAL_READ,
    KEY_PIN_UNBLOCK,
    KEY_TERMINAL_AUTH,
    BankKeys,
    KeyStore,
    KeyStoreError,
    write_secret_json,
)
from terminal import apdu
from terminal.cardinfo import CardIdentity

FORMAT = "sscard-psam/1"

KEY_NAMES = {
    KEY_INTERNAL_AUTH: "internal authentication (01)",
    KEY_PIN_UNBLOCK: "PIN unblock (03)",
    KEY_MAINTENANCE: "card maintenance (04)",
    KEY_MEDICAL_READ: "medical data read (07)",
    KEY_TERMINAL_AUTH: "terminal authentication (0A)",
}
#: INTERNAL AUTHENTICATE P2 00 answers this many bytes (the left half on SM4 cards)
INTERNAL_AUTH_ANSWER = 8


class PsamError(Exception):
    """A PSAM image that cannot be read or written."""


class NotEntitled(Exception):
    """The institution's PSAM does not hold the key an operation needs."""

    def __init__(self, operation: str, reason: str) -> None:
        self.operation = operation
        self.reason = reason
        super().__init__(f"not entitled to {operation}: {reason}")


class CardNotGenuine(Exception):
    """INTERNAL AUTHENTICATE 01 did not match: the card is not one the issuer made."""


class Role(str, Enum):
    """The kind of institution a PSAM belongs to."""

    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"
    BANK_BRANCH = "bank_branch"
    CARD_CENTRE = "card_centre"


def entitled_key_ids(role: Role, *, pin_service: bool = False) -> tuple[int, ...]:
    """SSSE key ids a role may hold (module docstring table)."""
    kids = [KEY_INTERNAL_AUTH, KEY_TERMINAL_AUTH]
    if role is Role.HOSPITAL:
        kids.append(KEY_MEDICAL_READ)
    if role in (Role.BANK_BRANCH, Role.CARD_CENTRE) or (
        pin_service and role in (Role.HOSPITAL, Role.PHARMACY)
    ):
        kids.append(KEY_PIN_UNBLOCK)
    if role is Role.CARD_CENTRE:
        kids.append(KEY_MAINTENANCE)
    return tuple(kids)


def pad_challenge(card: CardIdentity, challenge: bytes) -> bytes:
    """The card's challenge zero-padded to one block (card.md §What real cards do)."""
    size = card.algorithm.block_size
    if not 0 < len(challenge) <= size:
        raise ValueError(f"a {card.algorithm.value} challenge is 1 to {size} bytes")
    return challenge + bytes(size - len(challenge))


def bank_pin_operation(new_pin: str | None, old_pin: str | None) -> str:
    """``change`` (with the old PIN), ``reset`` (a new PIN) or ``unblock``."""
    if old_pin is not None:
        return "change"
    return "reset" if new_pin else "unblock"


@dataclass
class Psam:
    """One institution's PSAM: its identity, role and the keys it was given."""

    institution: str
    role: Role
    keys: KeyStore
    pin_service: bool = False
    bank_code: str | None = None
    city: str | None = None
    psam_id: str = field(default_factory=lambda: secrets.token_hex(6).upper())
    #: card keys derived in this process: (kid, card) -> key (a desk derives each twice)
    _derived: dict[tuple[int, CardIdentity], bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # --- provisioning --------------------------------------------------------------

    @classmethod
    def provision(
        cls,
        issuer: KeyStore,
        institution: str,
        role: Role,
        *,
        pin_service: bool = False,
        bank_code: str | None = None,
        city: str | None = None,
    ) -> Psam:
        """Cut a PSAM for one institution out of the issuer key store (card centre only)."""
        if role is Role.BANK_BRANCH:
            if not bank_code:
                raise PsamError("a bank PSAM needs the bank's code (e.g. 102)")
            if bank_code not in issuer.banks:
                raise PsamError(f"the issuer key store knows no bank {bank_code}")
        elif bank_code:
            raise PsamError("only a bank PSAM carries bank issuer keys")
        if pin_service and role not in (Role.HOSPITAL, Role.PHARMACY):
            raise PsamError("only hospitals and pharmacies are designated for PIN service")
        kids = entitled_key_ids(role, pin_service=pin_service)
        banks = (bank_code,) if bank_code else ()
        try:
            keys = issuer.subset(kids, banks, city=city)
        except KeyStoreError as exc:
            raise PsamError(str(exc)) from exc
        return cls(institution, role, keys, pin_service, bank_code, city)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "psam_id": self.psam_id,
            "institution": self.institution,
            "role": self.role.value,
            "pin_service": self.pin_service,
            "bank_code": self.bank_code,
            "city": self.city,
            "keys": self.keys.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Psam:
        if data.get("format") != FORMAT:
            raise PsamError(f"not a PSAM image of format {FORMAT}")
        try:
            return cls(
                institution=data["institution"],
                role=Role(data["role"]),
                keys=KeyStore.from_json(data["keys"]),
                pin_service=bool(data.get("pin_service", False)),
                bank_code=data.get("bank_code"),
                city=data.get("city"),
                psam_id=data["psam_id"],
            )
        except (KeyError, ValueError, KeyStoreError) as exc:
            raise PsamError(f"malformed PSAM image: {exc}") from exc

    @classmethod
    def load(cls, path: Path | str) -> Psam:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PsamError(f"no PSAM image at {path}") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise PsamError(f"cannot read PSAM image {path}: {exc}") from exc
        return cls.from_json(data)

    def save(self, path: Path | str) -> None:
        """Write atomically with mode 0600 (temp file, fsync, rename)."""
        write_secret_json(path, self.to_json(), prefix=".psam-")

    # --- entitlements --------------------------------------------------------------

    @property
    def key_ids(self) -> tuple[int, ...]:
        return entitled_key_ids(self.role, pin_service=self.pin_service)

    def describe(self) -> str:
        kind = self.role.value + (" (PIN service)" if self.pin_service else "")
        if self.bank_code:
            kind += f" of bank {self.bank_code}"
        return f"{self.institution}, {kind}"

    def _card_key(self, kid: int, card: CardIdentity, operation: str) -> bytes:
        self.require_role_key(kid, operation)
        derived = self._derived.get((kid, card))
        if derived is not None:
            return derived
        try:
            key = self.keys.card_key(card.algorithm, kid, card.region, card.card_factor)
        except KeyStoreError:
            raise NotEntitled(
                operation,
                f"the PSAM of {self.institution} has no key {kid:02X} "
                f"({card.algorithm.value}) for region {card.region}",
            ) from None
        if len(self._derived) >= 64:
            self._derived.clear()  # a few cards' worth is all a desk needs
        self._derived[(kid, card)] = key
        return key

    def require_role_key(self, kid: int, operation: str) -> None:
        """Raise :class:`NotEntitled` unless the role holds key ``kid`` at all (no card needed)."""
        if kid not in self.key_ids:
            raise NotEntitled(
                operation,
                f"a PSAM of {self.describe()} holds no {KEY_NAMES.get(kid, f'key {kid:02X}')} key",
            )

    def can(self, kid: int) -> bool:
        return kid in self.key_ids

    def require(self, kid: int, card: CardIdentity, operation: str) -> None:
        """Raise :class:`NotEntitled` unless this PSAM may use key ``kid`` on ``card``."""
        self._card_key(kid, card, operation)

    # --- operations ----------------------------------------------------------------

    def internal_auth_block(self, card: CardIdentity) -> bytes:
        """A fresh random block to send with INTERNAL AUTHENTICATE (key 01).

        The PSAM's own randomness, never the card's challenge: a card chooses its
        challenge, so an answer over it would prove nothing fresh.
        """
        self.require(KEY_INTERNAL_AUTH, card, "authenticate the card")
        return secrets.token_bytes(card.algorithm.block_size)

    def check_internal_auth(self, card: CardIdentity, block: bytes, cryptogram: bytes) -> None:
        """Check the card's answer ``ENC(K01_card, block)``; raise :class:`CardNotGenuine`.

        The whole block (P2 ``01``) or its left 8 bytes (P2 ``00``, which an SM4
        card answers with the left half, card.md §What real cards do).
        """
        key = self._card_key(KEY_INTERNAL_AUTH, card, "authenticate the card")
        expected = encrypt_ecb(card.algorithm, key, block)
        if len(cryptogram) == INTERNAL_AUTH_ANSWER:
            expected = expected[:INTERNAL_AUTH_ANSWER]
        if not secrets.compare_digest(expected, cryptogram):
            raise CardNotGenuine(
                "the card failed internal authentication: it was not issued with our keys"
            )

    def external_auth_cryptogram(
        self, card: CardIdentity, kid: int, challenge: bytes, operation: str
    ) -> bytes:
        """``ENC(Kkid_card, challenge padded with zeros to a block)`` for EXTERNAL
        AUTHENTICATE (0A terminal, 07 DF04, 04 maintenance; card.md §What real cards do)."""
        key = self._card_key(kid, card, operation)
        return encrypt_ecb(card.algorithm, key, pad_challenge(card, challenge))

    def reset_retry_counter_apdu(
        self, card: CardIdentity, challenge: bytes, new_pin: str | None
    ) -> bytes:
        """RESET RETRY COUNTER with its key-03 MAC (IV = the card's last challenge).

        The MAC covers the command header (Lc counting the MAC) and the new
        PIN, ISO 9797-1 padding method 2 (card.md §Keys, MAC).
        """
        operation = "reset the SSSE PIN" if new_pin else "unblock the SSSE PIN"
        key = self._card_key(KEY_PIN_UNBLOCK, card, operation)
        header, data = apdu.reset_retry_counter_header(new_pin)
        mac = ssse_mac(card.algorithm, key, header + data, pad_challenge(card, challenge))
        return header + data + mac

    def require_pin_unblock(self, card: CardIdentity, new_pin: str | None) -> None:
        operation = "reset the SSSE PIN" if new_pin else "unblock the SSSE PIN"
        self.require(KEY_PIN_UNBLOCK, card, operation)

    def issuer_keys(self, issuing_bank: str, operation: str) -> BankKeys:
        """The issuing bank's EMV issuer master keys, only in that bank's own PSAM."""
        if self.role is not Role.BANK_BRANCH:
            raise NotEntitled(
                operation, f"{self.describe()} is not a bank: bank PINs are never its business"
            )
        if issuing_bank != self.bank_code:
            raise NotEntitled(
                operation,
                f"the card was issued by bank {issuing_bank}; only that bank may touch its bank PIN",
            )
        try:
            return self.keys.bank(issuing_bank)
        except KeyStoreError:
            raise NotEntitled(operation, f"the PSAM holds no keys of bank {issuing_bank}") from None

    def bank_pin_script(
        self,
        issuing_bank: str,
        pan: str,
        pan_sequence: int,
        atc: int,
        arqc: bytes,
        new_pin: str | None,
        old_pin: str | None = None,
    ) -> bytes:
        """The PIN CHANGE/UNBLOCK issuer script (``84 24``) for a card of the PSAM's own bank.

        ``atc``/``arqc`` from the card's GENERATE AC in this session (``card.emv_script``);
        with ``old_pin`` a change that the card checks against the old PIN.
        """
        operation = bank_pin_operation(new_pin, old_pin) + " the bank PIN"
        keys = self.issuer_keys(issuing_bank, operation)
        if self.bank_for_pan(pan) != issuing_bank:
            raise NotEntitled(operation, f"account {pan[:6]}… is not one of bank {issuing_bank}")
        return pin_change_script(keys, pan, pan_sequence, atc, arqc, new_pin, old_pin)

    def bank_for_pan(self, pan: str) -> str | None:
        """Which partner bank issued a PAN, by its BIN (BINs are public; keys are not)."""
        bins = {code: bin_ for code, (_name, bin_) in DEFAULT_BANKS.items()}
        bins.update({code: bank.bin for code, bank in self.keys.banks.items()})
        for code, bin_ in bins.items():
            if pan.startswith(bin_):
                return code
        return None
