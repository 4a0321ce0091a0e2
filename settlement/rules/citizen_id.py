"""Citizen identity numbers (公民身份号码, GB 11643-1999), used as the social security number.

18 characters: 6-digit region of household registration, birth date
YYYYMMDD, 3-digit sequence (odd for men, even for women), and an ISO 7064
MOD 11-2 check character (``0``–``9`` or ``X``).
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("a citizen ID number starts with 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def make_ssn(region: str, birth_date: date, sequence: int) -> str:
    """Build a valid number; ``sequence`` 0–999 (odd = male, even = female)."""
    if not 0 <= sequence <= 999:
        raise ValueError("sequence is 0–999")
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def is_valid_ssn(ssn: str) -> bool:
    """Shape, birth date and check character of an 18-character number."""
    if len(ssn) != 18 or not ssn[:17].isdigit():
        return False
    try:
        date(int(ssn[6:10]), int(ssn[10:12]), int(ssn[12:14]))
    except ValueError:
        return False
    return check_character(ssn[:17]) == ssn[17].upper()


def birth_date_of(ssn: str) -> date:
    """The birth date encoded in a valid number."""
    return date(int(ssn[6:10]), int(ssn[10:12]), int(ssn[12:14]))


def sex_of(ssn: str) -> str:
    """``1`` male or ``2`` female (card.md EF06 record 4), from the sequence digit."""
    return "1" if int(ssn[16]) % 2 else "2"
