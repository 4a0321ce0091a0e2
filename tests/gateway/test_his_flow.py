"""An HIS written for the national platform runs its inpatient card-only flow against a real
uvicorn serving the demo world (issue 15, Done when 1; docs/gateway.md).

The card is read through the terminal's Python reader layer (in-process reader, the card image
of the demo world; the reader library of issue 13 is not on main yet).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from tests.gateway.conftest import demo_setup, serve, stop
from tests.gateway.his import CST, Desk, His, LibraryDesk

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


#: 2301 lines of the sample catalogue: (sn, code, cnt, pric, refund of), strings as openhis sends.
LINES = [
    ("F1", "XJ01CAA040A001010101445", "2", "12.345", None),  # 甲: amoxicillin
    ("F2", "XJ01DCA031E001010100173", "1.5", "7.2", None),  # 乙, 10 %, ceiling 6.5 yuan
    ("F3", "XR05CBA060A001010101098", "3", "1", None),  # 丙: ambroxol
    ("F4", "XJ01CAA040A001010101445", "-1", "12.345", "F1"),  # a refund of one F1
    ("F5", "XN02BEA010A001010101112", "2", "3.8", None),  # cancelled by 2302 below
]


def _fees_2301(his: His, stay: dict) -> int:
    """Uploads :data:`LINES`; checks each line's answer; the bill in fen."""
    feedetail = [
        {
            "feedetl_sn": sn,
            "init_feedetl_sn": init or "",
            **stay,
            "drord_no": "",
            "med_type": "21",
            "fee_ocur_time": _local(datetime.now(CST) - timedelta(minutes=30)),
            "med_list_codg": code,
            "medins_list_codg": code,
            "det_item_fee_sumamt": str(
                (Decimal(cnt) * Decimal(pric)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            ),
            "cnt": cnt,
            "pric": pric,
            "bilg_dept_codg": "",
            "hosp_appr_flag": "",
            "memo": "",
        }
        for sn, code, cnt, pric, init in LINES
    ]
    result = his.ok("2301", {"feedetail": feedetail})["result"]
    assert [line["feedetl_sn"] for line in result] == [line[0] for line in LINES]
    by_sn = {line["feedetl_sn"]: line for line in result}
    assert list(result[0]) == [
        "feedetl_sn",
        "det_item_fee_sumamt",
        "cnt",
        "pric",
        "pric_uplmt_amt",
        "selfpay_prop",
        "fulamt_ownpay_amt",
        "overlmt_amt",
        "preselfpay_amt",
        "inscp_scp_amt",
        "chrgitm_lv",
        "med_chrgitm_type",
        "bas_medn_flag",
        "hi_nego_drug_flag",
        "chld_medc_flag",
        "list_sp_item_flag",
        "lmt_used_flag",
        "drt_reim_flag",
        "memo",
    ]
    for line in result:
        cents = {
            k: round(line[k] * 100)
            for k in (
                "det_item_fee_sumamt",
                "inscp_scp_amt",
                "fulamt_ownpay_amt",
                "preselfpay_amt",
                "overlmt_amt",
            )
        }
        assert (
            cents["inscp_scp_amt"]
            + cents["fulamt_ownpay_amt"]
            + cents["preselfpay_amt"]
            + cents["overlmt_amt"]
            == cents["det_item_fee_sumamt"]
        ), line
    assert by_sn["F1"]["chrgitm_lv"] == "01" and by_sn["F1"]["det_item_fee_sumamt"] == 24.69
    assert by_sn["F1"]["inscp_scp_amt"] == 24.69
    b = by_sn["F2"]
    assert b["chrgitm_lv"] == "02" and b["det_item_fee_sumamt"] == 10.8 and b["cnt"] == 1.5
    assert b["overlmt_amt"] == 1.05 and b["preselfpay_amt"] == 0.98 and b["selfpay_prop"] == 0.1
    assert b["pric_uplmt_amt"] == 6.5
    assert by_sn["F3"]["chrgitm_lv"] == "03" and by_sn["F3"]["fulamt_ownpay_amt"] == 3.0
    # A refund of one of two F1: what stays charged is one unit's amount, 12.35 (half-up).
    assert by_sn["F4"]["cnt"] == -1.0 and by_sn["F4"]["chrgitm_lv"] == "01"
    assert (
        round((by_sn["F1"]["det_item_fee_sumamt"] + by_sn["F4"]["det_item_fee_sumamt"]) * 100)
        == 1235
    )
    unknown = {**feedetail[0], "feedetl_sn": "F9", "med_list_codg": "NOT-IN-CATALOGUE"}
    refused = his.call("2301", {"feedetail": [unknown]})
    assert refused["infcode"] == -1 and "目录中无此项目" in refused["err_msg"]
    return sum(round(line["det_item_fee_sumamt"] * 100) for line in result)


def _status(desk: Desk, mdtrt_id: str) -> tuple[str, int]:
    view = desk.v1.get(f"/v1/admissions/{mdtrt_id}")
    assert view.status_code == 200, view.text
    return view.json()["status"], view.json()["medfee_sumamt"]


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
        cents["fulamt_ownpay_amt"]
        + cents["overlmt_selfpay"]
        + cents["preselfpay_amt"]
        + cents["inscp_scp_amt"]
        == cents["medfee_sumamt"]
    )
    assert cents["fund_pay_sumamt"] + cents["psn_part_amt"] == cents["medfee_sumamt"]
    assert cents["acct_pay"] + cents["psn_cash_pay"] == cents["psn_part_amt"]
    assert cents["hifp_pay"] == cents["fund_pay_sumamt"]


