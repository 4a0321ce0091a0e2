"""The card image: everything a card keeps across power cycles, in one JSON file.

card.md §Persistence and tearing: any change to persistent state is written
atomically — temp file, fsync, rename, directory fsync — **before** the
response leaves the card (the card OS calls :meth:`CardImage.commit` inside the
command handler). The file holds hex at the edge, bytes inside; never pickle.

What is stored:

* identity: algorithm, region, card factor (the 8 card-unique bytes), bank code;
* the card's **own diversified** SSSE keys (01/02/03/04/07/0A) — never a master key;
* records of EF05/EF06/DF04, the PSE directory and the financial application
  (full records: ``tag len value`` for SSSE, ``70 ..`` for EMV);
* the two PINs as salted PBKDF2-SHA256 hashes with their try counters;
* the financial application's ATC, last online ATC, lifecycle and keys: the
  EMV unique keys UDK-AC/SMI/SMC once the bank has loaded them, and before
  that the bank personalisation keys (see :mod:`card.issue`).

Records that fail their template on load are served with ``6281``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from card import tlv
from card.crypto import Algorithm
from card.layout import RID_CHINA_SSC, SSSE_RECORDS, bcd, unbcd

FORMAT = "sscard-card/1"
PIN_HASH_ITERATIONS = 1000
MAX_PIN_HASH_ITERATIONS = 100_000
MAX_IMAGE_BYTES = (
    1 << 20
)  # a card image is a few kilobytes  # a hand-edited image must not stall VERIFY
SSSE_PIN_LIMIT = 3
BANK_PIN_LIMIT = 3

LIFECYCLE_BLANK = "blank"  # financial application awaiting bank personalisation
LIFECYCLE_PERSONALISED = "personalised"


#: Record-bearing files an image may hold: SSSE files, the PSE directory, EMV SFIs 1-30.
RECORD_FILES = frozenset({"EF05", "EF06", "DF04", "PSE"} | {f"EMV{n}" for n in range(1, 31)})


class CardImageError(Exception):
    """A card image that is missing, unreadable or malformed."""


class CardStorageError(CardImageError):
    """The card image could not be written (read-only file system, disk full, a directory)."""


def hash_pin(digits: str, salt: bytes, iterations: int = PIN_HASH_ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", digits.encode("ascii"), salt, iterations)


@dataclass
class PinRecord:
    """A PIN as a salted hash plus its try counter; ``digest`` None = not set yet."""

    limit: int
    tries_left: int
    salt: bytes = b""
    digest: bytes | None = None
    iterations: int = PIN_HASH_ITERATIONS

    @classmethod
    def new(cls, digits: str | None, limit: int) -> PinRecord:
        pin = cls(limit=limit, tries_left=limit)
        if digits is not None:
            pin.set(digits)
        return pin

    @property
    def is_set(self) -> bool:
        return self.digest is not None

    @property
    def blocked(self) -> bool:
        return self.tries_left <= 0

    def set(self, digits: str) -> None:
        """A new PIN value (fresh salt) with the try counter back at its limit."""
        self.salt = secrets.token_bytes(16)
        self.digest = hash_pin(digits, self.salt, self.iterations)
        self.tries_left = self.limit

    def matches(self, digits: str) -> bool:
        if self.digest is None:
            return False
        return hmac.compare_digest(hash_pin(digits, self.salt, self.iterations), self.digest)

    def to_json(self) -> dict:
        return {
            "limit": self.limit,
            "tries_left": self.tries_left,
            "salt": self.salt.hex().upper(),
            "hash": self.digest.hex().upper() if self.digest is not None else None,
            "iterations": self.iterations,
        }

    @classmethod
    def from_json(cls, data: dict) -> PinRecord:
        digest = data.get("hash")
        return cls(
            limit=int(data["limit"]),
            tries_left=int(data["tries_left"]),
            salt=bytes.fromhex(data.get("salt", "")),
            digest=bytes.fromhex(digest) if digest else None,
            iterations=int(data.get("iterations", PIN_HASH_ITERATIONS)),
        )


def _remove_torn_temp_files(path: Path) -> None:
    """Delete ``.NAME.PID.tmp`` files left by writers killed mid-write (their PID is gone)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid_text = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            continue  # alive (or not ours to signal): leave it


