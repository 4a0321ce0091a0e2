"""Who may be admitted or settled without presenting the card, and on what evidence.

settlement.md, "Who may settle without the card (exemptions)" — each a separate, audited path
where the clerk records the evidence:

1. ``child_under_7``: a child under 7 (age counted on the admission date) with no card issued;
   evidence: the household register (户口本) number, checked against the person's record.
2. ``foreign_document``: a foreign, Hong Kong, Macao or Taiwan insured person with no card
   issued; evidence: a valid (unexpired on that day) passport / travel permit matching the
   record.
3. ``lost_card_receipt``: a person whose card is reported lost and is being replaced; evidence:
   the replacement receipt number issued when the loss was reported, plus the ID document.
   Valid only while that replacement is pending.

Everyone else with an issued card must use it.  :func:`check_exemption` never raises for bad
evidence: it returns an :class:`ExemptionDecision` whose ``code`` is stable (for problem+json)
and whose ``reason`` tells the clerk what is wrong.

Evidence keys (strings; surrounding spaces ignored, document numbers compared case-insensitively):
``child_under_7`` → ``household_register_no``;
``foreign_document`` → ``document_type``, ``document_number``;
``lost_card_receipt`` → ``receipt_no``, ``document_type``, ``document_number``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from settlement.rules.coverage import age_on

CHILD_AGE_LIMIT = 7
"""The child exemption applies while the child is younger than 7 on the admission date."""

# Identity document types (证件类型) as recorded for a person.
RESIDENT_ID = "resident_id"  # 居民身份证
PASSPORT = "passport"  # 护照
HK_MACAO_PERMIT = "hk_macao_permit"  # 港澳居民来往内地通行证
TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证
FOREIGN_DOCUMENT_TYPES: frozenset[str] = frozenset({PASSPORT, HK_MACAO_PERMIT, TAIWAN_PERMIT})
"""Documents that prove a foreign / HK / Macao / Taiwan insured person's identity."""

CROSS_BORDER_ORIGINS: frozenset[str] = frozenset({"foreign", "hong_kong", "macao", "taiwan"})
"""Values of :attr:`PersonFacts.origin` that make the ``foreign_document`` exemption apply."""

# Stable decision codes.
ACCEPTED = "exemption_accepted"
EVIDENCE_MISSING = "exemption_evidence_missing"
EVIDENCE_MISMATCH = "exemption_evidence_mismatch"
NOT_APPLICABLE = "exemption_not_applicable"
DOCUMENT_EXPIRED = "document_expired"
CHILD_OVER_AGE = "child_over_age"
CARD_ISSUED_MUST_USE = "card_issued_must_use"
RECEIPT_NOT_PENDING = "receipt_not_pending"


class ExemptionKind(StrEnum):
    """The three card-less paths of settlement.md."""

    CHILD_UNDER_7 = "child_under_7"
    FOREIGN_DOCUMENT = "foreign_document"
    LOST_CARD_RECEIPT = "lost_card_receipt"


class IdentityDocument(NamedTuple):
    """An identity document on the person's record; ``valid_until`` ``None`` = no expiry."""

    doc_type: str
    number: str
    valid_until: date | None = None


@dataclass(frozen=True)
class PersonFacts:
    """What the service knows about the person, as far as the exemptions need it.

    ``origin``: ``'mainland'``, ``'foreign'``, ``'hong_kong'``, ``'macao'``, ``'taiwan'`` or
    ``None`` = derive it: a person with no ``resident_id`` on record and at least one passport /
    travel permit counts as foreign / HK / Macao / Taiwan.
    ``pending_replacement_receipts``: receipt numbers of card replacements still pending (given
    when the loss was reported; gone once the new card is issued or the request cancelled).
    """

    birth_date: date
    household_register_no: str | None = None
    identity_documents: Sequence[IdentityDocument] = ()
    has_issued_card: bool = False
    pending_replacement_receipts: Collection[str] = field(default_factory=frozenset)
    origin: str | None = None

    def is_cross_border(self) -> bool:
        """True for a foreign, Hong Kong, Macao or Taiwan insured person."""
        if self.origin is not None:
            return self.origin in CROSS_BORDER_ORIGINS
        types = {IdentityDocument(*doc).doc_type for doc in self.identity_documents}
        return RESIDENT_ID not in types and bool(types & FOREIGN_DOCUMENT_TYPES)


@dataclass(frozen=True)
class ExemptionDecision:
    """The outcome: ``accepted``, a stable ``code`` and a human ``reason`` for the audit log."""

    accepted: bool
    code: str
    reason: str


def _norm(value: str | None) -> str:
    return "".join((value or "").split()).upper()


def _refuse(code: str, reason: str) -> ExemptionDecision:
    return ExemptionDecision(False, code, reason)


