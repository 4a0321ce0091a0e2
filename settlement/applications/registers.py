"""The outside world card production consults: calendar, police register, partner banks.

Each lives outside the service's database (issuance.md step 3;
``settlement/external``) and is configured by :class:`settlement.config.Settings`:

* ``holidays_path`` (``SSCARD_HOLIDAYS``) — the holiday list (TOML, see
  ``settlement.rules.working_days``); default: the packaged development calendar
  ``holidays.toml``. Its days are counted in the business time zone
  (``SSCARD_TIMEZONE``).
* ``police_register_path`` (``SSCARD_POLICE_REGISTER``) — the police population
  register's SQLite file; default ``$SSCARD_HOME/external/police_register.sqlite``.
* ``bank_records_dir`` (``SSCARD_BANK_RECORDS``) — the folder of the partner banks'
  customer files (``bank-<code>.json``); default ``$SSCARD_HOME/external/banks``.

The composition root builds one :class:`Registers` and hands it to the
:class:`~settlement.service.Service`; the card production functions take it as
an argument. Nothing here is global: two services in one process (the
hospital simulation's in-process service beside a test's) each have their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settlement.config import Settings, sscard_home
from settlement.external.bank_records import BankRecords, PartnerBanks
from settlement.external.police_register import PoliceRegister
from settlement.rules.working_days import HolidayCalendar

DEFAULT_HOLIDAYS = Path(__file__).resolve().parent / "holidays.toml"


@dataclass(frozen=True)
class Registers:
    """The holiday calendar, the police population register and the partner banks' records.

    The register and the bank files are opened on first use (a service that
    never produces a card creates neither file).
    """

    calendar: HolidayCalendar
    police: PoliceRegister
    banks: PartnerBanks

    @classmethod
    def from_settings(cls, settings: Settings) -> Registers:
        """The registers ``settings`` name (defaults under ``$SSCARD_HOME/external``)."""
        external = sscard_home() / "external"
        return cls(
            calendar=HolidayCalendar.from_toml(
                settings.holidays_path or DEFAULT_HOLIDAYS, tz=settings.tz
            ),
            police=PoliceRegister(
                settings.police_register_path or external / "police_register.sqlite"
            ),
            banks=PartnerBanks(settings.bank_records_dir or external / "banks"),
        )

    def bank(self, bank_code: str) -> BankRecords:
        """The customer records of partner bank ``bank_code`` (``UnknownBank`` if not a partner)."""
        return self.banks.records(bank_code)