@dataclass
class CardImage:
    """One card's persistent state. ``commit()`` makes changes durable."""

    algorithm: Algorithm
    region: str
    card_factor: bytes
    bank_code: str
    ssse_keys: dict[int, bytes]
    ssse_pin: PinRecord
    bank_pin: PinRecord
    #: file key ("EF05", "EF06", "DF04", "PSE", "EMV1".."EMV30") -> record number -> record
    records: dict[str, dict[int, bytes]] = field(default_factory=dict)
    atc: int = 0
    last_online_atc: int = 0
    emv_lifecycle: str = LIFECYCLE_BLANK
    #: "ac"/"smi"/"smc" (UDKs) and "perso_smi"/"perso_smc" (bank personalisation keys)
    emv_keys: dict[str, bytes] = field(default_factory=dict)
    path: Path | None = None
    #: (file key, record number) of records that failed their template on load
    damaged: set[tuple[str, int]] = field(default_factory=set, compare=False)

    # --- persistence ----------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "algorithm": self.algorithm.value,
            "region": self.region,
            "card_factor": self.card_factor.hex().upper(),
            "bank_code": self.bank_code,
            "ssse_keys": {f"{k:02X}": v.hex().upper() for k, v in sorted(self.ssse_keys.items())},
            "pins": {"ssse": self.ssse_pin.to_json(), "bank": self.bank_pin.to_json()},
            "records": {
                key: {str(n): rec.hex().upper() for n, rec in sorted(recs.items())}
                for key, recs in sorted(self.records.items())
            },
            "emv": {
                "atc": self.atc,
                "last_online_atc": self.last_online_atc,
                "lifecycle": self.emv_lifecycle,
                "keys": {k: v.hex().upper() for k, v in sorted(self.emv_keys.items())},
            },
        }

    @classmethod
    def from_json(cls, data: dict, path: Path | None = None) -> CardImage:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CardImageError(f"not a card image of format {FORMAT}")
        try:
            emv = data["emv"]
            image = cls(
                algorithm=Algorithm(data["algorithm"]),
                region=str(data["region"]),
                card_factor=bytes.fromhex(data["card_factor"]),
                bank_code=str(data["bank_code"]),
                ssse_keys={int(k, 16): bytes.fromhex(v) for k, v in data["ssse_keys"].items()},
                ssse_pin=PinRecord.from_json(data["pins"]["ssse"]),
                bank_pin=PinRecord.from_json(data["pins"]["bank"]),
                records={
                    key: {int(n): bytes.fromhex(rec) for n, rec in recs.items()}
                    for key, recs in data["records"].items()
                },
                atc=int(emv["atc"]),
                last_online_atc=int(emv["last_online_atc"]),
                emv_lifecycle=str(emv["lifecycle"]),
                emv_keys={k: bytes.fromhex(v) for k, v in emv["keys"].items()},
                path=path,
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CardImageError(f"malformed card image: {exc!r}") from exc
        if len(image.card_factor) != 8 or len(image.region) != 6 or not image.region.isdigit():
            raise CardImageError("malformed card image: bad card factor or region")
        if any(len(k) != 16 for k in image.ssse_keys.values()):
            raise CardImageError("malformed card image: keys are 16 bytes")
        problem = image._invariant_problem()
        if problem:
            raise CardImageError(f"malformed card image: {problem}")
        image.damaged = image.check_records()
        return image

    def _invariant_problem(self) -> str | None:
        """What makes a loaded image impossible for a card, or None."""
        for name, pin in (("SSSE", self.ssse_pin), ("bank", self.bank_pin)):
            if not 1 <= pin.limit <= 15 or not 0 <= pin.tries_left <= pin.limit:
                return f"{name} PIN try counter {pin.tries_left}/{pin.limit}"
            if not 1 <= pin.iterations <= MAX_PIN_HASH_ITERATIONS:
                return f"{name} PIN hash iterations {pin.iterations}"
            if pin.digest is not None and (len(pin.digest) != 32 or not pin.salt):
                return f"{name} PIN hash"
        if not 0 <= self.last_online_atc <= self.atc <= 0xFFFF:
            return f"ATC {self.atc} / last online ATC {self.last_online_atc}"
        if self.emv_lifecycle not in (LIFECYCLE_BLANK, LIFECYCLE_PERSONALISED):
            return f"lifecycle {self.emv_lifecycle!r}"
        if any(len(k) != 16 for k in self.emv_keys.values()):
            return "EMV keys are 16 bytes"
        if not self.bank_code.isdigit():
            return f"bank code {self.bank_code!r}"
        for key, recs in self.records.items():
            if key not in RECORD_FILES or any(not 1 <= n <= 254 for n in recs):
                return f"record file {key!r}"
        return None

    @classmethod
    def load(cls, path: Path | str) -> CardImage:
        path = Path(path)
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise CardImageError(f"cannot read card image {path}: not a regular file")
            if info.st_size > MAX_IMAGE_BYTES:
                raise CardImageError(f"{path} is not a card image ({info.st_size} bytes)")
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise CardImageError(f"no card image at {path}") from exc
        except OSError as exc:
            raise CardImageError(f"cannot read card image {path}: {exc}") from exc
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CardImageError(f"{path} is not a card image (bad JSON: {exc})") from exc
        image = cls.from_json(data, path)
        _remove_torn_temp_files(path)
        return image

    def commit(self) -> None:
        """Write the image durably: temp file, fsync, rename, directory fsync."""
        if self.path is None:
            return  # an in-memory card (tests, demos) has nothing to persist
        path = self.path
        payload = json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise CardStorageError(f"cannot write card image {path}: {exc}") from exc
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise CardStorageError(f"cannot sync the directory of {path}: {exc}") from exc

    def save(self, path: Path | str) -> None:
        """Bind the image to ``path`` and write it."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CardStorageError(f"cannot create the directory of {path}: {exc}") from exc
        self.commit()

    def check_records(self) -> set[tuple[str, int]]:
        """Records whose tag/length disagree with their template (served with 6281)."""
        bad: set[tuple[str, int]] = set()
        for key, recs in self.records.items():
            templates = {spec.number: spec for spec in SSSE_RECORDS.get(key, ())}
            for number, rec in recs.items():
                spec = templates.get(number)
                if spec is not None:
                    ok = (
                        len(rec) == 2 + spec.length and rec[0] == spec.tag and rec[1] == spec.length
                    )
                else:
                    try:
                        ok = len(rec) > 2 and rec[0] in (0x70, 0x61) and bool(tlv.parse(rec))
                        ok = ok and len(tlv.parse(rec)) == 1
                    except tlv.TLVError:
                        ok = False
                if not ok:
                    bad.add((key, number))
        return bad

    # --- read-only accessors ------------------------------------------------------------

    def record_value(self, key: str, number: int) -> bytes | None:
        """The value of SSSE record ``number`` of ``key`` (without tag and length)."""
        rec = self.records.get(key, {}).get(number)
        if rec is None or len(rec) < 2:
            return None
        return rec[2 : 2 + rec[1]]

    def _emv_object(self, tag: bytes) -> bytes | None:
        for key, recs in self.records.items():
            if not key.startswith("EMV"):
                continue
            for _, rec in sorted(recs.items()):
                try:
                    found = tlv.find(rec, tag)
                except tlv.TLVError:
                    continue
                if found is not None:
                    return found
        return None

    @property
    def identification_code(self) -> bytes:
        """卡识别码: region BCD + RID D156000005 + card factor (16 bytes)."""
        return bcd(self.region, 3) + RID_CHINA_SSC + self.card_factor

    @property
    def card_number(self) -> str | None:
        value = self.record_value("EF05", 7)
        return value.rstrip(b"\x00").decode("ascii", "replace") if value else None

    @property
    def ssn(self) -> str | None:
        value = self.record_value("EF06", 1)
        return value.rstrip(b"\x00").decode("ascii", "replace") if value else None

    @property
    def name(self) -> str | None:
        value = self.record_value("EF06", 2)
        if value is None:
            return None
        ext = self.record_value("EF06", 3) or b""
        return (value.rstrip(b"\x00") + ext.rstrip(b"\x00")).decode("gbk", "replace")

    def _date(self, key: str, number: int) -> date | None:
        value = self.record_value(key, number)
        if value is None:
            return None
        text = unbcd(value)
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return None

    @property
    def issue_date(self) -> date | None:
        return self._date("EF05", 5)

    @property
    def expiry(self) -> date | None:
        return self._date("EF05", 6)

    @property
    def pan(self) -> str | None:
        value = self._emv_object(b"\x5a")
        return unbcd(value) if value else None

    @property
    def pan_sequence(self) -> int | None:
        value = self._emv_object(b"\x5f\x34")
        return int(value.hex()) if value else None

    @property
    def insurance_type(self) -> str | None:
        value = self.record_value("DF04", 2)
        return value.decode("ascii", "replace") if value else None

    @property
    def psn_no(self) -> str | None:
        value = self.record_value("DF04", 3)
        return value.rstrip(b"\x00").decode("ascii", "replace") if value else None

    @property
    def ssse_pin_tries_left(self) -> int:
        return self.ssse_pin.tries_left

    @property
    def bank_pin_tries_left(self) -> int:
        return self.bank_pin.tries_left

    @property
    def atr(self) -> bytes:
        """``3B 6D 00 00`` + ``00`` + region BCD + card factor + generation byte."""
        return (
            b"\x3b\x6d\x00\x00\x00"
            + bcd(self.region, 3)
            + self.card_factor
            + bytes((self.algorithm.generation_byte,))
        )
