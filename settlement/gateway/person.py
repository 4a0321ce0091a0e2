"""1101 person information (人员信息获取; nhsa.md §Transactions, docs/gateway.md §1101).

By social security card (``mdtrt_cert_type`` ``03``: ``mdtrt_cert_no`` the card number, or
``cardno|pBusiCardInfo``; ``card_sn`` the 32-hex card identification code, which must be the
card's), by ID number (``02``, or ``psn_cert_type`` ``01`` + ``certno``), or by e-voucher
(``01``, not supported: refused). Answers ``baseinfo``, ``insuinfo[]`` (``balc`` per insurance
type: the personal account belongs to 310) and ``idetinfo[]`` (no special identities here).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection, Row

from settlement.gateway.cardonly import recent_authentication
from settlement.gateway.convert import GatewayError, local_time, node, show_date, text, yuan
from settlement.gateway.messages import Act
from settlement.people import load_person
from settlement.problems import Problem
from settlement.rules.coverage import age_on
from settlement.rules.split import ACCOUNT_INSUTYPE
from settlement.store import cards, people
from settlement.store import gateway as store

#: The national psn_cert_type of the service's document types (01 resident ID …).
CERT_TYPES = {
    "resident_id": "01",
    "passport": "08",
    "hk_macao_permit": "06",
    "taiwan_permit": "07",
}
NATY_HAN = "01"  # 汉族: the service keeps no ethnic group, cards of the demo world carry 01
#: psn_type (人员类别) of each insurance type (project choice, docs/gateway.md).
PSN_TYPES = {"310": "1101", "390": "1501"}


def find_person(act: Act, data: dict) -> Row:
    cert_type = text(data, "mdtrt_cert_type", max_len=4)
    if cert_type == "03":
        card_no = text(data, "mdtrt_cert_no", required=True, max_len=4000).split("|")[0].strip()
        card_sn = text(data, "card_sn", max_len=64)
        if not card_sn:
            raise GatewayError("社会保障卡就诊须提供卡识别码 card_sn（读卡 ReadCardBas 所得）")
        card = cards.find(act.conn, card_no)
        if card is None:
            raise GatewayError(f"查无此社会保障卡：{card_no}", "card_unknown")
        if card.card_id_code.upper() != card_sn.upper():
            raise GatewayError("卡识别码 card_sn 与社会保障卡不符，请重新读卡", "card_sn_mismatch")
        recent_authentication(act, data, pin=False)
        return load_person(act.conn, card.psn_no)
    if cert_type == "01":
        raise GatewayError("暂不支持医保电子凭证（mdtrt_cert_type=01），请使用社会保障卡或身份证")
    certno = text(data, "certno", max_len=32) or (
        text(data, "mdtrt_cert_no", max_len=32) if cert_type == "02" else ""
    )
    if not certno:
        raise GatewayError("请提供 mdtrt_cert_type 与 mdtrt_cert_no，或 psn_cert_type 与 certno")
    psn_no = people.psn_no_by_certno(act.conn, certno)
    if psn_no is None:
        raise GatewayError(f"查无此参保人：证件号码 {certno}", "person_unknown")
    return load_person(act.conn, psn_no)


def person_base(conn: Connection, psn_no: str) -> store.PersonBase:
    """The person fields of ``setlinfo`` (``404 person_unknown`` when not registered)."""
    person = store.person_base(conn, psn_no)
    if person is None:
        raise Problem(404, "person_unknown", f"person {psn_no} is not registered")
    return person


def baseinfo(person: Row | store.PersonBase, on) -> dict:
    return {
        "psn_no": person.psn_no,
        "psn_cert_type": CERT_TYPES.get(person.psn_cert_type, "99"),
        "certno": person.certno,
        "psn_name": person.psn_name,
        "gend": person.gend,
        "naty": NATY_HAN,
        "brdy": show_date(person.brdy),
        "age": age_on(person.brdy, on) if on >= person.brdy else 0,
    }


def person_info(act: Act) -> tuple[dict, str | None]:
    """1101: ``data{…}`` → ``baseinfo``, ``insuinfo[]``, ``idetinfo[]``."""
    data = node(act.envelope.input, "data")
    begntime = local_time(data, "begntime", act.tz, required=False)
    person = find_person(act, data)
    on = begntime.date() if begntime else act.today
    region = act.principal.region or ""
    insuinfo = [
        {
            "balc": yuan(int(person.acct_balance)) if p.insutype == ACCOUNT_INSUTYPE else 0.0,
            "insutype": p.insutype,
            "psn_type": PSN_TYPES[p.insutype],
            "psn_insu_stas": "1" if p.covers(on) else "2",
            "psn_insu_date": show_date(p.start),
            "paus_insu_date": show_date(p.end),
            "cvlserv_flag": "0",
            "insuplc_admdvs": region,
            "emp_name": "",
        }
        for p in people.coverage_periods(act.conn, person.psn_no)
    ]
    output = {"baseinfo": baseinfo(person, on), "insuinfo": insuinfo, "idetinfo": []}
    return output, person.psn_no