def _missing(evidence: Mapping[str, str], keys: Sequence[str]) -> ExemptionDecision | None:
    absent = [key for key in keys if not _norm(evidence.get(key))]
    if absent:
        return _refuse(EVIDENCE_MISSING, f"evidence is missing {', '.join(absent)}")
    return None


def _match_document(
    person: PersonFacts,
    evidence: Mapping[str, str],
    on: date,
    allowed_types: Collection[str] | None,
) -> ExemptionDecision | None:
    """Refusal if the presented document is not an allowed, matching, unexpired one; else None."""
    doc_type = (evidence.get("document_type") or "").strip().lower()
    number = _norm(evidence.get("document_number"))
    if allowed_types is not None and doc_type not in allowed_types:
        return _refuse(
            EVIDENCE_MISMATCH,
            f"document type {doc_type!r} is not accepted here; present one of "
            f"{sorted(allowed_types)}",
        )
    for doc in person.identity_documents:
        doc = IdentityDocument(*doc)
        if doc.doc_type == doc_type and _norm(doc.number) == number:
            if doc.valid_until is not None and doc.valid_until < on:
                return _refuse(
                    DOCUMENT_EXPIRED,
                    f"the {doc_type} expired on {doc.valid_until.isoformat()}, before "
                    f"{on.isoformat()}; a valid document is required",
                )
            return None
    return _refuse(
        EVIDENCE_MISMATCH,
        f"the {doc_type or 'document'} presented does not match the person's record",
    )


def check_exemption(
    kind: ExemptionKind | str,
    evidence: Mapping[str, str],
    person: PersonFacts,
    on: date,
) -> ExemptionDecision:
    """Decide whether ``person`` may be admitted / settled on ``on`` without the card.

    ``on`` is the admission date (the child's age and document validity are judged on it).
    """
    try:
        kind = ExemptionKind(kind)
    except ValueError:
        return _refuse(
            NOT_APPLICABLE,
            f"unknown exemption {kind!r}; one of {[k.value for k in ExemptionKind]}",
        )
    if kind is ExemptionKind.CHILD_UNDER_7:
        return _child_under_7(evidence, person, on)
    if kind is ExemptionKind.FOREIGN_DOCUMENT:
        return _foreign_document(evidence, person, on)
    return _lost_card_receipt(evidence, person, on)


def _child_under_7(evidence: Mapping[str, str], person: PersonFacts, on: date) -> ExemptionDecision:
    if person.has_issued_card:
        return _refuse(
            CARD_ISSUED_MUST_USE,
            "a card has been issued to this child: the card must be presented",
        )
    if on < person.birth_date:
        return _refuse(NOT_APPLICABLE, "the admission date is before the person's birth date")
    age = age_on(person.birth_date, on)
    if age >= CHILD_AGE_LIMIT:
        return _refuse(
            CHILD_OVER_AGE,
            f"the person is {age} on {on.isoformat()}; the child exemption ends at "
            f"{CHILD_AGE_LIMIT}",
        )
    refusal = _missing(evidence, ("household_register_no",))
    if refusal:
        return refusal
    if not person.household_register_no or _norm(evidence["household_register_no"]) != _norm(
        person.household_register_no
    ):
        return _refuse(
            EVIDENCE_MISMATCH,
            "the household register number does not match the person's record",
        )
    return ExemptionDecision(
        True, ACCEPTED, f"child aged {age} with no card; household register number matches"
    )


def _foreign_document(
    evidence: Mapping[str, str], person: PersonFacts, on: date
) -> ExemptionDecision:
    if not person.is_cross_border():
        return _refuse(
            NOT_APPLICABLE,
            "the document exemption is only for foreign, Hong Kong, Macao or Taiwan insured "
            "persons",
        )
    if person.has_issued_card:
        return _refuse(
            CARD_ISSUED_MUST_USE,
            "a card has been issued to this person: the card must be presented",
        )
    refusal = _missing(evidence, ("document_type", "document_number")) or _match_document(
        person, evidence, on, FOREIGN_DOCUMENT_TYPES
    )
    if refusal:
        return refusal
    return ExemptionDecision(
        True, ACCEPTED, f"valid {evidence['document_type'].strip().lower()} matches the record"
    )


def _lost_card_receipt(
    evidence: Mapping[str, str], person: PersonFacts, on: date
) -> ExemptionDecision:
    refusal = _missing(evidence, ("receipt_no", "document_type", "document_number"))
    if refusal:
        return refusal
    pending = {_norm(receipt) for receipt in person.pending_replacement_receipts}
    if _norm(evidence["receipt_no"]) not in pending:
        return _refuse(
            RECEIPT_NOT_PENDING,
            "the replacement receipt is not a pending replacement of this person's card "
            "(unknown, someone else's, or the new card is already issued)",
        )
    refusal = _match_document(person, evidence, on, None)
    if refusal:
        return refusal
    return ExemptionDecision(
        True, ACCEPTED, "pending card replacement receipt and ID document match the record"
    )