@pytest.fixture
def own_world(tmp_path):
    """A fresh demo world for one flow: its 3201 totals are this flow's alone."""
    service = serve(tmp_path, demo_setup(tmp_path, "--people", "3"))
    try:
        yield service
    finally:
        stop(service)


def _statement(his: His, insutype: str, reversals: bool, **totals) -> dict:
    today = datetime.now(CST).strftime("%Y-%m-%d")
    data = {
        "insutype": insutype,
        "clr_type": "21",
        "setl_optins": "430100",
        "stmt_begndate": today,
        "stmt_enddate": today,
        "refd_setl_flag": "1" if reversals else "0",
        **totals,
    }
    return his.ok("3201", {"data": data})["stmtinfo"]


@pytest.mark.parametrize(("auth", "url_style"), [("tif", "one"), ("csb", "infno")])
def test_card_only_inpatient_flow(own_world, auth, url_style):
    """The card read through the terminal's Python reader layer (in-process reader)."""
    person = own_world.world["people"][0 if auth == "tif" else 2]  # employees: an account
    desk = Desk(own_world.url, own_world.world, person)
    play_his(own_world, desk, person, auth, url_style, "python")


@pytest.mark.pcsc
def test_card_only_inpatient_flow_with_the_reader_library(readerlib_build, private_pcscd):
    """The card read through the reader library (libsscardreader.so, ``python -m terminal
    readcardbas``) on a virtual reader of a private pcscd; the HIS sends cardno|token."""
    home = Path(tempfile.mkdtemp(prefix="sscard-gw-"))  # short: the PIN pad's socket lives here
    service = serve(home, demo_setup(home, "--people", "2"))
    try:
        person = service.world["people"][0]
        desk = LibraryDesk(
            service.url, service.world, person, str(readerlib_build.library), private_pcscd(n=2)
        )
        desk.world_home = str(home)
        play_his(service, desk, person, "tif", "infno", "library")
    finally:
        stop(service)
        shutil.rmtree(home, ignore_errors=True)


