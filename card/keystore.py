"""The issuer key store: master keys that never leave the issuer, a PSAM or the service.

One JSON file (hex strings at the edge, bytes inside), mode 0600, written
atomically. A development install generates one on first use; the card
centre, the PSAMs it provisions and the settlement service all read the same
format, so a development machine can share one file.

Layout::

    {
      "format": "sscard-keystore/1",
      "ssse": {"3des": {"01": "<32 hex>", "02": ..., "03": ..., "04": ..., "07": ..., "0A": ...},
               "sm4":  {...}},
      "city_keys": {"3des": {"430100": {"01": "<32 hex>"}}},   # optional, PSAMs only
      "banks": {"102": {"name": "...", "bin": "622202",
                        "imk_ac": "<32 hex>", "imk_smi": "...", "imk_smc": "..."}}
    }

``ssse`` holds master keys by key id (card.md §Keys); ``city_keys`` holds keys
already diversified for one city (``DIV(master, city_factor)``), which a PSAM
may carry instead of a master key; ``banks`` holds each issuing bank's EMV
issuer master keys for the financial application.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from card.crypto import Algorithm, city_key, diversify

FORMAT = "sscard-keystore/1"

#: Key ids of the SSSE application (card.md §Keys).
KEY_INTERNAL_AUTH = 0x01
KEY_TRANSACTION = 0x02
KEY_PIN_UNBLOCK = 0x03
KEY_MAINTENANCE = 0x04
KEY_MEDICAL_READ = 0x07
KEY_TERMINAL_AUTH = 0x0A  # card.md §What real cards do: "is the terminal genuine?"
SSSE_KEY_IDS = (
    KEY_INTERNAL_AUTH,
    KEY_TRANSACTION,
    KEY_PIN_UNBLOCK,
    KEY_MAINTENANCE,
    KEY_MEDICAL_READ,
    KEY_TERMINAL_AUTH,
)

#: Partner banks of a development install: bank code -> (name, UnionPay debit BIN).
DEFAULT_BANKS: dict[str, tuple[str, str]] = {
    "102": ("Industrial and Commercial Bank of China", "622202"),
    "103": ("Agricultural Bank of China", "622848"),
    "104": ("Bank of China", "621661"),
    "105": ("China Construction Bank", "621700"),
    "301": ("Bank of Communications", "622262"),
}


class KeyStoreError(Exception):
    """A missing, unreadable or incomplete key store, or a key it does not hold."""


def write_secret_json(
    path: Path | str, data: object, *, prefix: str, exclusive: bool = False
) -> None:
    """Write ``data`` as JSON readable by the owner only (0600), atomically.

    Temp file in the same directory, fsync, then rename (or, with ``exclusive``,
    a hard link that fails when someone else created the file first), then an
    fsync of the directory. Used for key stores and PSAM images.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def default_path() -> Path:
    """``$SSCARD_KEYSTORE``, else ``$SSCARD_HOME/keystore.json`` (home: ``~/.sscard``)."""
    explicit = os.environ.get("SSCARD_KEYSTORE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("SSCARD_HOME") or Path.home() / ".sscard"
    return Path(home) / "keystore.json"


@dataclass(frozen=True)
class BankKeys:
    """One issuing bank's EMV issuer master keys (IMK-AC, IMK-SMI, IMK-SMC)."""

    code: str
    name: str
    bin: str
    imk_ac: bytes
    imk_smi: bytes
    imk_smc: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "bin": self.bin,
            "imk_ac": self.imk_ac.hex(),
            "imk_smi": self.imk_smi.hex(),
            "imk_smc": self.imk_smc.hex(),
        }

    @classmethod
    def from_json(cls, code: str, data: dict[str, str]) -> BankKeys:
        return cls(
            code=code,
            name=data["name"],
            bin=data["bin"],
            imk_ac=bytes.fromhex(data["imk_ac"]),
            imk_smi=bytes.fromhex(data["imk_smi"]),
            imk_smc=bytes.fromhex(data["imk_smc"]),
        )


