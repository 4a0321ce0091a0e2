"""The outside world card production consults: calendar, police register, partner banks.

Each is configured by the environment and lives outside the service's
database (issuance.md step 3; ``settlement/external``):

* ``SSCARD_HOLIDAYS`` — the holiday list (TOML, see ``settlement.rules.working_days``);
  default: the packaged development calendar ``holidays.toml``.
* ``SSCARD_POLICE_REGISTER`` — the police population register's SQLite file;
  default ``$SSCARD_HOME/external/police_register.sqlite``.
* ``SSCARD_BANK_RECORDS`` — the folder of the partner banks' customer files
  (``bank-<code>.json``); default ``$SSCARD_HOME/external/banks``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from card.keystore import DEFAULT_BANKS
from settlement.config import sscard_home
from settlement.external.bank_records import BankRecords
from settlement.external.police_register import PoliceRegister
from settlement.rules.working_days import HolidayCalendar

DEFAULT_HOLIDAYS = Path(__file__).resolve().parent / "holidays.toml"


@dataclass
class Registers:
    """Calendar plus handles on the simulated police register and bank records."""

    calendar: HolidayCalendar
    police_path: Path
    banks_dir: Path
    _police: PoliceRegister | None = field(default=None, repr=False)
    _banks: dict[str, BankRecords] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, home: Path | None = None) -> Registers:
        """From ``SSCARD_HOLIDAYS`` / ``SSCARD_POLICE_REGISTER`` / ``SSCARD_BANK_RECORDS``,
        else the defaults under ``home`` (default ``$SSCARD_HOME``)."""
        home = home if home is not None else sscard_home()
        holidays = os.environ.get("SSCARD_HOLIDAYS") or DEFAULT_HOLIDAYS
        police = os.environ.get("SSCARD_POLICE_REGISTER") or (
            home / "external" / "police_register.sqlite"
        )
        banks = os.environ.get("SSCARD_BANK_RECORDS") or (home / "external" / "banks")
        return cls(HolidayCalendar.from_toml(holidays), Path(police), Path(banks))

    @property
    def police(self) -> PoliceRegister:
        with self._lock:
            if self._police is None:
                self._police = PoliceRegister(self.police_path)
            return self._police

    def bank(self, bank_code: str) -> BankRecords:
        """The customer records of partner bank ``bank_code`` (``KeyError`` if not a partner)."""
        with self._lock:
            records = self._banks.get(bank_code)
            if records is None:
                _name, bin_ = DEFAULT_BANKS[bank_code]
                records = BankRecords(
                    self.banks_dir / f"bank-{bank_code}.json", bank_code=bank_code, bin_=bin_
                )
                self._banks[bank_code] = records
            return records


_ATTRIBUTE = "_issuance_registers"
_create_lock = threading.Lock()
#: Registers a service object takes on first use instead of the environment's (scoped).
_pending_default: list[Registers] = []


def registers_for(owner: object) -> Registers:
    """The :class:`Registers` of a service object (created from the environment on first use)."""
    regs = getattr(owner, _ATTRIBUTE, None)
    if regs is None:
        with _create_lock:
            regs = getattr(owner, _ATTRIBUTE, None)
            if regs is None:
                regs = _pending_default[-1] if _pending_default else Registers.from_env()
                setattr(owner, _ATTRIBUTE, regs)
    return regs


@contextmanager
def first_use_registers(registers: Registers) -> Iterator[None]:
    """While open, a service object that has no registers yet takes ``registers``.

    For a service running in this process (the hospital simulation's
    in-process service), whose registers must be the run's own files and not
    ``$SSCARD_HOME``'s, without changing any environment variable. A service
    keeps the registers it took after the block ends.
    """
    with _create_lock:
        _pending_default.append(registers)
    try:
        yield
    finally:
        with _create_lock:
            _pending_default.remove(registers)


def set_registers(owner: object, registers: Registers) -> None:
    """Give a service object explicit registers (tests, the hospital simulation)."""
    setattr(owner, _ATTRIBUTE, registers)
