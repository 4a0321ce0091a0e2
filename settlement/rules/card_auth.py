"""When a networked card authentication (联网认证) may stand in for the card (pure rules).

docs/api.md §Card authentication; reader-library.md §pBusiCardInfo. An
authentication is made when a card proves itself (INTERNAL AUTHENTICATE key 01
over the service's nonce) at one institution and terminal; it becomes
PIN-verified when the card then answers with key 02, which it does only while
the holder's SSSE PIN is verified. It stands in for the card-present proof of
an admission or a settlement, under these rules (checked in this order):

1. only at the institution that made it (``card_auth_foreign``);
2. only until it expires, ``window`` after it was made (``card_auth_expired``);
3. only for the card's holder (``card_not_holder``);
4. a purpose that needs the holder present (a settlement) needs it PIN-verified
   (``pin_not_verified``).

A PIN upgrade follows rules 1 and 2 and is made on the terminal that made the
authentication (``card_auth_foreign``); a second upgrade is refused
(``card_auth_pin_done``) so one authentication carries one PIN verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CardAuthFacts:
    """What the rules look at in a stored authentication."""

    institution_code: str
    terminal_id: str
    psn_no: str
    expires_at: datetime
    pin_verified: bool


class CardAuthRefused(Exception):
    """The authentication does not fit; ``code`` is the stable problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def expiry(created_at: datetime, window_s: int) -> datetime:
    """When an authentication made at ``created_at`` stops being valid."""
    if window_s < 1:
        raise ValueError("the card authentication window is at least 1 second")
    return created_at + timedelta(seconds=window_s)


def _check_place_and_time(auth: CardAuthFacts, institution_code: str | None, now: datetime) -> None:
    if institution_code != auth.institution_code:
        raise CardAuthRefused(
            "card_auth_foreign",
            f"this card authentication was made at institution {auth.institution_code}; "
            "authenticate the card again at this institution",
        )
    if now >= auth.expires_at:
        raise CardAuthRefused(
            "card_auth_expired",
            f"this card authentication expired at {auth.expires_at.isoformat()}; "
            "read the card again (ReadCardBas)",
        )


def check_use(
    auth: CardAuthFacts,
    *,
    institution_code: str | None,
    psn_no: str,
    now: datetime,
    need_pin: bool,
) -> None:
    """Raise :class:`CardAuthRefused` unless ``auth`` may prove ``psn_no``'s card here and now."""
    _check_place_and_time(auth, institution_code, now)
    if psn_no != auth.psn_no:
        raise CardAuthRefused(
            "card_not_holder",
            f"this card authentication is of a card of another person, not {psn_no}",
        )
    if need_pin and not auth.pin_verified:
        raise CardAuthRefused(
            "pin_not_verified",
            "a settlement needs the holder's PIN: verify it on the card (VerifyPIN) "
            "to upgrade this card authentication",
        )


def check_pin_upgrade(
    auth: CardAuthFacts, *, institution_code: str | None, terminal_id: str | None, now: datetime
) -> None:
    """Raise :class:`CardAuthRefused` unless this terminal may upgrade ``auth`` now."""
    _check_place_and_time(auth, institution_code, now)
    if terminal_id != auth.terminal_id:
        raise CardAuthRefused(
            "card_auth_foreign",
            f"this card authentication was made on terminal {auth.terminal_id}; the PIN is "
            "verified in the same reader session",
        )
    if auth.pin_verified:
        raise CardAuthRefused(
            "card_auth_pin_done",
            "the PIN of this card authentication was already verified; read the card again "
            "for a new one",
        )