def play_his(demo_service, desk: Desk, person: dict, auth: str, url_style: str, reader: str):
    world = demo_service.world
    his = His(demo_service.url, world, auth=auth, url_style=url_style)
    try:
        signed = his.sign_in()["signinoutb"]
        assert len(signed["sign_no"]) >= 20 and signed["sign_time"]
        token = desk.authenticate()
        # Some provinces send cardno|pBusiCardInfo, the library's token (reader-library.md).
        cert_no = f"{person['card_no']}|{token}" if reader == "library" else person["card_no"]
        info = his.ok(
            "1101",
            {
                "data": {
                    "mdtrt_cert_type": "03",
                    "mdtrt_cert_no": cert_no,
                    "card_sn": person["card_sn"],
                    "begntime": _local(datetime.now(CST)),
                    "psn_cert_type": "",
                    "certno": "",
                    "psn_name": "",
                }
            },
        )
        base = info["baseinfo"]
        assert list(base) == [
            "psn_no",
            "psn_cert_type",
            "certno",
            "psn_name",
            "gend",
            "naty",
            "brdy",
            "age",
        ]
        assert list(info["insuinfo"][0]) == [
            "balc",
            "insutype",
            "psn_type",
            "psn_insu_stas",
            "psn_insu_date",
            "paus_insu_date",
            "cvlserv_flag",
            "insuplc_admdvs",
            "emp_name",
        ]
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
            "mdtrt_cert_no": cert_no,
            "med_type": "21",
            "ipt_no": f"ZY{secrets.randbelow(10**8):08d}",
            "adm_dept_name": "心内科",
            "dise_name": "冠心病",
            "fetts": "",
            "geso_val": "",
        }
        admitted = his.ok("2401", {"mdtrtinfo": mdtrtinfo, "diseinfo": []})
        mdtrt_id = admitted["result"]["mdtrt_id"]
        stay = {"mdtrt_id": mdtrt_id, "psn_no": person["psn_no"]}
        his.ok("2302", {"data": {**stay, "feedetl_sn": "0000"}})  # openhis, before each upload
        medfee = _fees_2301(his, stay)
        # A line cancelled by 2302 (data as a list) leaves the bill.
        his.ok("2302", {"data": [{**stay, "feedetl_sn": "F5"}]})
        medfee -= 2 * 3_80
        assert _status(desk, mdtrt_id) == ("admitted", medfee)
        his.ok("2403", {"adminfo": {**stay, "adm_dept_name": "心血管内科", "dise_name": "冠心病"}})
        endtime = datetime.now(CST) - timedelta(minutes=5)
        his.ok("2402", {"dscginfo": {**stay, "endtime": _local(endtime), "dscg_way": "1"}})
        assert _status(desk, mdtrt_id) == ("discharged", medfee)
        again = his.call("2402", {"dscginfo": {**stay, "endtime": _local(endtime)}})
        assert again["infcode"] == -1 and "出院" in again["err_msg"]
        data = {
            "psn_no": person["psn_no"],
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": cert_no,
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
        token = desk.authenticate(pin=person["ssse_pin"])
        if reader == "library":
            data["mdtrt_cert_no"] = f"{person['card_no']}|{token}"
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
        # 3201: the HIS's totals of the day against ours, settlements and reversals.
        totals = {
            "medfee_sumamt": info["medfee_sumamt"],
            "fund_pay_sumamt": f"{info['fund_pay_sumamt']:.2f}",
            "acct_pay": info["acct_pay"],
            "fixmedins_setl_cnt": 1,
        }
        balanced = _statement(his, person["insutype"], False, **totals)
        assert balanced == {"setl_optins": "430100", "stmt_rslt": "0", "stmt_rslt_dscr": "对账一致"}
        negated = {
            "medfee_sumamt": reversed_["medfee_sumamt"],
            "fund_pay_sumamt": reversed_["fund_pay_sumamt"],
            "acct_pay": reversed_["acct_pay"],
            "fixmedins_setl_cnt": "1",
        }
        assert _statement(his, person["insutype"], True, **negated)["stmt_rslt"] == "0"
        off = _statement(his, person["insutype"], False, **{**totals, "fixmedins_setl_cnt": 2})
        assert off["stmt_rslt"] == "1" and "结算笔数" in off["stmt_rslt_dscr"]
        other = _statement(his, "390", False, **totals)
        assert other["stmt_rslt"] == "1" and "医疗费总额" in other["stmt_rslt_dscr"]
        # The reversed stay stays discharged; 2405 admits it again, 2404 cancels it once its
        # fees are cancelled.
        assert _status(desk, mdtrt_id) == ("discharged", medfee)
        his.ok("2405", {"data": stay})
        assert _status(desk, mdtrt_id) == ("admitted", medfee)
        standing = his.call("2404", {"data": stay})
        assert standing["infcode"] == -1 and "2302" in standing["err_msg"]
        his.ok("2302", {"data": {**stay, "feedetl_sn": "0000"}})
        his.ok("2404", {"data": stay})
        assert _status(desk, mdtrt_id) == ("cancelled", 0)
        late = his.call("2402", {"dscginfo": {**stay, "endtime": _local(endtime)}})
        assert late["infcode"] == -1 and "撤销" in late["err_msg"]
        # 2601 冲正: an admission whose answer was lost is undone by its msgid.
        lost = his.ok("2401", {"mdtrtinfo": {**mdtrtinfo, "ipt_no": "ZY-LOST"}, "diseinfo": []})
        lost_msgid, lost_id = his.last_msgid, lost["result"]["mdtrt_id"]
        undo = {"psn_no": person["psn_no"], "omsgid": lost_msgid, "oinfno": "2401"}
        assert his.ok("2601", {"data": undo}) == {}
        assert _status(desk, lost_id)[0] == "cancelled"
        twice = his.call("2601", {"data": undo})
        assert twice["infcode"] == -1 and "重复冲正" in twice["err_msg"]
        retry = his.call(
            "2401",
            {"mdtrtinfo": {**mdtrtinfo, "ipt_no": "ZY-LOST"}, "diseinfo": []},
            msgid=lost_msgid,
        )
        assert retry["infcode"] == -1 and "冲正" in retry["err_msg"]
        unknown = his.call("2601", {"data": {**undo, "omsgid": "H43010000001209901010000000001"}})
        assert unknown["infcode"] == -1 and "查无原交易" in unknown["err_msg"]
    finally:
        desk.close()
