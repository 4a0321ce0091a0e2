"""Invariants checked after a simulated day (issue 7), over evidence from the service and cards.

Each check is a plain function from :class:`Evidence` to an
:class:`InvariantResult`; the runner gathers the evidence over HTTP (the
service's own settlements, audit and daily reconciliation report) and from the
card images, never from the service's database directly. A failing invariant
makes ``python -m hospital_sim run`` exit non-zero.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceSettlement:
    """A settlement as the service reports it (national field names, fen)."""

    setl_id: str
    mdtrt_id: str
    institution: str
    day: str  # ISO date the service books it on
    medfee_sumamt: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    reversed: bool
    proof: str  # "card" or an exemption kind, as recorded by the service
    admission_proof: str  # how the admission (2401) was proven: "card" or an exemption kind
    evidence: str  # the exemption evidence the service recorded ("" for card)
    card_no: str = ""  # the card that proved the admission ("" for an exemption)


@dataclass(frozen=True)
class DailyReport:
    """The service's reconciliation report for one institution and one day."""

    institution: str
    day: str
    settlements: int  # standing settlements
    medfee_sumamt: int
    fund_pay_sumamt: int
    acct_pay: int
    psn_cash_pay: int


@dataclass(frozen=True)
class PinState:
    """Whether a card's SSSE PIN is blocked, as the card image and the service each say."""

    card_number: str
    blocked_on_card: bool
    blocked_in_service: bool | None  # None: the service does not know the card


@dataclass
class Evidence:
    settlements: list[ServiceSettlement] = field(default_factory=list)
    reports: list[DailyReport] = field(default_factory=list)
    pin_states: list[PinState] = field(default_factory=list)
    #: setl_id -> (fund, account, cash) as the desk receipts printed them
    receipts: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class InvariantResult:
    name: str
    ok: bool
    checked: int
    detail: str
    failures: tuple[str, ...] = ()


Invariant = Callable[[Evidence], InvariantResult]

EXEMPTION_KINDS = frozenset({"child_under_7", "foreign_document", "lost_card_receipt"})


def _result(name: str, checked: int, failures: list[str], what: str) -> InvariantResult:
    detail = f"{checked} {what}" if not failures else f"{len(failures)} of {checked} fail"
    return InvariantResult(name, not failures, checked, detail, tuple(failures[:20]))


def card_proven_or_exempt(ev: Evidence) -> InvariantResult:
    """Every standing settlement was card-proven or exempt with recorded evidence, both ends."""
    failures = []
    standing = [s for s in ev.settlements if not s.reversed]
    for s in standing:
        for end, proof in (("admission", s.admission_proof), ("discharge", s.proof)):
            if proof == "card" and s.card_no:
                continue
            if proof in EXEMPTION_KINDS and s.evidence:
                continue
            failures.append(f"{s.setl_id}: {end} proven by {proof!r} evidence {s.evidence!r}")
    return _result("card-proven or exempt with evidence", len(standing), failures, "settlements")


def settled_once(ev: Evidence) -> InvariantResult:
    """No admission has more than one standing settlement."""
    counts = Counter(s.mdtrt_id for s in ev.settlements if not s.reversed)
    failures = [f"{mdtrt}: {n} standing settlements" for mdtrt, n in counts.items() if n > 1]
    return _result("no admission settled twice", len(counts), failures, "admissions")


def split_identities(ev: Evidence) -> InvariantResult:
    """fund + personal = total; personal = account + cash; nothing negative (settlement.md)."""
    failures = []
    for s in ev.settlements:
        if s.fund_pay_sumamt + s.psn_part_amt != s.medfee_sumamt:
            failures.append(
                f"{s.setl_id}: fund {s.fund_pay_sumamt} + personal {s.psn_part_amt}"
                f" != total {s.medfee_sumamt}"
            )
        if s.acct_pay + s.psn_cash_pay != s.psn_part_amt:
            failures.append(
                f"{s.setl_id}: account {s.acct_pay} + cash {s.psn_cash_pay}"
                f" != personal {s.psn_part_amt}"
            )
        if min(s.fund_pay_sumamt, s.psn_part_amt, s.acct_pay, s.psn_cash_pay) < 0:
            failures.append(f"{s.setl_id}: a negative share")
        receipt = ev.receipts.get(s.setl_id)
        if receipt is not None and receipt != (s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay):
            failures.append(f"{s.setl_id}: desk receipt {receipt} differs from the service")
    missing = sorted(set(ev.receipts) - {s.setl_id for s in ev.settlements})
    failures += [f"{setl_id}: printed on a receipt, unknown to the service" for setl_id in missing]
    unprinted = sorted({s.setl_id for s in ev.settlements} - set(ev.receipts))
    failures += [f"{setl_id}: settled by the service, no desk printed it" for setl_id in unprinted]
    return _result("settlement identities hold", len(ev.settlements), failures, "settlements")


def reconciles(ev: Evidence) -> InvariantResult:
    """Standing settlements add up to the service's daily reconciliation report, per institution."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for s in ev.settlements:
        if s.reversed:
            continue
        row = sums[(s.institution, s.day)]
        row[0] += 1
        row[1] += s.medfee_sumamt
        row[2] += s.fund_pay_sumamt
        row[3] += s.acct_pay
        row[4] += s.psn_cash_pay
    failures = []
    reported = {(r.institution, r.day): r for r in ev.reports}
    for key in sorted(set(sums) | set(reported)):
        mine = sums.get(key, [0, 0, 0, 0, 0])
        report = reported.get(key)
        if report is None:
            failures.append(f"{key[0]} {key[1]}: no daily report from the service")
            continue
        theirs = [
            report.settlements,
            report.medfee_sumamt,
            report.fund_pay_sumamt,
            report.acct_pay,
            report.psn_cash_pay,
        ]
        if mine != theirs:
            failures.append(f"{key[0]} {key[1]}: settlements say {mine}, report says {theirs}")
    return _result("totals reconcile with the daily report", len(reported), failures, "reports")


def pins_agree(ev: Evidence) -> InvariantResult:
    """Card images and the service agree on which SSSE PINs are blocked."""
    failures = [
        f"{p.card_number}: card {'blocked' if p.blocked_on_card else 'usable'},"
        f" service {'unknown' if p.blocked_in_service is None else ('blocked' if p.blocked_in_service else 'usable')}"
        for p in ev.pin_states
        if p.blocked_in_service is None or p.blocked_on_card != p.blocked_in_service
    ]
    blocked = sum(1 for p in ev.pin_states if p.blocked_on_card)
    return _result(
        "card images and service agree on PINs",
        len(ev.pin_states),
        failures,
        f"cards ({blocked} blocked)",
    )


ALL_INVARIANTS: tuple[Invariant, ...] = (
    card_proven_or_exempt,
    settled_once,
    split_identities,
    reconciles,
    pins_agree,
)


def check_all(
    ev: Evidence, invariants: tuple[Invariant, ...] = ALL_INVARIANTS
) -> list[InvariantResult]:
    return [check(ev) for check in invariants]
