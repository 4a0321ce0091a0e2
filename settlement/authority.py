"""Who may do what: endpoint roles and the PIN authority table of settlement.md.

settlement.md §PIN authority:

| who | SSSE PIN | query password | bank PIN |
|---|---|---|---|
| card holder at any terminal | change with old PIN | — | change at the issuing bank's ATM |
| card management centre | reset / unblock | change / reset | never |
| any partner bank branch | reset / unblock | change / reset | only the bank that issued the card |
| designated tertiary hospitals and special pharmacies | unlock and reset | — | never |
| ordinary hospitals | verify only | — | never |

"Verify" and the holder's "change with old PIN" of the SSSE PIN happen at any
terminal. The service refuses (and audits) every operation outside this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from settlement.problems import Problem
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE, HOSPITAL, PHARMACY
from settlement.service import Principal

PIN_SSSE = "ssse"
PIN_BANK = "bank"


def require_role(
    principal: Principal, *roles: str, action: str, subject: str | None = None
) -> None:
    """``403 not_entitled`` (audited) unless the caller has one of ``roles``."""
    if principal.role not in roles:
        raise Problem(
            403,
            "not_entitled",
            f"{action} is for {', '.join(roles)}; this key belongs to a {principal.role}",
            audit=(action, subject),
        )


@dataclass(frozen=True)
class PinDecision:
    allowed: bool
    reason: str


def pin_authority(
    principal: Principal, pin: str, operation: str, card_bank_code: str | None
) -> PinDecision:
    """May this institution perform ``operation`` on the card's ``pin``?"""
    role = principal.role
    if pin == PIN_SSSE:
        if role == ADMIN:
            return PinDecision(False, "admin keys are not terminals: no PIN operations")
        if operation in ("verify", "change"):
            return PinDecision(
                True, "any terminal may verify the SSSE PIN or let the holder change it"
            )
        if role in (CARD_CENTRE, BANK_BRANCH):
            return PinDecision(True, f"a {role} may reset and unblock the SSSE PIN")
        if role in (HOSPITAL, PHARMACY) and principal.pin_service:
            return PinDecision(
                True, f"a designated PIN-service {role} may unlock and reset the SSSE PIN"
            )
        return PinDecision(
            False,
            f"an ordinary {role} may only verify the SSSE PIN; send the holder to a designated "
            "hospital, a partner bank branch or the card centre",
        )
    if pin == PIN_BANK:
        if role != BANK_BRANCH:
            return PinDecision(False, f"a {role} never touches the bank PIN; only the issuing bank")
        if card_bank_code and principal.bank_code == card_bank_code:
            return PinDecision(True, "the issuing bank may manage its own card's bank PIN")
        return PinDecision(
            False,
            f"bank {principal.bank_code} did not issue this card (issuer {card_bank_code}); "
            "only the issuing bank manages the bank PIN",
        )
    return PinDecision(False, f"unknown PIN {pin!r}")


def query_password_allowed(principal: Principal) -> bool:
    """Query password change / reset: card management centre and partner bank branches."""
    return principal.role in (CARD_CENTRE, BANK_BRANCH)
