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
    def from_env(cls) -> Registers:
        home = sscard_home()
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


def registers_for(owner: object) -> Registers:
    """The :class:`Registers` of a service object (created from the environment on first use)."""
    regs = getattr(owner, _ATTRIBUTE, None)
    if regs is None:
        with _create_lock:
            regs = getattr(owner, _ATTRIBUTE, None)
            if regs is None:
                regs = Registers.from_env()
                setattr(owner, _ATTRIBUTE, regs)
    return regs


def set_registers(owner: object, registers: Registers) -> None:
    """Give a service object explicit registers (tests, the hospital simulation)."""
    setattr(owner, _ATTRIBUTE, registers)
