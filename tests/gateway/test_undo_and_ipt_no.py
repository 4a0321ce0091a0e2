"""2601 冲正 of 2401 / 2304 / 2305 and the hospital's admission number ``ipt_no`` (issue 15;
nhsa.md §Transactions; docs/gateway.md §2601, §2401).

A 2305 whose answer was lost is undone: the settlement stands again exactly as it was made
(the account debited again, the stay settled, the day's report and 3201 see no reversal, the
whole ledger still reconciles). An undo repeated with its own msgid gets its first answer; a
second, different undo of the same message is refused by name. A reversal something was built
on since (2405) cannot be undone. ``ipt_no`` is unique per institution among live stays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from settlement.reconciliation import ledger_check
from tests.gateway.conftest import demo_setup, serve, stop
from tests.gateway.his import CST, Desk, His

LINE = "XJ01CAA040A001010101445"  # 甲: amoxicillin, in the sample catalogue


def _local(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def world(tmp_path):
    service = serve(tmp_path, demo_setup(tmp_path, "--people", "2"))
    try:
        yield service
    finally:
        stop(service)


def _admission(person: dict, ipt_no: str) -> dict:
    info = {
        "psn_no": person["psn_no"],
        "insutype": person["insutype"],
        "begntime": _local(datetime.now(CST) - timedelta(hours=3)),
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person["card_no"],
        "med_type": "21",
        "ipt_no": ipt_no,
    }
    return {"mdtrtinfo": info, "diseinfo": []}


def _balance(his: His, person: dict) -> int:
    data = {"mdtrt_cert_type": "02", "mdtrt_cert_no": person["certno"], "certno": person["certno"]}
    (insu,) = his.ok("1101", {"data": {**data, "psn_cert_type": "01"}})["insuinfo"]
    return round(insu["balc"] * 100)


def _ledger(world) -> dict:
    engine = sa.create_engine(world.world["database_url"])
    try:
        with engine.connect() as conn:
            return ledger_check(conn)
    finally:
        engine.dispose()


def _settle(his: His, desk: Desk, person: dict, ipt_no: str) -> tuple[dict, dict]:
    """Admission → one fee line → discharge → settlement; (the stay ids, setlinfo)."""
    desk.authenticate()
    mdtrt_id = his.ok("2401", _admission(person, ipt_no))["result"]["mdtrt_id"]
    stay = {"mdtrt_id": mdtrt_id, "psn_no": person["psn_no"]}
    line = {**stay, "feedetl_sn": "1", "med_list_codg": LINE, "cnt": "4", "pric": "12.345"}
    his.ok("2301", {"feedetail": [line]})
    his.ok("2402", {"dscginfo": {**stay, "endtime": _local(datetime.now(CST))}})
    desk.authenticate(pin=person["ssse_pin"])
    data = {
        **stay,
        "insutype": person["insutype"],
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person["card_no"],
        "medfee_sumamt": "49.38",
        "psn_setlway": "01",
        "acct_used_flag": "1",
    }
    return stay, his.ok("2304", {"data": data})["setlinfo"]


def _daily(desk: Desk) -> dict:
    today = datetime.now(CST).date().isoformat()
    reply = desk.v1.get("/v1/reports/daily", params={"date": today})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_2601_undoes_a_reversal_and_the_settlement_stands_again(world):
    person = world.world["people"][0]
    his, desk = His(world.url, world.world), Desk(world.url, world.world, person)
    try:
        his.sign_in()
        opening = _balance(his, person)
        stay, info = _settle(his, desk, person, "ZY-0001")
        settled_balance = opening - round(info["acct_pay"] * 100)
        assert info["acct_pay"] > 0 and _balance(his, person) == settled_balance
        revs = {"data": {**stay, "setl_id": info["setl_id"]}}
        reversed_ = his.ok("2305", revs)["setlinfo"]
        revs_msgid = his.last_msgid
        assert _balance(his, person) == opening
        assert _daily(desk)["reversals"]["count"] == 1

        undo = {"data": {"psn_no": person["psn_no"], "omsgid": revs_msgid, "oinfno": "2305"}}
        first = his.call("2601", undo)
        assert first["infcode"] == 0 and first["output"] == {}
        undo_msgid = his.last_msgid
        # The settlement stands again as it was made; the reversal is gone from the books.
        assert _balance(his, person) == settled_balance
        view = desk.v1.get(f"/v1/settlements/{info['setl_id']}").json()
        assert view["status"] == "settled" and view["acct_pay"] == round(info["acct_pay"] * 100)
        assert desk.v1.get(f"/v1/admissions/{stay['mdtrt_id']}").json()["status"] == "settled"
        queried = his.ok("5203", {"data": {"setl_id": info["setl_id"]}})["setlinfo"]
        assert queried["fund_pay_sumamt"] == info["fund_pay_sumamt"]
        daily = _daily(desk)
        assert daily["balanced"] and daily["reversals"]["count"] == 0
        assert daily["settlements"]["count"] == 1
        ledger = _ledger(world)
        assert ledger["ok"] and ledger["problems"] == []
        today = datetime.now(CST).date().isoformat()
        period = {"insutype": person["insutype"], "clr_type": "21", "stmt_begndate": today}
        period["stmt_enddate"] = today
        totals = {
            "medfee_sumamt": info["medfee_sumamt"],
            "fund_pay_sumamt": info["fund_pay_sumamt"],
            "acct_pay": info["acct_pay"],
            "fixmedins_setl_cnt": "1",
        }
        ok = his.ok("3201", {"data": {**period, **totals, "refd_setl_flag": "0"}})["stmtinfo"]
        assert ok["stmt_rslt"] == "0"
        none = dict.fromkeys(("medfee_sumamt", "fund_pay_sumamt", "acct_pay"), "0")
        none["fixmedins_setl_cnt"] = "0"
        ok = his.ok("3201", {"data": {**period, **none, "refd_setl_flag": "1"}})["stmtinfo"]
        assert ok["stmt_rslt"] == "0"

        # The HIS retries the undo with its msgid: the first answer, nothing undone twice.
        again = his.call("2601", undo, msgid=undo_msgid)
        assert again["output"] == {} and again["inf_refmsgid"] == first["inf_refmsgid"]
        assert _balance(his, person) == settled_balance
        # A second, different undo of the same message is refused by name.
        twice = his.call("2601", undo)
        assert twice["infcode"] == -1 and "重复冲正" in twice["err_msg"]
        assert undo_msgid in twice["err_msg"]
        # The reversal's own retry is refused: it was undone.
        retried = his.call("2305", revs, msgid=revs_msgid)
        assert retried["infcode"] == -1 and "冲正" in retried["err_msg"]

        # Reversed again, then admitted again (2405): that reversal cannot be undone.
        assert his.ok("2305", revs)["setlinfo"]["setl_id"] != reversed_["setl_id"]
        second = his.last_msgid
        his.ok("2405", {"data": stay})
        refused = his.call("2601", {"data": {**undo["data"], "omsgid": second}})
        assert refused["infcode"] == -1 and "不能冲正" in refused["err_msg"]
        assert "admitted" in refused["err_msg"]
        assert _ledger(world)["ok"]
    finally:
        desk.close()
        his.client.close()


def test_2601_undoes_a_settlement_and_an_admission(world):
    person = world.world["people"][1]
    his, desk = His(world.url, world.world), Desk(world.url, world.world, person)
    try:
        his.sign_in()
        opening = _balance(his, person)
        stay, info = _settle(his, desk, person, "ZY-0002")
        settle_msgid = his.last_msgid
        undo = {"data": {"psn_no": person["psn_no"], "omsgid": settle_msgid, "oinfno": "2304"}}
        assert his.ok("2601", undo) == {}
        assert desk.v1.get(f"/v1/settlements/{info['setl_id']}").json()["status"] == "reversed"
        assert _balance(his, person) == opening
        status = desk.v1.get(f"/v1/admissions/{stay['mdtrt_id']}").json()["status"]
        assert status == "discharged"
        wrong = his.call("2601", {"data": {**undo["data"], "oinfno": "2401"}})
        assert wrong["infcode"] == -1 and "2304" in wrong["err_msg"]
        # An admission undone frees its ipt_no for the registration that replaces it.
        desk.authenticate()
        his.ok("2401", _admission(person, "ZY-0003"))
        admit_msgid = his.last_msgid
        undo = {"data": {"psn_no": person["psn_no"], "omsgid": admit_msgid, "oinfno": "2401"}}
        assert his.ok("2601", undo) == {}
        desk.authenticate()
        assert his.ok("2401", _admission(person, "ZY-0003"))["result"]["ipt_otp_no"] == "ZY-0003"
        assert _ledger(world)["ok"]
    finally:
        desk.close()
        his.client.close()


def test_ipt_no_is_unique_per_institution(world):
    person, other = world.world["people"]
    his = His(world.url, world.world)
    desks = [Desk(world.url, world.world, p) for p in (person, other)]
    try:
        his.sign_in()
        desks[0].authenticate()
        first = his.call("2401", _admission(person, "ZY-7788"))
        assert first["infcode"] == 0 and first["output"]["result"]["ipt_otp_no"] == "ZY-7788"
        mdtrt_id, first_msgid = first["output"]["result"]["mdtrt_id"], his.last_msgid
        # The HIS's retry of the same message: the first answer.
        retry = his.call("2401", _admission(person, "ZY-7788"), msgid=first_msgid)
        assert retry["output"] == first["output"]
        # Another message with the same admission number, for another patient: refused by name.
        desks[1].authenticate()
        taken = his.call("2401", _admission(other, "ZY-7788"))
        assert taken["infcode"] == -1 and taken["output"] is None
        assert "住院号 ipt_no=ZY-7788" in taken["err_msg"] and mdtrt_id in taken["err_msg"]
        # Another number is fine; so is a registration without one.
        assert his.ok("2401", _admission(other, "ZY-7789"))["result"]["ipt_otp_no"] == "ZY-7789"
        desks[1].authenticate()
        assert his.ok("2401", _admission(other, ""))["result"]["ipt_otp_no"] == ""
        # 2404 frees the number.
        his.ok("2404", {"data": {"mdtrt_id": mdtrt_id, "psn_no": person["psn_no"]}})
        desks[0].authenticate()
        assert his.ok("2401", _admission(person, "ZY-7788"))["result"]["mdtrt_id"] != mdtrt_id
    finally:
        for desk in desks:
            desk.close()
        his.client.close()


def test_the_unique_index_holds_without_the_gateway(world):
    """The database refuses a second live stay with the number, whatever path writes it."""
    engine = sa.create_engine(world.world["database_url"])
    try:
        with engine.begin() as conn:
            rows = conn.execute(sa.text("SELECT mdtrt_id, institution_code FROM admission")).all()
        assert rows == []
        his, desk = (
            His(world.url, world.world),
            Desk(world.url, world.world, world.world["people"][0]),
        )
        try:
            his.sign_in()
            for _ in range(2):
                desk.authenticate()
                his.ok("2401", _admission(world.world["people"][0], ""))
        finally:
            desk.close()
            his.client.close()
        with engine.begin() as conn:
            ids = [r[0] for r in conn.execute(sa.text("SELECT mdtrt_id FROM admission"))]
            conn.execute(
                sa.text("UPDATE admission SET ipt_no = 'ZY-1' WHERE mdtrt_id = :m"), {"m": ids[0]}
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE admission SET ipt_no = 'ZY-1' WHERE mdtrt_id = :m"), {"m": ids[1]}
            )
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE admission SET status = 'cancelled' WHERE mdtrt_id = :m"),
                {"m": ids[0]},
            )
            conn.execute(
                sa.text("UPDATE admission SET ipt_no = 'ZY-1' WHERE mdtrt_id = :m"), {"m": ids[1]}
            )
    finally:
        engine.dispose()
