"""The insurance catalogue through the service (issue 14): the admin endpoint and the CLI load
versions (a bad row refused by line number, nothing loaded), and the fee upload classes each
line by it — fractional quantities, sub-fen prices, price ceilings, refunds mirroring their
line — with the settlement's totals the sums of the lines' parts (docs/api.md §Fees,
§Catalogue; harness.md "The catalogue")."""

from __future__ import annotations

import json

from tests.settlement.conftest import code_of, idem, uid

HEADER = "med_list_codg,med_list_name,chrgitm_lv,med_chrgitm_type,selfpay_prop,pric_uplmt_amt\n"


def _catalogue(prefix: str) -> str:
    return HEADER + (
        f"{prefix}A,甲类药,01,09,,\n{prefix}B,乙类药,02,09,0.10,6.5\n{prefix}C,丙类材料,03,08,,8\n"
    )


def _load(world, text: str, source: str = "t.csv", client=None):
    return (client or world.admin).post(
        f"/v1/catalogue?source={source}",
        content=text.encode("utf-8"),
        headers={"Content-Type": "text/csv", **idem()},
    )


def _listing(world) -> dict:
    answer = world.admin.get("/v1/catalogue")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_admin_loads_a_version_and_a_bad_row_loads_nothing(world):
    prefix = uid("K")
    before = _listing(world)
    bad = _catalogue(prefix) + f"{prefix}D,坏行,04,09,,\n"
    answer = _load(world, bad)
    assert answer.status_code == 422 and code_of(answer) == "catalogue_invalid", answer.text
    assert "line 5" in answer.json()["detail"] and "chrgitm_lv" in answer.json()["detail"]
    assert _listing(world) == before  # nothing of the file

    desk = world.terminal()
    refused = _load(world, _catalogue(prefix), client=desk)
    assert refused.status_code == 403 and code_of(refused) == "not_entitled"

    answer = _load(world, _catalogue(prefix), source="sample.csv")
    assert answer.status_code == 201, answer.text
    loaded = answer.json()
    assert loaded["entry_count"] == 3 and loaded["source"] == "sample.csv"
    listing = _listing(world)
    assert listing["version_id"] == loaded["version_id"]
    assert listing["versions"][0]["seq"] == loaded["seq"] == before["versions"][0]["seq"] + 1
    entries = {e["med_list_codg"]: e for e in listing["entries"]}
    assert len(entries) == len(before["entries"]) + 3  # added; the others stand
    b = entries[f"{prefix}B"]
    assert (b["chrgitm_lv"], b["selfpay_prop"], b["pric_uplmt_amt"]) == ("02", "0.1", "6.5")
    assert (b["selfpay_prop_bp"], b["pric_uplmt_e6"], b["med_list_name"]) == (
        1000,
        6_500_000,
        "乙类药",
    )
    assert (
        entries[f"{prefix}C"]["selfpay_prop"] == "1"
        and entries[f"{prefix}A"]["selfpay_prop"] == "0"
    )
    # a later load replaces by code
    again = _load(world, HEADER + f"{prefix}B,乙类药,02,09,0.2,\n")
    assert again.status_code == 201
    b = {e["med_list_codg"]: e for e in _listing(world)["entries"]}[f"{prefix}B"]
    assert (b["selfpay_prop"], b["pric_uplmt_amt"]) == ("0.2", None)


