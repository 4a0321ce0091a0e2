"""The hospital registration desk: admission (2401), fees (2301), discharge (2304).

Card-only inpatient settlement, ``docs/rules.md``: the card is
read and authenticated, checked online, the holder's PIN verified and a
card-present proof submitted with the admission and again with the
discharge; or one of the three exemptions with the evidence the clerk typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from terminal.client.http import new_idempotency_key
from terminal.client.settlement import SettlementClient
from terminal.flows.common import (
    CardRefused,
    PinEntry,
    PresentedCard,
    present_card,
    prove_card_present,
)
from terminal.session import CardSession

FEE_BATCH = 1000  # docs/api.md: at most 1000 lines per request

EXEMPTION_KINDS = ("child_under_7", "foreign_document", "lost_card_receipt")


class DeskError(Exception):
    """The desk will not go on (the person on the card is not the patient, bad evidence...)."""


class InpatientNumberTaken(DeskError):
    """The hospital's inpatient number is already the number of another of its stays (not
    cancelled): found before the card is read, so the holder types no PIN for nothing."""

    def __init__(self, ipt_no: str, mdtrt_id: str) -> None:
        self.ipt_no = ipt_no
        self.mdtrt_id = mdtrt_id
        super().__init__(f"ipt_no {ipt_no} is already the inpatient number of stay {mdtrt_id}")


@dataclass
class Admission:
    """An admitted stay and the card (if any) that proved it."""

    record: dict[str, Any]
    card: PresentedCard | None = None

    @property
    def mdtrt_id(self) -> str:
        return self.record["mdtrt_id"]


@dataclass
class Receipt:
    """The discharge receipt: who pays what (fen)."""

    settlement: dict[str, Any]

    @property
    def setl_id(self) -> str:
        return self.settlement["setl_id"]

    @property
    def fund(self) -> int:
        return self.settlement["fund_pay_sumamt"]

    @property
    def account(self) -> int:
        return self.settlement["acct_pay"]

    @property
    def cash(self) -> int:
        return self.settlement["psn_cash_pay"]

    @property
    def total(self) -> int:
        return self.settlement["medfee_sumamt"]

    def lines(self) -> list[tuple[str, int]]:
        """Receipt lines (label, fen) in the order a cashier prints them."""
        s = self.settlement
        return [
            ("total medical fees (医疗费总额)", s["medfee_sumamt"]),
            ("self-pay, class C (全自费)", s["fulamt_ownpay_amt"]),
            ("pre-self-pay, class B (先行自付)", s["preselfpay_amt"]),
            ("in scope (符合范围)", s["inscp_scp_amt"]),
            ("deductible (起付线)", s.get("act_pay_dedc", 0)),
            ("paid by the fund (统筹支付)", s["fund_pay_sumamt"]),
            ("paid from personal account (个人账户)", s["acct_pay"]),
            ("paid in cash (现金)", s["psn_cash_pay"]),
            ("account balance after (余额)", s.get("balc", 0)),
        ]


def exemption_evidence(
    kind: str,
    *,
    household_register_no: str | None = None,
    document_type: str | None = None,
    document_number: str | None = None,
    receipt_no: str | None = None,
    certno: str | None = None,
) -> dict[str, str]:
    """The ``exemption`` object of docs/api.md from the evidence the clerk typed.

    Evidence (settlement.md §Who may settle without the card): a child under 7
    the household register number; a foreign / HK / Macao / Taiwan insured a
    passport or travel permit; a lost card the replacement receipt number plus
    the ID document (``certno`` = a resident ID card).
    """

    def clean(value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    if certno and not document_number:
        document_type, document_number = "resident_id", certno
    household_register_no = clean(household_register_no)
    document_type, document_number = clean(document_type), clean(document_number)
    receipt_no = clean(receipt_no)
    if kind == "child_under_7":
        if not household_register_no:
            raise DeskError("a child exemption needs the household register number (户口本)")
        return {"kind": kind, "household_register_no": household_register_no}
    if kind not in EXEMPTION_KINDS:
        raise DeskError(f"unknown exemption {kind!r}: use one of {', '.join(EXEMPTION_KINDS)}")
    if not (document_type and document_number):
        raise DeskError(f"the {kind} exemption needs the identity document (type and number)")
    evidence = {"kind": kind, "document_type": document_type, "document_number": document_number}
    if kind == "lost_card_receipt":
        if not receipt_no:
            raise DeskError("a lost-card exemption needs the replacement receipt number")
        evidence["receipt_no"] = receipt_no
    return evidence


def admit_with_card(
    session: CardSession,
    client: SettlementClient,
    pin_entry: PinEntry,
    *,
    dept_name: str,
    dise_name: str,
    insutype: str | None = None,
    begntime: datetime | None = None,
    pin_attempts: int = 1,
    ipt_no: str | None = None,
) -> Admission:
    """2401 with the card: read + authenticate, check online, PIN, proof, admit.

    ``insutype`` defaults to the insurance type in DF04; ``ipt_no`` is the hospital's
    inpatient number (nhsa.md 2401 ``ipt_no``, unique per institution among live stays),
    looked up first (:class:`InpatientNumberTaken`); the service checks it again on 2401.
    """
    if ipt_no is not None:
        check_ipt_no_free(client, ipt_no)
    card = present_card(session, client)
    medical = card.read.medical
    if insutype is None:
        if medical is None:
            raise DeskError("give the insurance type (310 or 390): this PSAM cannot read DF04")
        insutype = medical.insurance_type
    proof = prove_card_present(
        session, client, card.card_no, "admission", pin_entry, attempts=pin_attempts
    )
    body: dict[str, Any] = {
        "psn_no": card.psn_no,
        "insutype": insutype,
        "dept_name": dept_name,
        "dise_name": dise_name,
        "proof": proof,
    }
    return Admission(_admit(client, body, begntime, ipt_no), card)


def check_ipt_no_free(client: SettlementClient, ipt_no: str) -> None:
    """:class:`InpatientNumberTaken` when a stay of this hospital (not cancelled) carries
    ``ipt_no`` (``GET /v1/admissions?ipt_no=``)."""
    taken = client.admissions(ipt_no=ipt_no, limit=1)["admissions"]
    if taken:
        raise InpatientNumberTaken(ipt_no, taken[0]["mdtrt_id"])


def admit_exempt(
    client: SettlementClient,
    psn_no: str,
    exemption: dict[str, str],
    *,
    dept_name: str,
    dise_name: str,
    insutype: str,
    begntime: datetime | None = None,
    ipt_no: str | None = None,
) -> Admission:
    """2401 without a card, on an exemption with its evidence (audited by the service);
    ``ipt_no`` as in :func:`admit_with_card`."""
    body: dict[str, Any] = {
        "psn_no": psn_no,
        "insutype": insutype,
        "dept_name": dept_name,
        "dise_name": dise_name,
        "exemption": exemption,
    }
    return Admission(_admit(client, body, begntime, ipt_no))


def _admit(
    client: SettlementClient, body: dict[str, Any], begntime: datetime | None, ipt_no: str | None
) -> dict[str, Any]:
    """``POST /v1/admissions`` with the optional fields the clerk gave."""
    if begntime is not None:
        body["begntime"] = begntime.isoformat()
    if ipt_no is not None:
        body["ipt_no"] = ipt_no
    return client.admit(body, idempotency_key=new_idempotency_key())


def upload_fees(
    client: SettlementClient, mdtrt_id: str, lines: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """2301 in batches of at most 1000 lines; returns the last answer with all accepted serials
    and every line's ``result`` (its catalogue class and parts)."""
    batch: list[dict[str, Any]] = []
    accepted: list[str] = []
    duplicates: list[str] = []
    results: list[dict[str, Any]] = []
    answer: dict[str, Any] = {}

    def flush() -> None:
        nonlocal answer
        answer = client.upload_fees(mdtrt_id, batch, idempotency_key=new_idempotency_key())
        accepted.extend(answer.get("accepted", []))
        duplicates.extend(answer.get("duplicates", []))
        results.extend(answer.get("result", []))
        batch.clear()

    for line in lines:
        batch.append(line)
        if len(batch) == FEE_BATCH:
            flush()
    if batch or not answer:
        if not batch:
            raise DeskError("no fee lines to upload")
        flush()
    return {**answer, "accepted": accepted, "duplicates": duplicates, "result": results}


