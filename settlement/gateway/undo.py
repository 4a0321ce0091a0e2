"""2601 冲正: undo the transaction sent as message ``omsgid`` after a timeout or a lost answer
(nhsa.md §Transactions; docs/gateway.md §2601).

``data{psn_no, omsgid, oinfno}`` → no output node. What is undone, by the original's infno:
2401 (the admission is cancelled, so it must have no standing fee lines; its ``ipt_no`` is
free again), 2402 (the discharge is cancelled), 2304 (the settlement is reversed), 2305 (the
reversal is undone: the settlement stands again, :mod:`settlement.inpatient.reinstatement`).
nhsa.md names 2401, 2304 and 2305; a 2301 is taken back by 2302, a 2302 by uploading the
lines again. The original message is marked undone: a retry of it is refused from then on,
and it cannot be undone twice (a retry of the 2601 itself gets its first answer).
"""

from __future__ import annotations

from settlement import inpatient
from settlement.gateway.convert import GatewayError, node, text
from settlement.gateway.messages import Act
from settlement.inpatient import stay
from settlement.inpatient.reinstatement import undo_reversal
from settlement.store import gateway as store


def _admission(act: Act, mdtrt_id: str) -> None:
    stay.cancel_admission(act.conn, act.principal, mdtrt_id, act.now)


def _discharge(act: Act, mdtrt_id: str) -> None:
    stay.cancel_discharge(act.conn, act.principal, mdtrt_id, act.now)


def _settlement(act: Act, setl_id: str) -> None:
    inpatient.reverse(act.conn, act.principal, setl_id, "2601", act.now, act.tz)


def _reversal(act: Act, revs_setl_id: str) -> None:
    undo_reversal(act.conn, act.principal, revs_setl_id, "2601", act.now)


#: infno of the original → how it is undone (given the id it made).
UNDO = {"2401": _admission, "2402": _discharge, "2304": _settlement, "2305": _reversal}


def undo(act: Act) -> tuple[dict, str | None]:
    data = node(act.envelope.input, "data")
    omsgid = text(data, "omsgid", required=True, max_len=40)
    oinfno = text(data, "oinfno", max_len=8)
    institution = act.principal.institution_code
    original = store.find_message(act.conn, institution, omsgid, lock=True)
    if original is None:
        raise GatewayError(f"查无原交易报文 omsgid={omsgid}，无需冲正或请核对报文ID")
    if oinfno and oinfno != original.infno:
        raise GatewayError(f"原交易报文 {omsgid} 的交易编号是 {original.infno}，不是 {oinfno}")
    if original.undone_by:
        raise GatewayError(f"原交易报文 {omsgid} 已于报文 {original.undone_by} 冲正，不能重复冲正")
    how = UNDO.get(original.infno)
    if how is None or not original.subject:
        supported = "、".join(UNDO)
        raise GatewayError(f"交易 {original.infno} 不支持冲正（支持 {supported}）")
    how(act, original.subject)
    store.mark_undone(act.conn, institution, omsgid, act.envelope.msgid)
    return {}, omsgid