def test_fee_lines_are_classed_and_split_per_line_and_settled_from_their_parts(world):
    prefix = uid("K")
    assert _load(world, _catalogue(prefix)).status_code == 201
    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    url = f"/v1/admissions/{mdtrt_id}/fees"
    lines = [
        # 乙 above its 6.50 ceiling: 3 × 8.00 → over 450; (2400 − 450) × 10 % = 195
        {"feedetl_sn": "L1", "med_list_codg": f"{prefix}B", "cnt": 3, "pric": 800},
        # fractional quantity, sub-fen price: 0.5 × 3.335 yuan = 166.75 fen → 167
        {"feedetl_sn": "L2", "med_list_codg": f"{prefix}A", "cnt_decimal": "0.5",
         "pric_yuan": "3.335"},
        # 丙 above its 8.00 ceiling: 10.000001 yuan → 1000 fen, over 200, the rest 800 self-paid
        {"feedetl_sn": "L3", "med_list_codg": f"{prefix}C", "cnt": 1, "pric_yuan": "10.000001",
         "list_type": "C"},
        # 0.3333 × 1.000001 yuan = 33.33 fen → 33; share 3.3 → 3
        {"feedetl_sn": "L4", "med_list_codg": f"{prefix}B", "cnt_decimal": "0.3333",
         "pric_yuan": "1.000001"},
    ]  # fmt: skip
    answer = desk.post(url, json={"feedetail": lines}, headers=idem())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    parts = {
        r["feedetl_sn"]: (
            r["det_item_fee_sumamt"], r["overlmt_amt"], r["fulamt_ownpay_amt"],
            r["preselfpay_amt"], r["inscp_scp_amt"],
        )
        for r in body["result"]
    }  # fmt: skip
    assert parts == {
        "L1": (2400, 450, 0, 195, 1755),
        "L2": (167, 0, 0, 0, 167),
        "L3": (1000, 200, 800, 0, 0),
        "L4": (33, 0, 0, 3, 30),
    }
    l1 = body["result"][0]
    assert (l1["chrgitm_lv"], l1["list_type"], l1["selfpay_prop_bp"]) == ("02", "B", 1000)
    assert (l1["pric_uplmt_e6"], l1["cnt_e4"], l1["pric_e6"]) == (6_500_000, 30_000, 8_000_000)
    assert l1["catalogue_version"] == body["catalogue_version"] == _listing(world)["version_id"]
    assert body["medfee_sumamt"] == 2400 + 167 + 1000 + 33

    # refused lines change nothing
    for line, code, words in (
        ({"med_list_codg": "NOT-IN-IT", "cnt": 1, "pric": 100}, "catalogue_unknown_item",
         ["'NOT-IN-IT'"]),
        ({"med_list_codg": f"{prefix}B", "cnt": 1, "pric": 100, "list_type": "A"},
         "catalogue_class_mismatch", ["list_type A", "as B"]),
        ({"med_list_codg": f"{prefix}A", "cnt": 1, "cnt_decimal": "1", "pric": 100},
         "validation_error", []),
        ({"med_list_codg": f"{prefix}A", "cnt_decimal": "1.23456", "pric": 100},
         "validation_error", []),
        ({"med_list_codg": f"{prefix}A", "cnt": 1, "pric_yuan": "0.1234567"},
         "validation_error", []),
    ):  # fmt: skip
        refused = desk.post(url, json={"feedetail": [{"feedetl_sn": uid("X"), **line}]},
                            headers=idem())  # fmt: skip
        assert refused.status_code == 422 and code_of(refused) == code, refused.text
        assert all(word in refused.json()["detail"] for word in words), refused.text

    # a refund of one of L1's three units mirrors it: parts(3) − parts(2)
    refund = {"feedetl_sn": "R1", "med_list_codg": f"{prefix}B", "cnt": -1, "pric": 800,
              "init_feedetl_sn": "L1"}  # fmt: skip
    answer = desk.post(url, json={"feedetail": [refund]}, headers=idem())
    assert answer.status_code == 200, answer.text
    (r1,) = answer.json()["result"]
    assert (r1["det_item_fee_sumamt"], r1["overlmt_amt"], r1["preselfpay_amt"]) == (-800, -150, -65)
    assert answer.json()["fee_count"] == 5

    totals = {"medfee_sumamt": 2800, "fulamt_ownpay_amt": 800, "overlmt_selfpay": 500,
              "preselfpay_amt": 133, "inscp_scp_amt": 1367}  # fmt: skip
    pre = desk.post(f"/v1/admissions/{mdtrt_id}/pre-settlement", json={})
    assert pre.status_code == 200, pre.text
    assert {k: pre.json()[k] for k in totals} == totals
    setl = world.settle(desk, mdtrt_id, card)
    assert {k: setl[k] for k in totals} == totals
    assert setl["fund_pay_sumamt"] + setl["psn_part_amt"] == setl["medfee_sumamt"]
    stored = desk.get(f"/v1/settlements/{setl['setl_id']}")
    assert stored.status_code == 200 and stored.json()["overlmt_selfpay"] == 500


def test_cli_import_and_list(world, tmp_path):
    service = world.service
    prefix = uid("G")
    good = tmp_path / "gb.csv"
    good.write_bytes((HEADER + f"{prefix}1,阿莫西林胶囊,01,09,,\n").encode("gb18030"))
    done = service.cli("catalogue", "import", str(good), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entry_count"] == 1
    listed = json.loads(service.cli("catalogue", "list", "--json").stdout)
    assert {e["med_list_codg"]: e["med_list_name"] for e in listed["entries"]}[
        f"{prefix}1"
    ] == "阿莫西林胶囊"

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"{prefix}2,x,01,09,,\n{prefix}3,y,02,09,2,\n", encoding="utf-8-sig")
    refused = service.cli("catalogue", "import", str(bad))
    assert refused.returncode == 2
    assert "line 3" in refused.stderr and "selfpay_prop" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    after = json.loads(service.cli("catalogue", "list", "--json").stdout)
    assert after == listed  # nothing of the bad file
    missing = service.cli("catalogue", "import", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    text = service.cli("catalogue", "list")
    assert text.returncode == 0 and f"{prefix}1" in text.stdout
