"""The stay lifecycle (nhsa.md §Stay lifecycle; docs/api.md §Stay lifecycle), as a pure table.

admitted (2401) → discharged (2402) → settled (2304) → discharged again when the settlement is
reversed (2305) → admitted again (2405 discharge cancel) → cancelled (2404, only without
standing fees or settlement). Fees are uploaded (2301) and cancelled (2302) while the stay is
admitted or discharged; a settlement of an admitted stay discharges it in the same step (the
``/v1`` settlement always did).
"""

from __future__ import annotations

from dataclasses import dataclass

ADMITTED, DISCHARGED, SETTLED, CANCELLED = "admitted", "discharged", "settled", "cancelled"
STATUSES = (ADMITTED, DISCHARGED, SETTLED, CANCELLED)


class StayStepRefused(ValueError):
    """The step is not allowed in the stay's status; ``code`` is stable (HTTP 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Step:
    allowed_from: frozenset[str]
    to: str | None  # None: the status stays


#: step → where it may start and where it leaves the stay.
STEPS = {
    "discharge": Step(frozenset({ADMITTED}), DISCHARGED),
    "cancel_discharge": Step(frozenset({DISCHARGED}), ADMITTED),
    "change_admission": Step(frozenset({ADMITTED}), None),
    "cancel_admission": Step(frozenset({ADMITTED}), CANCELLED),
    "upload_fees": Step(frozenset({ADMITTED, DISCHARGED}), None),
    "cancel_fees": Step(frozenset({ADMITTED, DISCHARGED}), None),
    "pre_settle": Step(frozenset({ADMITTED, DISCHARGED}), None),
    "settle": Step(frozenset({ADMITTED, DISCHARGED}), SETTLED),
    "reverse": Step(frozenset({SETTLED}), DISCHARGED),
}

_WHY = {
    SETTLED: ("already_settled", "the stay is settled; reverse the settlement (2305) first"),
    CANCELLED: ("stay_cancelled", "the stay's admission was cancelled (2404)"),
    DISCHARGED: ("stay_discharged", "the stay is discharged; cancel the discharge (2405) first"),
    ADMITTED: ("stay_not_discharged", "the stay is not discharged"),
}


def next_status(step: str, status: str, *, standing_fees: int = 0) -> str:
    """The stay's status after ``step`` from ``status``, or :class:`StayStepRefused`.

    ``standing_fees``: fee lines still on the bill (an admission with fees cannot be cancelled).
    """
    rule = STEPS[step]
    if status not in rule.allowed_from:
        code, why = _WHY[status]
        raise StayStepRefused(code, f"{step.replace('_', ' ')} refused: {why}")
    if step == "cancel_admission" and standing_fees:
        raise StayStepRefused(
            "fees_standing",
            f"cancel admission refused: {standing_fees} fee lines stand; cancel them (2302) first",
        )
    return rule.to or status
