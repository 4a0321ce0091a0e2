"""An HIS written for the national platform runs its inpatient card-only flow against a real
uvicorn serving the demo world (issue 15, Done when 1; docs/gateway.md).

The card is read through the terminal's Python reader layer (in-process reader, the card image
of the demo world; the reader library of issue 13 is not on main yet).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest

from tests.gateway.his import CST, Desk, His

SETLINFO_FIELDS = [
    "mdtrt_id",
    "setl_id",
    "psn_no",
    "psn_name",
    "psn_cert_type",
    "certno",
    "gend",
    "naty",
    "brdy",
    "age",
    "insutype",
    "psn_type",
    "cvlserv_flag",
    "setl_time",
    "mdtrt_cert_type",
    "med_type",
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
    "medins_setl_id",
    "clr_optins",
    "clr_way",
    "clr_type",
]
SETLDETAIL_FIELDS = (
    "fund_pay_type",
    "inscp_scp_amt",
    "crt_payb_lmt_amt",
    "fund_payamt",
    "fund_pay_type_name",
    "setl_proc_info",
)


def _local(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def _fees_v1(desk: Desk, mdtrt_id: str) -> int:
    """Fee lines through /v1 (the gateway's 2301 needs the catalogue of issue 14)."""
    lines = [
        {"feedetl_sn": "F1", "med_list_codg": "A001", "list_type": "A", "cnt": 2, "pric": 12_345},
        {"feedetl_sn": "F2", "med_list_codg": "B001", "list_type": "B", "cnt": 1, "pric": 50_000},
        {"feedetl_sn": "F3", "med_list_codg": "C001", "list_type": "C", "cnt": 3, "pric": 1_000},
    ]
    reply = desk.v1.post(
        f"/v1/admissions/{mdtrt_id}/fees",
        json={"feedetail": lines},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["medfee_sumamt"]


def _check_setlinfo(info: dict, person: dict, medfee_fen: int) -> None:
    assert list(info) == SETLINFO_FIELDS
    assert info["psn_no"] == person["psn_no"] and info["certno"] == person["certno"]
    assert info["psn_name"] == person["psn_name"] and info["naty"] == "01"
    assert info["insutype"] == person["insutype"] and info["clr_type"] == "21"
    assert info["medfee_sumamt"] == medfee_fen / 100
    for name in SETLINFO_FIELDS:
        if name.endswith(("_amt", "_pay", "_dedc", "_selfpay")) or name == "balc":
            assert isinstance(info[name], (int, float)), name
    cents = {k: round(info[k] * 100) for k in SETLINFO_FIELDS if isinstance(info[k], float)}
    # The split identities (settlement.md): parts of the bill, parts of the person's share.
    assert (
        cents["fulamt_ownpay_amt"] + cents["preselfpay_amt"] + cents["inscp_scp_amt"]
        == cents["medfee_sumamt"]
    )
    assert cents["fund_pay_sumamt"] + cents["psn_part_amt"] == cents["medfee_sumamt"]
    assert cents["acct_pay"] + cents["psn_cash_pay"] == cents["psn_part_amt"]
    assert cents["hifp_pay"] == cents["fund_pay_sumamt"]


@pytest.mark.parametrize(("auth", "url_style"), [("tif", "one"), ("csb", "infno")])
def test_card_only_inpatient_flow(demo_service, auth, url_style):
    world = demo_service.world
    person = world["people"][0 if auth == "tif" else 2]  # employees: personal account
    his = His(demo_service.url, world, auth=auth, url_style=url_style)
    desk = Desk(demo_service.url, world, person)
    try:
        signed = his.sign_in()["signinoutb"]
        assert len(signed["sign_no"]) >= 20 and signed["sign_time"]
        card = desk.read_and_authenticate()
        assert card["auth"]["card_sn"] == person["card_sn"]
        info = his.ok(
            "1101",
            {
                "data": {
                    "mdtrt_cert_type": "03",
                    "mdtrt_cert_no": person["card_no"],
                    "card_sn": person["card_sn"],
                    "begntime": _local(datetime.now(CST)),
                    "psn_cert_type": "",
                    "certno": "",
                    "psn_name": "",
                }
            },
        )
        base = info["baseinfo"]
        assert base["psn_no"] == person["psn_no"] and base["naty"] == "01"
        assert base["psn_cert_type"] == "01" and base["certno"] == person["certno"]
        (insu,) = info["insuinfo"]
        assert insu["insutype"] == person["insutype"] and insu["psn_insu_stas"] == "1"
        assert insu["insuplc_admdvs"] == "430100" and isinstance(insu["balc"], float)
        assert insu["balc"] > 0 and info["idetinfo"] == []
        his.insuplc_admdvs = insu["insuplc_admdvs"]
        mdtrtinfo = {
            "psn_no": person["psn_no"],
            "insutype": person["insutype"],
            "coner_name": "",
            "tel": "",
            "begntime": _local(datetime.now(CST) - timedelta(hours=2)),
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": person["card_no"],
            "med_type": "21",
            "ipt_no": f"ZY{secrets.randbelow(10**8):08d}",
            "adm_dept_name": "心内科",
            "dise_name": "冠心病",
            "fetts": "",
            "geso_val": "",
        }
        admitted = his.ok("2401", {"mdtrtinfo": mdtrtinfo, "diseinfo": []})
        mdtrt_id = admitted["result"]["mdtrt_id"]
        medfee = _fees_v1(desk, mdtrt_id)
        data = {
            "psn_no": person["psn_no"],
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": person["card_no"],
            "medfee_sumamt": f"{medfee / 100:.2f}",  # a numeric string, as openhis sends
            "psn_setlway": "01",
            "mdtrt_id": mdtrt_id,
            "insutype": person["insutype"],
            "acct_used_flag": "1",
            "invono": "",
            "mid_setl_flag": "0",
            "fulamt_ownpay_amt": "",
            "overlmt_selfpay": "",
            "preselfpay_amt": "",
            "inscp_scp_amt": "",
        }
        pre = his.ok("2303", {"data": data})
        _check_setlinfo(pre["setlinfo"], person, medfee)
        # Settlement needs the holder: a PIN-verified card authentication.
        refused = his.call("2304", {"data": data})
        assert refused["infcode"] == -1 and "联网认证" in refused["err_msg"]
        desk.read_and_authenticate(pin=person["ssse_pin"])
        settled = his.ok("2304", {"data": data})
        info = settled["setlinfo"]
        _check_setlinfo(info, person, medfee)
        assert info["medins_setl_id"] == his.last_msgid
        assert info == {**pre["setlinfo"], **{k: info[k] for k in ("setl_id", "setl_time")}} | {
            "medins_setl_id": his.last_msgid
        }
        assert round(info["balc"] * 100) == round(insu["balc"] * 100) - round(
            info["acct_pay"] * 100
        )
        assert [list(d) for d in settled["setldetail"]] == [list(SETLDETAIL_FIELDS)]
        queried = his.ok("5203", {"data": {"psn_no": person["psn_no"], "setl_id": info["setl_id"]}})
        assert queried["setlinfo"]["fund_pay_sumamt"] == info["fund_pay_sumamt"]
        reversed_ = his.ok(
            "2305",
            {
                "data": {
                    "mdtrt_id": mdtrt_id,
                    "setl_id": info["setl_id"],
                    "psn_no": person["psn_no"],
                }
            },
        )["setlinfo"]
        assert reversed_["setl_id"] != info["setl_id"]
        assert reversed_["medfee_sumamt"] == -info["medfee_sumamt"]
        assert reversed_["fund_pay_sumamt"] == -info["fund_pay_sumamt"]
        assert reversed_["balc"] == insu["balc"]
        twice = his.call(
            "2305",
            {
                "data": {
                    "mdtrt_id": mdtrt_id,
                    "setl_id": info["setl_id"],
                    "psn_no": person["psn_no"],
                }
            },
        )
        assert twice["infcode"] == -1 and "已撤销" in twice["err_msg"]
    finally:
        desk.close()
