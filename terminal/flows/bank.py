"""Bank branch: change, reset or unblock the bank PIN, only for cards this bank issued.

settlement.md §PIN authority: "bank PIN — only the bank that issued the
card". The PSAM holds only its own bank's issuer keys, so the check happens
before the first EMV command; the service's authority is asked too. The
issuer script (``84 24``, ``card.emv_script``) rides on a GENERATE AC session:
P2 ``01`` changes the PIN with the old one (the holder at the counter), ``02``
sets a new one, ``00`` unblocks (card.md §What real cards do: the holder
changes the bank PIN only at the issuing bank; ``80 5E`` is refused there).
"""

from __future__ import annotations

from card.sw import SW, is_wrong_pin
from terminal import apdu, emv
from terminal.client.settlement import SettlementClient
from terminal.flows.common import audit_pin, read_card, report_refused
from terminal.flows.pins import PinResult, check_authority
from terminal.psam import NotEntitled, Role, bank_pin_operation
from terminal.session import CardSession, PinBlocked, WrongPin


def bank_pin(
    session: CardSession,
    client: SettlementClient,
    *,
    new_pin: str | None = None,
    old_pin: str | None = None,
) -> PinResult:
    """Unblock (``new_pin`` None), reset, or change (``old_pin`` given) the bank PIN."""
    operation = bank_pin_operation(new_pin, old_pin)
    what = f"{operation} the bank PIN"
    for pin in (new_pin, old_pin):
        if pin is not None:
            apdu.pin_block(pin)  # the digits and length, before the card sees anything
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
        issuing_bank, app.pan, app.pan_sequence, arqc.atc, arqc.ac, new_pin, old_pin
    )
    _, sw = session.exchange(script)
    if sw != SW.OK:
        _refused_script(client, card_no, operation, sw)
    audit_pin(client, card_no, "bank", operation, "ok", sw)
    return PinResult(card_no, "bank", operation)


def _refused_script(client: SettlementClient, card_no: str, operation: str, sw: int) -> None:
    """Audit a refused PIN script and raise: a wrong old PIN, a blocked PIN, or the status."""
    if is_wrong_pin(sw):
        left = sw & 0x0F
        audit_pin(client, card_no, "bank", operation, "blocked" if left == 0 else "wrong_pin", sw)
        raise WrongPin(left)
    if sw == SW.PIN_BLOCKED:
        audit_pin(client, card_no, "bank", operation, "blocked", sw)
        raise PinBlocked("bank")
    audit_pin(client, card_no, "bank", operation, "failed", sw)
    raise apdu.CardStatusError("PIN CHANGE/UNBLOCK script", sw)