@dataclass
class KeyStore:
    """Master keys by algorithm and key id, city keys, and bank issuer keys."""

    ssse: dict[Algorithm, dict[int, bytes]] = field(default_factory=dict)
    city_keys: dict[Algorithm, dict[str, dict[int, bytes]]] = field(default_factory=dict)
    banks: dict[str, BankKeys] = field(default_factory=dict)

    # --- creation ------------------------------------------------------------------

    @classmethod
    def generate(cls) -> KeyStore:
        """Fresh random master keys for every algorithm and key id, and every default bank."""
        ssse = {alg: {kid: secrets.token_bytes(16) for kid in SSSE_KEY_IDS} for alg in Algorithm}
        banks = {
            code: BankKeys(
                code,
                name,
                bin_,
                secrets.token_bytes(16),
                secrets.token_bytes(16),
                secrets.token_bytes(16),
            )
            for code, (name, bin_) in DEFAULT_BANKS.items()
        }
        return cls(ssse=ssse, banks=banks)

    # --- file format ---------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "ssse": {
                alg.value: {f"{kid:02X}": key.hex() for kid, key in sorted(keys.items())}
                for alg, keys in self.ssse.items()
            },
            "city_keys": {
                alg.value: {
                    region: {f"{kid:02X}": key.hex() for kid, key in sorted(keys.items())}
                    for region, keys in regions.items()
                }
                for alg, regions in self.city_keys.items()
            },
            "banks": {code: bank.to_json() for code, bank in sorted(self.banks.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> KeyStore:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeyStoreError(f"not a key store of format {FORMAT}")
        try:
            ssse = {
                Algorithm(alg): {int(kid, 16): bytes.fromhex(key) for kid, key in keys.items()}
                for alg, keys in data.get("ssse", {}).items()
            }
            city = {
                Algorithm(alg): {
                    region: {int(kid, 16): bytes.fromhex(key) for kid, key in keys.items()}
                    for region, keys in regions.items()
                }
                for alg, regions in data.get("city_keys", {}).items()
            }
            banks = {
                code: BankKeys.from_json(code, bank) for code, bank in data.get("banks", {}).items()
            }
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"malformed key store: {exc}") from exc
        return cls(ssse=ssse, city_keys=city, banks=banks)

    @classmethod
    def load(cls, path: Path | str) -> KeyStore:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeyStoreError(f"no key store at {path}") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeyStoreError(f"cannot read key store {path}: {exc}") from exc
        return cls.from_json(data)

    @classmethod
    def load_or_create(cls, path: Path | str | None = None) -> KeyStore:
        """Load the key store, generating a development one on first use."""
        path = Path(path) if path is not None else default_path()
        if path.exists():
            store = cls.load(path)
            if not store.add_missing_master_keys():
                return store
            # An older store: the new key ids (0A terminal auth), written once. A store
            # that cannot be written stays as it is (issuing a card then names the key).
            try:
                store.save(path)
            except OSError:
                return cls.load(path)
            return cls.load(path)
        store = cls.generate()
        try:
            store.save(path, exclusive=True)
        except OSError as exc:
            raise KeyStoreError(f"cannot create key store {path}: {exc}") from exc
        # Another process may have won the race to create it: read what is there.
        return cls.load(path)

    def save(self, path: Path | str, *, exclusive: bool = False) -> None:
        """Write atomically with mode 0600; ``exclusive`` never replaces an existing file."""
        write_secret_json(path, self.to_json(), prefix=".keystore-", exclusive=exclusive)

    def add_missing_master_keys(self) -> bool:
        """Give an issuer store (one with master keys) any SSSE key id it lacks; True if any.

        Key stores written before key ``0A`` existed get it on their next
        :meth:`load_or_create`; PSAM subsets (no master keys) are left alone.
        """
        added = False
        for keys in self.ssse.values():
            if not keys:
                continue
            for kid in SSSE_KEY_IDS:
                if kid not in keys:
                    keys[kid] = secrets.token_bytes(16)
                    added = True
        return added

    # --- keys ----------------------------------------------------------------------

    def city_key(self, alg: Algorithm, kid: int, region_code: str) -> bytes:
        """``DIV(master, city_factor)``, from the master key or a stored city key."""
        master = self.ssse.get(alg, {}).get(kid)
        if master is not None:
            return city_key(alg, master, region_code)
        stored = self.city_keys.get(alg, {}).get(region_code, {}).get(kid)
        if stored is not None:
            return stored
        raise KeyStoreError(f"no key {kid:02X} ({alg.value}) for region {region_code}")

    def card_key(self, alg: Algorithm, kid: int, region_code: str, card_factor: bytes) -> bytes:
        """The card's diversified key ``kid``."""
        return diversify(alg, self.city_key(alg, kid, region_code), card_factor)

    def card_keys(self, alg: Algorithm, region_code: str, card_factor: bytes) -> dict[int, bytes]:
        """Every SSSE key of one card, for loading into a blank card at the chip maker."""
        return {kid: self.card_key(alg, kid, region_code, card_factor) for kid in SSSE_KEY_IDS}

    def bank(self, code: str) -> BankKeys:
        try:
            return self.banks[code]
        except KeyError:
            raise KeyStoreError(f"no issuer keys for bank {code}") from None

    def subset(
        self,
        kids: tuple[int, ...] | list[int],
        bank_codes: tuple[str, ...] | list[str] = (),
        *,
        city: str | None = None,
    ) -> KeyStore:
        """A store with only the given key ids and banks, for provisioning a PSAM.

        With ``city`` the SSSE keys are stored as that city's keys, never as
        master keys.
        """
        if city is None:
            ssse = {
                alg: {kid: keys[kid] for kid in kids if kid in keys}
                for alg, keys in self.ssse.items()
            }
            city_keys: dict[Algorithm, dict[str, dict[int, bytes]]] = {}
        else:
            ssse = {}
            city_keys = {
                alg: {city: {kid: self.city_key(alg, kid, city) for kid in kids}}
                for alg in self.ssse
            }
        banks = {code: self.bank(code) for code in bank_codes}
        return KeyStore(ssse=ssse, city_keys=city_keys, banks=banks)
