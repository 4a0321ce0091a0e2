"""The three card-less exemptions of settlement.md: each accepted only on matching evidence,
each refusal with its stable code."""

from datetime import date

import pytest

from settlement.rules import (
    ExemptionDecision,
    ExemptionKind,
    IdentityDocument,
    PersonFacts,
    check_exemption,
)
from settlement.rules.exemptions import (
    HK_MACAO_PERMIT,
    PASSPORT,
    RESIDENT_ID,
    TAIWAN_PERMIT,
)

D = date
ADMISSION = D(2026, 11, 23)

CHILD = PersonFacts(
    birth_date=D(2020, 3, 15),  # 6 on the admission date, 7 on 2027-03-15
    household_register_no="430102201903150011",
    identity_documents=(IdentityDocument(RESIDENT_ID, "43010220200315002X", None),),
)
CHILD_WITH_CARD = PersonFacts(
    birth_date=D(2022, 1, 1), household_register_no="HR-1", has_issued_card=True
)
CHILD_NO_REGISTER = PersonFacts(birth_date=D(2022, 1, 1), household_register_no=None)
FOREIGNER = PersonFacts(
    birth_date=D(1980, 5, 5),
    identity_documents=(
        IdentityDocument(PASSPORT, "E12345678", D(2030, 1, 1)),
        IdentityDocument(PASSPORT, "E00000001", D(2026, 11, 22)),  # expired the day before
        IdentityDocument(PASSPORT, "E00000002", ADMISSION),  # valid through the day
    ),
)
HONG_KONGER = PersonFacts(
    birth_date=D(1990, 1, 1),
    identity_documents=[(HK_MACAO_PERMIT, "H1234567801", D(2031, 1, 1))],  # plain tuples too
)
TAIWANESE_EXPLICIT = PersonFacts(
    birth_date=D(1990, 1, 1),
    identity_documents=(IdentityDocument(TAIWAN_PERMIT, "T0001", D(2031, 1, 1)),),
    origin="taiwan",
)
FOREIGNER_WITH_CARD = PersonFacts(
    birth_date=D(1980, 5, 5),
    identity_documents=(IdentityDocument(PASSPORT, "E99", D(2030, 1, 1)),),
    has_issued_card=True,
)
MAINLANDER = PersonFacts(
    birth_date=D(1975, 8, 8),
    identity_documents=(
        IdentityDocument(RESIDENT_ID, "430102197508080019", D(2035, 8, 8)),
        IdentityDocument(PASSPORT, "E55555555", D(2030, 1, 1)),  # also holds a passport
    ),
    has_issued_card=True,
    pending_replacement_receipts=frozenset({"RR2026112300042"}),
)
MAINLANDER_EXPLICIT_PASSPORT_ONLY = PersonFacts(
    birth_date=D(1975, 8, 8),
    identity_documents=(IdentityDocument(PASSPORT, "E7", D(2030, 1, 1)),),
    origin="mainland",
)
EXPIRED_ID = PersonFacts(
    birth_date=D(1975, 8, 8),
    identity_documents=(IdentityDocument(RESIDENT_ID, "430102197508080019", D(2026, 1, 1)),),
    has_issued_card=True,
    pending_replacement_receipts={"RR1"},
)

CHILD_K = ExemptionKind.CHILD_UNDER_7
FOREIGN_K = ExemptionKind.FOREIGN_DOCUMENT
LOST_K = ExemptionKind.LOST_CARD_RECEIPT
LOST_EVIDENCE = {
    "receipt_no": "RR2026112300042",
    "document_type": "resident_id",
    "document_number": "430102197508080019",
}

