"""2303 pre-settlement, 2304 settlement, 2305 settlement reversal and 5203 settlement query
(nhsa.md §Transactions; docs/gateway.md §2303/2304).

The HIS sends its own sums (``medfee_sumamt`` and, when filled, ``fulamt_ownpay_amt``,
``overlmt_selfpay``, ``preselfpay_amt``, ``inscp_scp_amt``); a sum that differs from the
service's is refused naming the field. The answer is the full ``setlinfo`` in yuan and
``setldetail[]``; funds the project does not model answer 0. ``medins_setl_id`` echoes the
request's ``msgid``.
"""

from __future__ import annotations

from types import SimpleNamespace

from settlement import inpatient
from settlement.gateway.cardonly import holder
from settlement.gateway.convert import (
    GatewayError,
    fen,
    flag,
    insutype,
    node,
    show_time,
    text,
    yuan,
)
from settlement.gateway.messages import Act
from settlement.gateway.person import PSN_TYPES, baseinfo, person_base
from settlement.schemas import SettlementIn
from settlement.store.db import as_utc

#: Fund of each insurance type (setldetail.fund_pay_type, national codes).
FUNDS = {
    "310": ("310100", "职工基本医疗保险统筹基金"),
    "390": ("390100", "城乡居民基本医疗保险基金"),
}
ZERO_FUNDS = ("cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "hosp_part_amt")
ZERO_FUNDS += ("oth_pay", "acct_mulaid_pay")
#: The money fields of setlinfo, in the order of the specification.
AMOUNTS = [
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "pool_prop_selfpay",
    "cvlserv_pay",
    "hifes_pay",
    "hifmi_pay",
    "hifob_pay",
    "maf_pay",
    "hosp_part_amt",
    "oth_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
    "acct_mulaid_pay",
]
#: The HIS's sums checked against the service's.
CHECKED_SUMS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
)
CLR_TYPE_INPATIENT = "21"


def setlinfo(act: Act, person, split: dict, **ids) -> dict:
    """The ``setlinfo`` node of a split (fen inside, yuan out)."""
    base = baseinfo(person, act.today)
    kind = split["insutype"]
    info = {
        "mdtrt_id": split["mdtrt_id"],
        "setl_id": ids.get("setl_id", ""),
        "psn_no": split["psn_no"],
        "psn_name": base["psn_name"],
        **{k: base[k] for k in ("psn_cert_type", "certno", "gend", "naty", "brdy", "age")},
        "insutype": kind,
        "psn_type": PSN_TYPES[kind],
        "cvlserv_flag": "0",
        "setl_time": ids.get("setl_time", ""),
        "mdtrt_cert_type": ids.get("mdtrt_cert_type", "03"),
        "med_type": "21",
    }
    pool_self = split["inscp_scp_amt"] - split["act_pay_dedc"] - split["fund_pay_sumamt"]
    amounts = {
        **split,
        "hifp_pay": split["fund_pay_sumamt"],
        "pool_prop_selfpay": max(0, pool_self),
    }
    for name in AMOUNTS:
        info[name] = yuan(amounts[name]) if name in amounts and name not in ZERO_FUNDS else 0.0
    info["medins_setl_id"] = ids.get("medins_setl_id", "")
    info["clr_optins"] = act.principal.region or ""
    info["clr_way"] = "1"
    info["clr_type"] = CLR_TYPE_INPATIENT
    return info


def setldetail(split: dict) -> list[dict]:
    code, name = FUNDS[split["insutype"]]
    return [
        {
            "fund_pay_type": code,
            "inscp_scp_amt": yuan(split["inscp_scp_amt"]),
            "crt_payb_lmt_amt": yuan(split["fund_pay_sumamt"]),
            "fund_payamt": yuan(split["fund_pay_sumamt"]),
            "fund_pay_type_name": name,
            "setl_proc_info": "",
        }
    ]


def _request(act: Act) -> tuple[dict, str, bool]:
    data = node(act.envelope.input, "data")
    mdtrt_id = text(data, "mdtrt_id", required=True, max_len=40)
    if flag(data, "mid_setl_flag"):
        raise GatewayError("暂不支持中途结算（mid_setl_flag=1），请出院后结算")
    setlway = text(data, "psn_setlway", max_len=4)
    if setlway and setlway != "01":
        raise GatewayError(f"个人结算方式 psn_setlway={setlway} 不支持，请使用 01（按项目结算）")
    return data, mdtrt_id, flag(data, "acct_used_flag")