def discharge_with_card(
    session: CardSession,
    client: SettlementClient,
    pin_entry: PinEntry,
    mdtrt_id: str,
    *,
    acct_used_flag: bool = True,
    endtime: datetime | None = None,
    pin_attempts: int = 1,
) -> Receipt:
    """2304 with the card and the PIN again; the receipt splits fund / account / cash."""
    admission = client.admission(mdtrt_id)
    card = present_card(session, client, medical=False)
    if card.psn_no != admission["psn_no"]:
        raise CardRefused(
            "card_not_holder",
            card.card_no,
            f"card {card.card_no} belongs to another person than admission {mdtrt_id}: "
            "ask for the patient's own card",
        )
    proof = prove_card_present(
        session, client, card.card_no, "discharge", pin_entry, attempts=pin_attempts
    )
    body: dict[str, Any] = {"acct_used_flag": acct_used_flag, "proof": proof}
    if endtime is not None:
        body["endtime"] = endtime.isoformat()
    return Receipt(client.settle(mdtrt_id, body, idempotency_key=new_idempotency_key()))


def discharge_exempt(
    client: SettlementClient,
    mdtrt_id: str,
    exemption: dict[str, str],
    *,
    acct_used_flag: bool = True,
    endtime: datetime | None = None,
) -> Receipt:
    """2304 on an exemption with its evidence."""
    body: dict[str, Any] = {"acct_used_flag": acct_used_flag, "exemption": exemption}
    if endtime is not None:
        body["endtime"] = endtime.isoformat()
    return Receipt(client.settle(mdtrt_id, body, idempotency_key=new_idempotency_key()))
