"""``pCardInfo``: the basic card information in the 11-field layout (reader-library.md).

Fields, each followed by ``|``: issuing region, social security number, card
number, card identification code (32 hex), name, card reset information (the
ATR's historical bytes, hex), specification version, issue date, expiry date
(``YYYYMMDD``), terminal number (the PSAM's 12 digits), terminal device number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from terminal.cardinfo import HolderData, IssuanceData
from terminal.psam import Psam

FIELD_COUNT = 11
TERMINAL_NO_DIGITS = 12


class CardInfoError(ValueError):
    """A value that cannot go into the layout (a ``|`` in a field, a bad ATR...)."""


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO/IEC 7816-3 §8.2): T0's low nibble K says how many,
    after TS, T0 and the interface bytes its high nibbles announce."""
    if len(atr) < 2:
        raise CardInfoError(f"ATR too short: {atr.hex().upper()}")
    count = atr[1] & 0x0F
    position, indicator = 1, atr[1]
    while True:
        present = (indicator >> 4).bit_count()
        next_td = position + present
        position += present
        if not indicator & 0x80:
            break
        if next_td >= len(atr):
            raise CardInfoError(f"ATR interface bytes run past its end: {atr.hex().upper()}")
        indicator = atr[next_td]
    start = position + 1
    if start + count > len(atr):
        raise CardInfoError(f"ATR shorter than its {count} historical bytes: {atr.hex().upper()}")
    return atr[start : start + count]


def terminal_number(psam: Psam, psam_path: Path) -> str:
    """The PSAM's 12-digit terminal number (终端机编号).

    A PSAM image may carry it as ``terminal_no``; otherwise it is derived, stably, from
    the PSAM: its city (6 digits, or ``000000``) and 6 digits of its id.
    """
    try:
        stored = json.loads(psam_path.read_text(encoding="utf-8")).get("terminal_no")
    except (OSError, ValueError, AttributeError):
        stored = None
    if stored:
        text = str(stored)
        if not re.fullmatch(r"\d{12}", text):
            raise CardInfoError(f"the PSAM's terminal_no {text!r} is not 12 digits")
        return text
    city = psam.city if psam.city and re.fullmatch(r"\d{6}", psam.city) else "000000"
    return city + f"{int(psam.psam_id, 16) % 10**6:06d}"


@dataclass(frozen=True)
class BasicCardInfo:
    """The eleven fields (names after 人社部 38 号文)."""

    region: str
    ssn: str
    card_no: str
    card_id_code: str
    name: str
    reset_info: str
    spec_version: str
    issue_date: str
    expiry_date: str
    terminal_no: str
    device_no: str

    @classmethod
    def from_card(
        cls,
        issuance: IssuanceData,
        holder: HolderData,
        atr: bytes,
        terminal_no: str,
        device_no: str,
    ) -> BasicCardInfo:
        code = issuance.identification_code.hex().upper()
        return cls(
            region=code[:6],
            ssn=holder.ssn,
            card_no=issuance.card_number,
            card_id_code=code,
            name=holder.name,
            reset_info=historical_bytes(atr).hex().upper(),
            spec_version=issuance.spec_version,
            issue_date=issuance.issue_date.strftime("%Y%m%d"),
            expiry_date=issuance.expiry_date.strftime("%Y%m%d"),
            terminal_no=terminal_no,
            device_no=device_no,
        )

    def fields(self) -> list[str]:
        return [
            self.region,
            self.ssn,
            self.card_no,
            self.card_id_code,
            self.name,
            self.reset_info,
            self.spec_version,
            self.issue_date,
            self.expiry_date,
            self.terminal_no,
            self.device_no,
        ]

    def text(self) -> str:
        """The fields, each followed by ``|`` (so the text ends with ``|``)."""
        values = self.fields()
        for value in values:
            if "|" in value:
                raise CardInfoError(f"a field of the card holds '|': {value!r}")
        return "".join(f"{value}|" for value in values)
