"""The stay transactions: 2401 admission, 2402 discharge, 2403 admission change, 2404 admission
cancel, 2405 discharge cancel (nhsa.md §Transactions, §Stay lifecycle; docs/gateway.md).

Each translates the platform's nodes into a call of the core (``settlement.inpatient``), so
``/v1`` and the gateway share one stay lifecycle.
"""

from __future__ import annotations

from pydantic import ValidationError

from settlement import inpatient
from settlement.gateway.cardonly import holder
from settlement.gateway.convert import GatewayError, insutype, local_time, node, text
from settlement.gateway.messages import Act
from settlement.inpatient import stay
from settlement.inpatient.admissions import load_admission_for_billing
from settlement.problems import Problem
from settlement.schemas import AdmissionIn


def _diagnosis(act: Act, data: dict) -> str:
    name = text(data, "dise_name") or text(data, "adm_diag_dscr")
    if name:
        return name
    diseases = act.envelope.input.get("diseinfo")
    if isinstance(diseases, list):
        for disease in diseases:
            if isinstance(disease, dict) and str(disease.get("maindiag_flag", "")) == "1":
                return text(disease, "diag_name")
    return ""


def _ipt_no_taken(problem: Problem) -> GatewayError:
    """The core's ``409 ipt_no_taken`` as the clerk reads it (nhsa.md: unique per institution;
    a stay cancelled by 2404 or undone by 2601 frees it)."""
    stay = problem.extra.get("mdtrt_id")
    stay = f"就诊 {stay}" if stay else "另一次就诊"
    return GatewayError(
        f"住院号 ipt_no={problem.extra['ipt_no']} 已用于本机构的{stay}，不能重复办理入院；"
        "如为同一次住院请使用原就诊ID，如需重新登记请先撤销原入院（2404）",
        "ipt_no_taken",
    )


def admit(act: Act) -> tuple[dict, str | None]:
    """2401: ``mdtrtinfo`` + ``diseinfo[]`` → ``result{mdtrt_id}``; card-only (03 or exemption)."""
    data = node(act.envelope.input, "mdtrtinfo")
    psn_no = text(data, "psn_no", required=True, max_len=32)
    kind = insutype(data)
    begntime = local_time(data, "begntime", act.tz)
    med_type = text(data, "med_type", max_len=6)
    if med_type and med_type not in ("21", "2101"):
        raise GatewayError(f"医疗类别 med_type={med_type} 不支持，住院请使用 21（普通住院）")
    # The hospital's admission number (住院号 ``ipt_no``; ``ipt_otp_no`` as some HIS name it).
    ipt_no = text(data, "ipt_no", max_len=40) or text(data, "ipt_otp_no", max_len=40)
    path = holder(act, data, envelope_input=act.envelope.input, pin=False)
    try:
        body = AdmissionIn(
            psn_no=psn_no,
            insutype=kind,
            begntime=begntime,
            dept_name=text(data, "adm_dept_name", max_len=100),
            dise_name=_diagnosis(act, data)[:200],
            ipt_no=ipt_no or None,
            **path,
        )
    except ValidationError as error:
        raise GatewayError(
            f"入院登记信息不合法：{error.errors()[0]['msg']}", "field_invalid"
        ) from None
    settings = act.svc.settings
    try:
        admitted = inpatient.admit(
            act.conn,
            act.svc.keystore,
            act.principal,
            body,
            act.now,
            act.tz,
            settings.admission_backdate_days,
        )
    except Problem as problem:
        if problem.code == "ipt_no_taken":
            raise _ipt_no_taken(problem) from None
        raise
    mdtrt_id = admitted["mdtrt_id"]
    result = {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_no}
    return {"result": result}, mdtrt_id


def _stay(act: Act, name: str) -> tuple[dict, str]:
    data = node(act.envelope.input, name)
    mdtrt_id = text(data, "mdtrt_id", required=True, max_len=40)
    psn_no = text(data, "psn_no", max_len=32)
    if not psn_no:
        return data, mdtrt_id
    admission = load_admission_for_billing(act.conn, act.principal, mdtrt_id)
    if psn_no != admission.psn_no:
        raise GatewayError(f"人员编号 psn_no={psn_no} 与就诊 {mdtrt_id} 不一致")
    return data, mdtrt_id


def discharge(act: Act) -> tuple[dict, str | None]:
    """2402: ``dscginfo{mdtrt_id, psn_no, endtime, …}`` + ``diseinfo[]`` → no output node."""
    data, mdtrt_id = _stay(act, "dscginfo")
    endtime = local_time(data, "endtime", act.tz)
    stay.discharge(act.conn, act.principal, mdtrt_id, endtime, act.now)
    return {}, mdtrt_id


def change_admission(act: Act) -> tuple[dict, str | None]:
    """2403: ``adminfo{mdtrt_id, psn_no, begntime, adm_dept_name, dise_name, …}``."""
    data, mdtrt_id = _stay(act, "adminfo")
    changes = {
        "begntime": local_time(data, "begntime", act.tz, required=False),
        "dept_name": text(data, "adm_dept_name", max_len=100),
        "dise_name": _diagnosis(act, data)[:200],
    }
    days = act.svc.settings.admission_backdate_days
    stay.change_admission(act.conn, act.principal, mdtrt_id, changes, act.now, act.tz, days)
    return {}, mdtrt_id


def cancel_admission(act: Act) -> tuple[dict, str | None]:
    """2404: ``data{mdtrt_id, psn_no}``; only without standing fees or settlement."""
    _, mdtrt_id = _stay(act, "data")
    stay.cancel_admission(act.conn, act.principal, mdtrt_id, act.now)
    return {}, mdtrt_id


def cancel_discharge(act: Act) -> tuple[dict, str | None]:
    """2405: ``data{mdtrt_id, psn_no}``; a discharged, unsettled stay is admitted again."""
    _, mdtrt_id = _stay(act, "data")
    stay.cancel_discharge(act.conn, act.principal, mdtrt_id, act.now)
    return {}, mdtrt_id
