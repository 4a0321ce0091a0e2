"""Bank branch: reset or unblock the bank PIN, only for cards this bank issued.

settlement.md §PIN authority: "bank PIN — only the bank that issued the
card". The PSAM holds only its own bank's issuer keys, so the check happens
before the first EMV command; the service's authority is asked too. The
issuer script (``84 24``, ``card.emv_script``) rides on a GENERATE AC session.
"""

from __future__ import annotations

from card.sw import SW
from terminal import apdu, emv
from terminal.client.settlement import SettlementClient
from terminal.flows.common import audit_pin, read_card, report_refused
from terminal.flows.pins import PinResult, check_authority
from terminal.psam import NotEntitled, Role
from terminal.session import CardSession


def bank_pin(
    session: CardSession, client: SettlementClient, *, new_pin: str | None = None
) -> PinResult:
    """Unblock (``new_pin`` None) or reset the bank PIN by issuer script."""
    operation = "reset" if new_pin else "unblock"
    what = f"{operation} the bank PIN"
    psam = session.psam
    if psam.role is not Role.BANK_BRANCH:
        report_refused(client, "bank", operation, card_id_code=session.identity.identification_code)
        raise NotEntitled(
            what, f"{psam.describe()} is not a bank: bank PINs are never its business"
        )
    card = read_card(session, medical=False)
    card_no = card.issuance.card_number
    record = client.card(card_no)
    issuing_bank = record.get("bank_code")
    if not issuing_bank:
        raise NotEntitled(what, f"card {card_no} has no financial account with any bank")
    try:
        psam.issuer_keys(issuing_bank, what)  # NotEntitled for another bank's card, before EMV
    except NotEntitled:
        report_refused(client, "bank", operation, card_no=card_no)  # audited by the service
        raise
    check_authority(client, card_no, "bank", operation)
    app = emv.read_financial_app(session)
    if psam.bank_for_pan(app.pan) != issuing_bank:
        raise NotEntitled(
            what, f"the card's account {app.pan[:6]}… is not one of bank {issuing_bank}"
        )
    arqc = emv.generate_arqc(session, app)
    script = psam.bank_pin_script(
        issuing_bank, app.pan, app.pan_sequence, arqc.atc, arqc.ac, new_pin
    )
    _, sw = session.exchange(script)
    if sw != SW.OK:
        audit_pin(client, card_no, "bank", operation, "failed", sw)
        raise apdu.CardStatusError("PIN CHANGE/UNBLOCK script", sw)
    audit_pin(client, card_no, "bank", operation, "ok", sw)
    return PinResult(card_no, "bank", operation)
