"""Bad envelopes each get a clear ``infcode -1`` (or the right HTTP error) and change nothing
(issue 15, Done when 2); a retried msgid gets its first answer (docs/gateway.md §Messages)."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing

import pytest

from tests.gateway.his import His, csb_headers, tif_headers

TABLES = ("admission", "gateway_message", "gateway_sign_in", "audit_log", "gateway_nonce")


def _counts(world: dict) -> dict[str, int]:
    path = world["database_url"].removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture
def his(demo_service) -> His:
    his = His(demo_service.url, demo_service.world)
    his.sign_in()
    return his


def _admission(his: His, person: dict) -> dict:
    return {
        "mdtrtinfo": {
            "psn_no": person["psn_no"],
            "insutype": person["insutype"],
            "begntime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600)),
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": person["card_no"],
            "med_type": "21",
        },
        "diseinfo": [],
    }


def _refused(his: His, infno: str, body: bytes, headers: dict | None = None, status: int = 200):
    reply = his.post(infno, body, headers)
    assert reply.status_code == status, reply.text
    answer = reply.json()
    assert answer["infcode"] == -1 and answer["output"] is None
    assert answer["err_msg"] and answer["inf_refmsgid"] and answer["respond_time"]
    return answer["err_msg"]


def test_bad_envelopes_are_refused_and_change_nothing(his, demo_service):
    world = demo_service.world
    person = world["people"][1]
    good = his.envelope("1101", {"data": {"mdtrt_cert_type": "02", "certno": person["certno"]}})
    before = _counts(world)

    def send(envelope: dict) -> bytes:
        return json.dumps(envelope, ensure_ascii=False).encode()

    missing = {k: v for k, v in good.items() if k != "msgid"}
    assert "msgid" in _refused(his, "1101", send(missing))
    wrong = {**good, "fixmedins_code": "H43010000999"}
    assert "fixmedins_code" in _refused(his, "1101", send(wrong))
    gateway = world["gateway"]
    forged = tif_headers(gateway["tif"]["paasid"], "not-the-secret")
    assert "签名" in _refused(his, "1101", send(good), forged)
    stale = tif_headers(
        gateway["tif"]["paasid"], gateway["tif"]["secret"], stamp=int(time.time()) - 600
    )
    assert "过期" in _refused(his, "1101", send(good), stale)
    stale_csb = csb_headers(
        gateway["csb"]["access_key"], gateway["csb"]["secret_key"], "1101", stamp_ms=1
    )
    assert "过期" in _refused(his, "1101", send(good), stale_csb)
    assert "认证" in _refused(his, "1101", send(good), {})
    unknown = {**good, "infno": "9999"}
    assert "9999" in _refused(his, "9999", send(unknown))
    assert "JSON" in _refused(his, "1101", b'{"infno": "1101", ')
    assert "JSON" in _refused(his, "1101", "中文".encode("gb18030"))
    huge = send({**good, "input": {"data": {"memo": "x" * 1_000_001}}})
    assert "过大" in _refused(his, "1101", huge, status=413)
    unsigned = {**good, "sign_no": ""}
    assert "签到" in _refused(his, "1101", send(unsigned))
    unsupported = {**_admission(his, person)}
    unsupported["mdtrtinfo"] = {**unsupported["mdtrtinfo"], "insutype": "510"}
    assert "510" in _refused(his, "2401", send(his.envelope("2401", unsupported)))
    bad_time = {**_admission(his, person)}
    bad_time["mdtrtinfo"] = {**bad_time["mdtrtinfo"], "begntime": "2026/11/28 08:00"}
    assert "begntime" in _refused(his, "2401", send(his.envelope("2401", bad_time)))
    no_card = _admission(his, person)  # the card was never authenticated here
    assert "须持社会保障卡联网认证" in _refused(his, "2401", send(his.envelope("2401", no_card)))
    after = _counts(world)
    assert after == before


def test_a_reused_nonce_is_refused(his, demo_service):
    world = demo_service.world
    envelope = his.envelope("1101", {"data": {"certno": world["people"][0]["certno"]}})
    headers = tif_headers(world["gateway"]["tif"]["paasid"], world["gateway"]["tif"]["secret"])
    first = his.post("1101", json.dumps(envelope).encode(), headers)
    assert first.json()["infcode"] == 0, first.text
    again = his.envelope("1101", {"data": {"certno": world["people"][0]["certno"]}})
    assert "nonce" in _refused(his, "1101", json.dumps(again).encode(), headers)


def test_a_retried_msgid_gets_the_first_answer(his, demo_service):
    person = demo_service.world["people"][0]
    node = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": person["certno"]}}
    first = his.call("1101", node)
    assert first["infcode"] == 0
    msgid = his.last_msgid
    again = his.call("1101", node, msgid=msgid)
    assert again == first
    other = his.call(
        "1101", {"data": {"certno": demo_service.world["people"][1]["certno"]}}, msgid=msgid
    )
    assert other["infcode"] == -1 and msgid in other["err_msg"]


def test_apikey_and_text_plain_are_accepted(demo_service):
    his = His(demo_service.url, demo_service.world, auth="apikey", url_style="infno")
    his.sign_in()
    envelope = his.envelope("1101", {"data": {"certno": demo_service.world["people"][0]["certno"]}})
    reply = his.client.post(
        f"{demo_service.url}/fsi/api/1101",
        content=json.dumps(envelope, ensure_ascii=False).encode(),
        headers={"Content-Type": "text/plain", "apikey": demo_service.world["gateway"]["apikey"]},
    )
    assert reply.status_code == 200 and reply.json()["infcode"] == 0, reply.text


def test_sign_out_ends_the_sign_in(demo_service):
    his = His(demo_service.url, demo_service.world, opter="2002")
    his.sign_in()
    assert his.ok("9002", {"signOut": {"sign_no": his.sign_no, "opter_no": his.opter}})
    answer = his.call("1101", {"data": {"certno": demo_service.world["people"][0]["certno"]}})
    assert answer["infcode"] == -1 and "签退" in answer["err_msg"]
    other = His(demo_service.url, demo_service.world, opter="3003", sign_no=his.sign_no)
    answer = other.call("1101", {"data": {"certno": demo_service.world["people"][0]["certno"]}})
    assert answer["infcode"] == -1


def test_1101_by_card_checks_card_sn_and_the_networked_authentication(his, demo_service):
    person = demo_service.world["people"][3]  # never read at this hospital
    node = {
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person["card_no"],
        "card_sn": person["card_sn"],
    }
    answer = his.call("1101", {"data": node})
    assert answer["infcode"] == -1 and "须持社会保障卡联网认证" in answer["err_msg"]
    wrong_sn = his.call("1101", {"data": {**node, "card_sn": "0" * 32}})
    assert wrong_sn["infcode"] == -1 and "card_sn" in wrong_sn["err_msg"]
    no_sn = his.call("1101", {"data": {**node, "card_sn": ""}})
    assert no_sn["infcode"] == -1 and "card_sn" in no_sn["err_msg"]
    voucher = his.call("1101", {"data": {**node, "mdtrt_cert_type": "01"}})
    assert voucher["infcode"] == -1 and "电子凭证" in voucher["err_msg"]
