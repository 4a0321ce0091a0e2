"""A partner bank's customer records (合作银行客户信息), simulated.

A separate component with its own JSON file per bank. The card centre asks it
at comparison (issuance.md step 3) whether the bank already knows the person
under a different name, and at step 6 (银行开户) the bank opens the account
that the card's financial application will carry: a UnionPay debit PAN from
the bank's BIN with a Luhn check digit.

File layout::

    {"format": "sscard-bank-records/1", "bank_code": "102", "bin": "622202",
     "next_account": 17,
     "customers": {"<ssn>": {"name": "...", "accounts": [
         {"pan": "6222020000000017", "opened_at": "2026-...+08:00", "status": "open"}]}}}

Writes are atomic (temp file, fsync, rename), like the card images, and
serialised across processes by an ``flock`` on ``<file>.lock`` (the service may
run several workers, each with its own :class:`BankRecords`).

Crash consistency with the service's database: the bank's file and the
service's tables are two systems with no shared transaction. Step 6 opens the
account *before* the service's transaction commits, so a crash (or a rolled
back transaction) in between would leave an account the service never heard
of. Account opening is therefore idempotent by the application's id (the
``reference`` kept with the account): the retried step finds the account
already opened for that application and gets the same PAN, so a retry
reconciles instead of opening a second, orphan account.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from card.keystore import DEFAULT_BANKS

FORMAT = "sscard-bank-records/1"


class BankRecordsError(Exception):
    """An unreadable records file or an account that does not exist."""


@dataclass(frozen=True)
class Account:
    pan: str
    opened_at: str
    status: str  # 'open' | 'frozen' (card reported lost) | 'closed'
    reference: str | None = None  # the card application the account was opened for


def luhn_digit(digits: str) -> str:
    """The Luhn (ISO/IEC 7812-1 Annex B) check digit the bank appends to an account number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(pan: str) -> bool:
    return pan.isdigit() and len(pan) >= 2 and luhn_digit(pan[:-1]) == pan[-1]


class BankRecords:
    """One bank's customer file; safe for the threads of one process."""

    def __init__(self, path: Path | str, *, bank_code: str, bin_: str) -> None:
        self.path = Path(path)
        self.bank_code = bank_code
        self.bin = bin_
        self._thread_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not self.path.exists():
                self._write(
                    {
                        "format": FORMAT,
                        "bank_code": bank_code,
                        "bin": bin_,
                        "next_account": 1,
                        "customers": {},
                    }
                )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Exclusive use of the file: this process's threads, then other processes."""
        with self._thread_lock:
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    # --- file -------------------------------------------------------------------------

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BankRecordsError(f"cannot read bank records {self.path}: {exc}") from exc
        if data.get("format") != FORMAT or data.get("bank_code") != self.bank_code:
            raise BankRecordsError(f"{self.path} is not bank {self.bank_code}'s records file")
        return data

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".bank-", dir=self.path.parent)
        try:
            os.write(fd, payload)
            os.fsync(fd)
            os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # --- queries ----------------------------------------------------------------------

    def customer_name(self, ssn: str) -> str | None:
        """The name the bank holds for ``ssn``, or ``None`` for a new customer."""
        customer = self._read()["customers"].get(ssn)
        return None if customer is None else customer["name"]

    def compare(self, ssn: str, *, name: str) -> list[tuple[str, str, str]]:
        """Fields that differ from the bank's record: ``(field, bank value, application value)``.

        A person the bank does not know yet is no mismatch: step 6 opens the
        account.
        """
        held = self.customer_name(ssn)
        if held is None or held == name:
            return []
        return [("name", held, name)]

    def accounts(self, ssn: str) -> list[Account]:
        customer = self._read()["customers"].get(ssn)
        if customer is None:
            return []
        return [
            Account(
                pan=a["pan"],
                opened_at=a["opened_at"],
                status=a["status"],
                reference=a.get("reference"),
            )
            for a in customer["accounts"]
        ]

    # --- changes ----------------------------------------------------------------------

    def add_customer(self, ssn: str, name: str) -> None:
        """Record an existing customer (seeding; a customer with no card account yet)."""
        with self._lock():
            data = self._read()
            data["customers"].setdefault(ssn, {"name": name, "accounts": []})["name"] = name
            self._write(data)

    def open_account(
        self, ssn: str, name: str, *, opened_at: datetime, reference: str | None = None
    ) -> str:
        """Open a debit account for the card; returns its 16-digit PAN (BIN + number + Luhn).

        With ``reference`` (the card application's id) the opening is
        idempotent: an account already opened for that reference is returned
        as it is, so a step retried after a crash never opens a second one.
        """
        if opened_at.tzinfo is None:
            raise ValueError("opened_at must be timezone-aware")
        with self._lock():
            data = self._read()
            customer = data["customers"].setdefault(ssn, {"name": name, "accounts": []})
            if reference is not None:
                for account in customer["accounts"]:
                    if account.get("reference") == reference:
                        return account["pan"]
            number = data["next_account"]
            data["next_account"] = number + 1
            partial = f"{self.bin}{number:09d}"
            pan = partial + luhn_digit(partial)
            customer["name"] = name
            entry = {"pan": pan, "opened_at": opened_at.isoformat(), "status": "open"}
            if reference is not None:
                entry["reference"] = reference
            customer["accounts"].append(entry)
            self._write(data)
        return pan

    def set_account_status(self, ssn: str, pan: str, status: str) -> None:
        """Freeze an account whose card was reported lost, or close it."""
        if status not in ("open", "frozen", "closed"):
            raise ValueError(f"unknown account status {status!r}")
        with self._lock():
            data = self._read()
            for account in data["customers"].get(ssn, {}).get("accounts", []):
                if account["pan"] == pan:
                    account["status"] = status
                    self._write(data)
                    return
        raise BankRecordsError(f"bank {self.bank_code} has no account {pan} for that person")


class UnknownBank(BankRecordsError):
    """A bank code that is not one of the card centre's partner banks."""


class PartnerBanks:
    """The partner banks' customer files in one folder (``bank-<code>.json``), opened on first use.

    Safe for the threads of one process; each bank's :class:`BankRecords`
    is created once, with the BIN the key store lists for that bank.
    """

    def __init__(self, folder: Path | str, bins: dict[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.bins = (
            dict(bins) if bins is not None else {code: b for code, (_n, b) in DEFAULT_BANKS.items()}
        )
        self._records: dict[str, BankRecords] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PartnerBanks({str(self.folder)!r})"

    def records(self, bank_code: str) -> BankRecords:
        """The customer records of partner bank ``bank_code`` (:class:`UnknownBank` if none)."""
        with self._lock:
            records = self._records.get(bank_code)
            if records is None:
                bin_ = self.bins.get(bank_code)
                if bin_ is None:
                    raise UnknownBank(f"bank {bank_code} is not a partner bank of the card centre")
                records = BankRecords(
                    self.folder / f"bank-{bank_code}.json", bank_code=bank_code, bin_=bin_
                )
                self._records[bank_code] = records
            return records


def seed_bank_records(
    path: Path | str,
    *,
    bank_code: str,
    bin_: str,
    customers: list[tuple[str, str]],
) -> BankRecords:
    """Create a records file with existing customers ``(ssn, name)``."""
    records = BankRecords(path, bank_code=bank_code, bin_=bin_)
    with records._lock():
        data = records._read()
        for ssn, name in customers:
            data["customers"].setdefault(ssn, {"name": name, "accounts": []})["name"] = name
        records._write(data)
    return records
