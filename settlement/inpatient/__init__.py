"""Inpatient billing: admission (2401), fees (2301), pre-settlement (2303),
discharge settlement (2304) and reversal (2305).

settlement.md: card authentication (or an exemption) at admission and at
discharge; coverage on the admission date; the split is the pure
:func:`settlement.rules.split.split_bill`; one settlement per admission (a
UNIQUE index on ``settlement.active_mdtrt_id``); a reversal restores the annual
ceiling and the personal account exactly. Lock order on PostgreSQL, always:
admission → settlement → person → benefit year (no deadlocks between settle and
reverse).

One module per step: :mod:`.admissions`, :mod:`.fees`, :mod:`.settlement`
(pre-settlement and settlement), :mod:`.reversal`; the answers' shapes in
:mod:`.views`. The rules they apply are pure functions in ``settlement/rules/``
(``stays``, ``fees``, ``split``, ``coverage``, ``exemptions``); the rows they
read and write are the stores ``settlement.store.admissions``, ``.settlements``
and ``.people``. The API layer calls the names exported here.
"""

from settlement.inpatient.admissions import admit, list_admissions, load_admission
from settlement.inpatient.fees import upload_fees
from settlement.inpatient.reversal import reverse
from settlement.inpatient.settlement import compute_split, load_settlement, pre_settle, settle
from settlement.inpatient.views import admission_view, settlement_view

__all__ = [
    "admission_view",
    "admit",
    "compute_split",
    "list_admissions",
    "load_admission",
    "load_settlement",
    "pre_settle",
    "reverse",
    "settle",
    "settlement_view",
    "upload_fees",
]
