"""Pure settlement rules (no web, no database), each tested from tables in tests/settlement_rules.

The rules in our own words are docs/rules.md. Every function here is deterministic and takes
its inputs explicitly (dates, balances, the policy), so it can be tested from a table:

- ``policy`` — the policy file (deductibles, ratios, ceilings); ``split`` — the split of a bill;
- ``coverage`` — who is covered when, resident enrolment, the benefit year, ages;
- ``contributions`` — enrolment records and contribution payment: entry delay, payment window,
  correction window, a person's state per insurance year, the contribution rates;
- ``stays`` — admission and discharge time windows, which stays count as prior;
- ``lifecycle`` — which stay step (discharge, cancellations, fees, settlement) may follow which;
- ``statement`` — 3201 reconciliation: the HIS's totals against the service's;
- ``fees`` — repeats, conflicts and refunds of a fee upload;
- ``exemptions`` — settling without the card; ``card_auth``, ``roles``,
  ``production_authority``, ``application_flow``, ``working_days``, ``citizen_id`` — the card
  production and authority rules.

The names most callers need are exported here.
"""

from settlement.rules.coverage import (
    BenefitYear,
    CoveragePeriod,
    EnrolmentRefused,
    age_on,
    benefit_year,
    insurance_year,
    is_covered,
    resident_enrolment,
)
from settlement.rules.exemptions import (
    ExemptionDecision,
    ExemptionKind,
    IdentityDocument,
    PersonFacts,
    check_exemption,
)
from settlement.rules.fees import FeeLine, FeeLineError, FeeUploadPlan, plan_upload
from settlement.rules.policy import (
    Policy,
    PolicyError,
    load_policy,
    policy_by_version,
    policy_in_force,
)
from settlement.rules.split import (
    SPLIT_AMOUNTS,
    FeeItem,
    Split,
    SplitError,
    SplitIdentityError,
    SplitRequest,
    check_identities,
    split_bill,
)
from settlement.rules.stays import (
    CLOCK_SKEW,
    StayStart,
    StayTimeError,
    check_admission_time,
    check_discharge_time,
    prior_admissions,
)

__all__ = [
    "CLOCK_SKEW",
    "SPLIT_AMOUNTS",
    "BenefitYear",
    "CoveragePeriod",
    "EnrolmentRefused",
    "ExemptionDecision",
    "ExemptionKind",
    "FeeItem",
    "FeeLine",
    "FeeLineError",
    "FeeUploadPlan",
    "IdentityDocument",
    "PersonFacts",
    "Policy",
    "PolicyError",
    "Split",
    "SplitError",
    "SplitIdentityError",
    "SplitRequest",
    "StayStart",
    "StayTimeError",
    "age_on",
    "benefit_year",
    "check_admission_time",
    "check_discharge_time",
    "check_exemption",
    "check_identities",
    "insurance_year",
    "is_covered",
    "load_policy",
    "plan_upload",
    "policy_by_version",
    "policy_in_force",
    "prior_admissions",
    "resident_enrolment",
    "split_bill",
]