def _check(data: dict, split: dict, admission) -> None:
    kind = insutype(data, required=False)
    if kind and kind != admission.insutype:
        raise GatewayError(f"险种类型 insutype={kind} 与入院登记的 {admission.insutype} 不一致")
    psn_no = text(data, "psn_no", max_len=32)
    if psn_no and psn_no != admission.psn_no:
        raise GatewayError(f"人员编号 psn_no={psn_no} 与就诊 {admission.mdtrt_id} 不一致")
    for name in CHECKED_SUMS:
        theirs = fen(data, name, required=name == "medfee_sumamt")
        if theirs is not None and theirs != split[name]:
            raise GatewayError(
                f"{name} 与中心计算不一致：医院 {yuan(theirs):.2f} 元，中心 {yuan(split[name]):.2f} 元，"
                "请核对已上传的费用明细",
                "sum_mismatch",
            )


def pre_settle(act: Act) -> tuple[dict, str | None]:
    """2303: the split a settlement would make now; writes nothing."""
    data, mdtrt_id, use_account = _request(act)
    admission = inpatient.load_admission(act.conn, act.principal, mdtrt_id)
    split = inpatient.pre_settle(act.conn, act.principal, mdtrt_id, use_account, act.svc.policy)
    _check(data, split, admission)
    person = person_base(act.conn, admission.psn_no)
    info = setlinfo(act, person, split, mdtrt_cert_type=text(data, "mdtrt_cert_type"))
    return {"setlinfo": info, "setldetail": setldetail(split)}, mdtrt_id


def settle(act: Act) -> tuple[dict, str | None]:
    """2304: the settlement (card-only: a PIN-verified card authentication or an exemption)."""
    data, mdtrt_id, use_account = _request(act)
    path = holder(act, data, envelope_input=act.envelope.input, pin=True)
    body = SettlementIn(acct_used_flag=use_account, **path)
    done = inpatient.settle(
        act.conn, act.svc.keystore, act.principal, mdtrt_id, body, act.svc.policy, act.now, act.tz
    )
    # The HIS's sums against the settlement just made: a mismatch refuses the message and
    # rolls the settlement back with it (one transaction).
    _check(data, done, SimpleNamespace(**done))
    person = person_base(act.conn, done["psn_no"])
    info = setlinfo(
        act,
        person,
        done,
        setl_id=done["setl_id"],
        setl_time=show_time(act.now, act.tz),
        medins_setl_id=act.envelope.msgid,
        mdtrt_cert_type=text(data, "mdtrt_cert_type") or "03",
    )
    return {"setlinfo": info, "setldetail": setldetail(done)}, done["setl_id"]


def reverse(act: Act) -> tuple[dict, str | None]:
    """2305: ``data{mdtrt_id, setl_id, psn_no}`` → ``setlinfo`` with the reversal id as
    ``setl_id`` and the amounts negated; the stay stays discharged."""
    data = node(act.envelope.input, "data")
    setl_id = text(data, "setl_id", required=True, max_len=40)
    mdtrt_id = text(data, "mdtrt_id", max_len=40)
    row = inpatient.load_settlement(act.conn, act.principal, setl_id)
    if mdtrt_id and mdtrt_id != row.mdtrt_id:
        raise GatewayError(f"结算 {setl_id} 不属于就诊 {mdtrt_id}")
    done = inpatient.reverse(act.conn, act.principal, setl_id, "2305", act.now, act.tz)
    view = inpatient.settlement_view(row)
    negated = {k: -v if isinstance(v, int) else v for k, v in view.items()}
    negated["balc"] = done["balc"]
    person = person_base(act.conn, row.psn_no)
    info = setlinfo(
        act,
        person,
        negated,
        setl_id=done["revs_setl_id"],
        setl_time=show_time(act.now, act.tz),
        medins_setl_id=act.envelope.msgid,
    )
    return {"setlinfo": info, "setldetail": setldetail(negated)}, done["revs_setl_id"]


def query(act: Act) -> tuple[dict, str | None]:
    """5203: ``data{psn_no, setl_id, mdtrt_id}`` → ``setlinfo`` + ``setldetail[]`` as 2304."""
    data = node(act.envelope.input, "data")
    setl_id = text(data, "setl_id", required=True, max_len=40)
    row = inpatient.load_settlement(act.conn, act.principal, setl_id)
    view = inpatient.settlement_view(row)
    person = person_base(act.conn, row.psn_no)
    info = setlinfo(
        act, person, view, setl_id=setl_id, setl_time=show_time(as_utc(row.setl_time), act.tz)
    )
    return {"setlinfo": info, "setldetail": setldetail(view)}, setl_id
