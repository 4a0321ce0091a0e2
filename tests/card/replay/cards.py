"""The test card the replays read: what is written on it, and its keys derived independently.

The facts are the values the public readers must read back (card.md §SSSE
files); the keys are derived from the key store's master keys with
:mod:`tests.card.independent` (card.md §Keys, diversification), not with the
card code under test.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from card.crypto import Algorithm
from card.issue import CardHolder, new_card
from card.keystore import KeyStore
from tests.card.independent import card_key

REGION = "430100"
CARD_FACTOR = bytes.fromhex("0102030405060708")
CARD_NUMBER = "X00000019"
INIT_ORG = "430100000001"
ISSUED = date(2024, 1, 15)
EXPIRES = date(2034, 1, 15)
HOLDER = CardHolder(name="张三", ssn="430100198005171119", sex="1", nation="01")
SSSE_PIN = "123456"
BANK_PIN = "246810"
PAN = "6222020000000000018"


def issue(path: Path, keystore: KeyStore, algorithm: Algorithm) -> Path:
    """A personalised card image at ``path`` with the facts below."""
    new_card(
        path,
        HOLDER,
        keystore=keystore,
        algorithm=algorithm,
        region=REGION,
        card_number=CARD_NUMBER,
        card_factor=CARD_FACTOR,
        issue_date=ISSUED,
        expiry_date=EXPIRES,
        init_org=INIT_ORG,
        pan=PAN,
        ssse_pin=SSSE_PIN,
        bank_pin=BANK_PIN,
    )
    return path


def facts(algorithm: Algorithm) -> dict[str, object]:
    """What each field reads as on this card, in the forms the readers produce."""
    return {
        "identification_code": (REGION + "D156000005" + CARD_FACTOR.hex()).upper(),
        "region": REGION,
        "card_type": "1",
        "version": "3.00" if algorithm is Algorithm.SM4 else "2.00",
        "init_org_hex": INIT_ORG.encode("ascii").hex().upper(),
        "issue_date": f"{ISSUED:%Y%m%d}",
        "expiry_date": f"{EXPIRES:%Y%m%d}",
        "card_number": CARD_NUMBER,
        "card_number_answer": "0709" + CARD_NUMBER.encode("ascii").hex().upper() + "9000",
        "ssn": HOLDER.ssn,
        "name": HOLDER.name,
        "name_extension": "00" * 20,
        "sex": HOLDER.sex,
        "nation": HOLDER.nation,
        "birthplace": HOLDER.ssn[:6],
        "birth_date": HOLDER.ssn[6:14],
        # card.md "What real cards do": FCI algorithm indicator 03 (SM4) / 01 (3DES).
        "algorithm_indicator": "03" if algorithm is Algorithm.SM4 else "01",
        "bare_9000": "9000",
        "bare_text": "",
    }


def card_keys(keystore: KeyStore, algorithm: Algorithm) -> dict[int, bytes]:
    """Every SSSE key of this card, ``DIV(DIV(master, city), card)`` (card.md §Keys)."""
    return {
        kid: card_key(algorithm.value, master, REGION, CARD_FACTOR)
        for kid, master in keystore.ssse[algorithm].items()
    }
