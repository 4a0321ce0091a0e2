"""What each ``/v1`` operation answers on success (docs/api.md, per section; issue 16).

Declared in the OpenAPI document by ``settlement.api.openapi`` (:data:`SUCCESS`), not applied:
the routes send their answers as the domain builds them, so the hot path (admission, fees,
settlement) validates nothing more per request. Fields a later release adds are allowed
(the models do not forbid extra keys: docs/api.md "/v1 only adds"). Money is integer fen,
times ISO 8601 with offset, dates ``YYYY-MM-DD``. :data:`EXAMPLES` are real answers of the
service (``examples.json``), one per operation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from settlement.api.responses.contributions import (
    ChannelReconciliation,
    ContributionStatus,
    EnrolmentRecord,
    MigratedPayment,
    PaymentOrder,
)
from settlement.api.responses.models import (
    AccountCredit,
    Admission,
    Admissions,
    Admitted,
    ApiKey,
    ApiKeys,
    Card,
    CardAuthentication,
    CardLoss,
    Catalogue,
    CatalogueVersion,
    Challenge,
    CoveragePeriod,
    DailyReport,
    FeesCancelled,
    FeesUploaded,
    Health,
    Institution,
    MigratedCoverage,
    Out,
    Person,
    PinAuthority,
    PinOperation,
    PreSettlement,
    Probe,
    QueryPasswordChecked,
    QueryPasswordSet,
    Reversal,
    RotatedKey,
    Settlement,
    StayStatus,
    TerminalCreated,
)
from settlement.api.responses.production import (
    Application,
    ApplicationBatch,
    Applications,
    BankAccount,
    CardLossReport,
    Citizen,
    PersonalisationOrder,
    Progress,
)

#: The success answer of every operation: (method, path) → model.
SUCCESS: dict[tuple[str, str], type[Out]] = {
    ("GET", "/v1/health"): Health,
    ("POST", "/v1/probe"): Probe,
    ("POST", "/v1/institutions"): Institution,
    ("GET", "/v1/institutions/{code}"): Institution,
    ("POST", "/v1/institutions/{code}/terminals"): TerminalCreated,
    ("POST", "/v1/people"): Person,
    ("GET", "/v1/people"): Person,
    ("GET", "/v1/people/{psn_no}"): Person,
    ("POST", "/v1/people/{psn_no}/coverage"): CoveragePeriod,
    ("POST", "/v1/people/{psn_no}/resident-enrolment"): CoveragePeriod,
    ("POST", "/v1/people/{psn_no}/account-credits"): AccountCredit,
    ("POST", "/v1/admin/coverage-migrations"): MigratedCoverage,
    ("POST", "/v1/people/{psn_no}/query-password"): QueryPasswordSet,
    ("POST", "/v1/people/{psn_no}/query-password/verification"): QueryPasswordChecked,
    ("POST", "/v1/cards"): Card,
    ("GET", "/v1/cards/{card_no}"): Card,
    ("POST", "/v1/cards/{card_no}/collection"): Card,
    ("POST", "/v1/cards/{card_no}/loss"): CardLoss,
    ("POST", "/v1/cards/{card_no}/replacement"): Card,
    ("POST", "/v1/cards/{card_no}/cancellation"): Card,
    ("POST", "/v1/pin-operations"): PinOperation,
    ("GET", "/v1/pin-authority"): PinAuthority,
    ("POST", "/v1/challenges"): Challenge,
    ("POST", "/v1/card-authentications"): CardAuthentication,
    ("POST", "/v1/card-authentications/{token}/pin-verification"): CardAuthentication,
    ("GET", "/v1/card-authentications/{token}"): CardAuthentication,
    ("POST", "/v1/catalogue"): CatalogueVersion,
    ("GET", "/v1/catalogue"): Catalogue,
    ("POST", "/v1/admissions"): Admitted,
    ("GET", "/v1/admissions"): Admissions,
    ("GET", "/v1/admissions/{mdtrt_id}"): Admission,
    ("POST", "/v1/admissions/{mdtrt_id}/fees"): FeesUploaded,
    ("POST", "/v1/admissions/{mdtrt_id}/pre-settlement"): PreSettlement,
    ("POST", "/v1/admissions/{mdtrt_id}/settlement"): Settlement,
    ("POST", "/v1/admissions/{mdtrt_id}/discharge"): StayStatus,
    ("POST", "/v1/admissions/{mdtrt_id}/discharge/cancellation"): StayStatus,
    ("POST", "/v1/admissions/{mdtrt_id}/cancellation"): StayStatus,
    ("POST", "/v1/admissions/{mdtrt_id}/changes"): StayStatus,
    ("POST", "/v1/admissions/{mdtrt_id}/fees/cancellation"): FeesCancelled,
    ("GET", "/v1/settlements/{setl_id}"): Settlement,
    ("POST", "/v1/settlements/{setl_id}/reversal"): Reversal,
    ("GET", "/v1/reports/daily"): DailyReport,
    ("GET", "/v1/api-keys"): ApiKeys,
    ("POST", "/v1/api-keys/{key_id}/revocation"): ApiKey,
    ("POST", "/v1/api-keys/{key_id}/rotation"): RotatedKey,
    ("PUT", "/v1/api-keys/{key_id}/expiry"): ApiKey,
    ("POST", "/v1/applications"): Application,
    ("GET", "/v1/applications"): Applications,
    ("POST", "/v1/application-batches"): ApplicationBatch,
    ("GET", "/v1/applications/{application_id}"): Application,
    ("POST", "/v1/applications/{application_id}/audit"): Application,
    ("POST", "/v1/applications/{application_id}/comparison"): Application,
    ("POST", "/v1/applications/{application_id}/bank-account"): BankAccount,
    ("POST", "/v1/applications/{application_id}/withdrawal"): Application,
    ("POST", "/v1/applications/{application_id}/pre-check"): Application,
    ("GET", "/v1/applications/{application_id}/personalisation-order"): PersonalisationOrder,
    ("POST", "/v1/applications/{application_id}/personalisation"): Application,
    ("POST", "/v1/applications/{application_id}/account-opening"): Application,
    ("POST", "/v1/applications/{application_id}/issuance"): Application,
    ("POST", "/v1/applications/{application_id}/rejections"): Application,
    ("POST", "/v1/applications/{application_id}/corrections"): Application,
    ("POST", "/v1/card-losses"): CardLossReport,
    ("POST", "/v1/police-register/citizens"): Citizen,
    ("POST", "/v1/card-progress"): Progress,
    ("POST", "/v1/enrolments"): EnrolmentRecord,
    ("POST", "/v1/enrolments/{psn_no}/correction"): EnrolmentRecord,
    ("GET", "/v1/people/{psn_no}/contributions"): ContributionStatus,
    ("POST", "/v1/payment-orders"): PaymentOrder,
    ("GET", "/v1/payment-orders/{order_no}"): PaymentOrder,
    ("POST", "/v1/payment-orders/{order_no}/confirmation"): PaymentOrder,
    ("GET", "/v1/payment-channels/{code}/reconciliation"): ChannelReconciliation,
    ("POST", "/v1/contribution-payments"): MigratedPayment,
}

#: Operations answering with more than their route's status: a repeated payment order with
#: the same channel order id is ``200`` with the earlier order (a new one is ``201``).
ALSO: dict[tuple[str, str], tuple[str, ...]] = {("POST", "/v1/payment-orders"): ("200",)}

#: One real answer per operation ("METHOD /path" → body), the document's examples.
EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent / "examples.json").read_text(encoding="utf-8")
)
