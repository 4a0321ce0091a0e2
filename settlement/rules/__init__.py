"""Pure settlement rules (no web, no database): policy, bill split, coverage, exemptions.

See ../../shared/spec/settlement.md.  Every function here is deterministic and takes its
inputs explicitly (dates, balances, the policy), so it can be tested from a table.
"""

from settlement.rules.coverage import (
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
from settlement.rules.policy import (
    Policy,
    PolicyError,
    load_policy,
    policy_by_version,
    policy_in_force,
)
from settlement.rules.split import (
    FeeItem,
    Split,
    SplitError,
    SplitIdentityError,
    SplitRequest,
    check_identities,
    split_bill,
)

__all__ = [
    "CoveragePeriod",
    "EnrolmentRefused",
    "ExemptionDecision",
    "ExemptionKind",
    "FeeItem",
    "IdentityDocument",
    "PersonFacts",
    "Policy",
    "PolicyError",
    "Split",
    "SplitError",
    "SplitIdentityError",
    "SplitRequest",
    "age_on",
    "benefit_year",
    "check_exemption",
    "check_identities",
    "insurance_year",
    "is_covered",
    "load_policy",
    "policy_by_version",
    "policy_in_force",
    "resident_enrolment",
    "split_bill",
]