CASES = [
    # ---- child under 7 -----------------------------------------------------------------
    ("child-accepted", CHILD_K, {"household_register_no": "430102201903150011"}, CHILD,
     ADMISSION, True, "exemption_accepted"),
    ("child-accepted-spaces-case", "child_under_7",
     {"household_register_no": " 4301 0220 1903 1500 11 "}, CHILD, ADMISSION, True,
     "exemption_accepted"),
    ("child-day-before-7th-birthday", CHILD_K, {"household_register_no": "430102201903150011"},
     CHILD, D(2027, 3, 14), True, "exemption_accepted"),
    ("child-7th-birthday", CHILD_K, {"household_register_no": "430102201903150011"}, CHILD,
     D(2027, 3, 15), False, "child_over_age"),
    ("child-register-mismatch", CHILD_K, {"household_register_no": "430102201903150012"}, CHILD,
     ADMISSION, False, "exemption_evidence_mismatch"),
    ("child-no-register-on-record", CHILD_K, {"household_register_no": "X"}, CHILD_NO_REGISTER,
     ADMISSION, False, "exemption_evidence_mismatch"),
    ("child-evidence-missing", CHILD_K, {}, CHILD, ADMISSION, False, "exemption_evidence_missing"),
    ("child-evidence-blank", CHILD_K, {"household_register_no": "  "}, CHILD, ADMISSION, False,
     "exemption_evidence_missing"),
    ("child-card-issued", CHILD_K, {"household_register_no": "HR-1"}, CHILD_WITH_CARD, ADMISSION,
     False, "card_issued_must_use"),
    ("child-not-born-yet", CHILD_K, {"household_register_no": "430102201903150011"}, CHILD,
     D(2019, 1, 1), False, "exemption_not_applicable"),
    # ---- foreign / HK / Macao / Taiwan -------------------------------------------------
    ("foreign-passport", FOREIGN_K, {"document_type": "passport", "document_number": "E12345678"},
     FOREIGNER, ADMISSION, True, "exemption_accepted"),
    ("foreign-passport-case", FOREIGN_K,
     {"document_type": " Passport ", "document_number": "e12345678"}, FOREIGNER, ADMISSION, True,
     "exemption_accepted"),
    ("foreign-valid-through-today", FOREIGN_K,
     {"document_type": "passport", "document_number": "E00000002"}, FOREIGNER, ADMISSION, True,
     "exemption_accepted"),
    ("foreign-expired-yesterday", FOREIGN_K,
     {"document_type": "passport", "document_number": "E00000001"}, FOREIGNER, ADMISSION, False,
     "document_expired"),
    ("foreign-wrong-number", FOREIGN_K,
     {"document_type": "passport", "document_number": "E12345679"}, FOREIGNER, ADMISSION, False,
     "exemption_evidence_mismatch"),
    ("foreign-wrong-type", FOREIGN_K,
     {"document_type": "hk_macao_permit", "document_number": "E12345678"}, FOREIGNER, ADMISSION,
     False, "exemption_evidence_mismatch"),
    ("foreign-resident-id-not-accepted", FOREIGN_K,
     {"document_type": "resident_id", "document_number": "E12345678"}, FOREIGNER, ADMISSION,
     False, "exemption_evidence_mismatch"),
    ("foreign-missing-number", FOREIGN_K, {"document_type": "passport"}, FOREIGNER, ADMISSION,
     False, "exemption_evidence_missing"),
    ("hong-kong-permit", FOREIGN_K,
     {"document_type": "hk_macao_permit", "document_number": "H1234567801"}, HONG_KONGER,
     ADMISSION, True, "exemption_accepted"),
    ("hong-kong-permit-after-expiry", FOREIGN_K,
     {"document_type": "hk_macao_permit", "document_number": "H1234567801"}, HONG_KONGER,
     D(2031, 1, 2), False, "document_expired"),
    ("taiwan-permit", FOREIGN_K, {"document_type": "taiwan_permit", "document_number": "T0001"},
     TAIWANESE_EXPLICIT, ADMISSION, True, "exemption_accepted"),
    ("foreign-card-issued", FOREIGN_K, {"document_type": "passport", "document_number": "E99"},
     FOREIGNER_WITH_CARD, ADMISSION, False, "card_issued_must_use"),
    ("mainlander-with-passport", FOREIGN_K,
     {"document_type": "passport", "document_number": "E55555555"}, MAINLANDER, ADMISSION, False,
     "exemption_not_applicable"),
    ("explicit-mainland-origin", FOREIGN_K, {"document_type": "passport", "document_number": "E7"},
     MAINLANDER_EXPLICIT_PASSPORT_ONLY, ADMISSION, False, "exemption_not_applicable"),
    # ---- lost card being replaced ------------------------------------------------------
    ("lost-accepted", LOST_K, LOST_EVIDENCE, MAINLANDER, ADMISSION, True, "exemption_accepted"),
    ("lost-accepted-with-passport", LOST_K,
     {**LOST_EVIDENCE, "document_type": "passport", "document_number": "E55555555"}, MAINLANDER,
     ADMISSION, True, "exemption_accepted"),
    ("lost-receipt-unknown", LOST_K, {**LOST_EVIDENCE, "receipt_no": "RR2026112300043"},
     MAINLANDER, ADMISSION, False, "receipt_not_pending"),
    ("lost-receipt-of-no-pending-replacement", LOST_K, LOST_EVIDENCE, CHILD, ADMISSION, False,
     "receipt_not_pending"),
    ("lost-id-mismatch", LOST_K, {**LOST_EVIDENCE, "document_number": "430102197508080027"},
     MAINLANDER, ADMISSION, False, "exemption_evidence_mismatch"),
    ("lost-id-type-mismatch", LOST_K, {**LOST_EVIDENCE, "document_type": "passport"},
     MAINLANDER, ADMISSION, False, "exemption_evidence_mismatch"),
    ("lost-id-expired", LOST_K,
     {"receipt_no": "RR1", "document_type": "resident_id", "document_number": "430102197508080019"},
     EXPIRED_ID, ADMISSION, False, "document_expired"),
    ("lost-receipt-missing", LOST_K, {k: v for k, v in LOST_EVIDENCE.items() if k != "receipt_no"},
     MAINLANDER, ADMISSION, False, "exemption_evidence_missing"),
    ("lost-id-missing", LOST_K, {"receipt_no": "RR2026112300042"}, MAINLANDER, ADMISSION, False,
     "exemption_evidence_missing"),
    # ---- everything else ---------------------------------------------------------------
    ("unknown-kind", "vip", {}, MAINLANDER, ADMISSION, False, "exemption_not_applicable"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "evidence", "person", "on", "accepted", "code"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_check_exemption(kind, evidence, person, on, accepted, code):
    decision = check_exemption(kind, evidence, person, on)
    assert isinstance(decision, ExemptionDecision)
    assert (decision.accepted, decision.code) == (accepted, code), decision.reason
    assert decision.reason  # always something to put in the audit log


def test_reasons_tell_the_clerk_what_is_wrong():
    over = check_exemption(
        CHILD_K, {"household_register_no": "430102201903150011"}, CHILD, D(2027, 6, 1)
    )
    assert "is 7 on 2027-06-01" in over.reason
    expired = check_exemption(
        FOREIGN_K, {"document_type": "passport", "document_number": "E00000001"}, FOREIGNER,
        ADMISSION,
    )  # fmt: skip
    assert "expired on 2026-11-22" in expired.reason
    missing = check_exemption(LOST_K, {"receipt_no": "x"}, MAINLANDER, ADMISSION)
    assert "document_type" in missing.reason and "document_number" in missing.reason


def test_exemption_kind_values_are_stable():
    assert [k.value for k in ExemptionKind] == [
        "child_under_7",
        "foreign_document",
        "lost_card_receipt",
    ]
    assert ExemptionKind("child_under_7") == "child_under_7"
