"""The terminal's test world: a real settlement service, institutions with PSAMs, enrolled people.

Cards are made with the service's own key store (``settlement_service.keystore()``),
so their proofs verify; every institution gets an API key and a PSAM cut from
that store by role. ``card_reader(image)`` gives the reader for a test: the
in-process reader, or the card inserted into a real pcscd + vpcd reader.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from card.crypto import Algorithm
from card.issue import CardHolder, citizen_id, new_card
from card.keystore import KeyStore
from terminal.client.http import RetryPolicy
from terminal.client.settlement import SettlementClient
from terminal.psam import Psam, Role

REGION = "430100"


@dataclass
class Institution:
    code: str
    api_key: str
    psam: Psam
    psam_path: Path

    def client(self, url: str) -> SettlementClient:
        return SettlementClient(url, self.api_key, retry=RetryPolicy(attempts=3, backoff_s=0.02))


@dataclass
class Patient:
    psn_no: str
    card_no: str
    certno: str
    image: Path
    bank_code: str


class World:
    """Everything the terminal tests set up through the service's HTTP API."""

    def __init__(self, service, tmp: Path) -> None:
        self.service = service
        self.url = service.url
        self.tmp = tmp
        self.keystore: KeyStore = service.keystore()
        tag = secrets.token_hex(3).upper()
        self.hospital = self._institution(
            f"H{tag}", "hospital", Role.HOSPITAL, hospital_level=3, pin_service=False
        )
        self.pin_hospital = self._institution(
            f"HP{tag}", "hospital", Role.HOSPITAL, hospital_level=3, pin_service=True
        )
        self.bank102 = self._institution(
            f"B102{tag}", "bank_branch", Role.BANK_BRANCH, bank_code="102"
        )
        self.bank103 = self._institution(
            f"B103{tag}", "bank_branch", Role.BANK_BRANCH, bank_code="103"
        )
        self.centre = self._institution(f"CC{tag}", "card_centre", Role.CARD_CENTRE)
        self.centre_client = self.centre.client(self.url)
        self.admin_client = SettlementClient(
            self.url, service.admin_key, retry=RetryPolicy(attempts=3, backoff_s=0.02)
        )

    def _institution(self, code: str, kind: str, role: Role, **fields) -> Institution:
        key = self.service.add_terminal(code, kind=kind, region=REGION, **fields)
        psam = Psam.provision(
            self.keystore,
            code,
            role,
            pin_service=bool(fields.get("pin_service")),
            bank_code=fields.get("bank_code"),
        )
        path = self.tmp / f"{code}.psam"
        psam.save(path)
        return Institution(code, key, psam, path)

    def patient(
        self,
        *,
        algorithm: Algorithm = Algorithm.TDES,
        acct_balance: int = 50_000,
        bank_code: str = "102",
        insutype: str = "310",
        birth: date = date(1980, 5, 17),
        status: str = "active",
        expiry: date | None = None,
        extra: dict | None = None,
    ) -> Patient:
        """A covered person with an active card registered at the service and a card image."""
        psn_no = REGION + f"{secrets.randbelow(10**14):014d}"
        card_no = f"X{secrets.randbelow(10**8):08d}"
        ssn = citizen_id(REGION, birth, secrets.randbelow(1000), "1")
        holder = CardHolder(name="张三丰", ssn=ssn, sex="1")
        client = self.centre_client
        client.request(
            "POST",
            "/v1/people",
            json={
                "psn_no": psn_no,
                "psn_name": holder.name,
                "gend": "1",
                "brdy": holder.birth.isoformat(),
                "certno": ssn,
                "psn_cert_type": "resident_id",
                "acct_balance": acct_balance,
                **(extra or {}),
            },
        )
        self.admin_client.request(  # a paid period: the admin's migration (docs/api.md)
            "POST",
            "/v1/admin/coverage-migrations",
            json={
                "psn_no": psn_no,
                "insutype": insutype,
                "begndate": "2020-01-01",
                "enddate": None,
                "reason": "test fixture",
            },
        )
        image_path = self.tmp / f"{card_no}.json"
        image = new_card(
            image_path,
            holder,
            keystore=self.keystore,
            algorithm=algorithm,
            region=REGION,
            card_number=card_no,
            psn_no=psn_no,
            bank_code=bank_code,
            insurance_type=insutype,
            expiry_date=expiry,
        )
        client.request(
            "POST",
            "/v1/cards",
            json={
                "card_no": card_no,
                "card_id_code": image.identification_code.hex().upper(),
                "algorithm": algorithm.value,
                "region": REGION,
                "expiry": (expiry or date(2036, 1, 1)).isoformat(),
                "issue_date": date.today().isoformat(),
                "bank_code": bank_code,
                "psn_no": psn_no,
                "status": status,
            },
        )
        return Patient(psn_no, card_no, ssn, image_path, bank_code)


@pytest.fixture(scope="module")
def world(settlement_service, tmp_path_factory) -> World:
    return World(settlement_service, tmp_path_factory.mktemp("terminal-world"))


class CardSlots:
    """``slots(image)`` → a reader holding that card; ``slots.pull(reader)`` takes it out."""

    def __init__(self, kind: str, rig=None) -> None:
        self.kind = kind
        self.rig = rig
        self.inserted: dict[int, tuple[object, object]] = {}  # id(reader) -> (reader, card)

    def __call__(self, image: Path):
        if self.kind == "inprocess":
            from card.icc import VirtualCard
            from terminal.readers.inprocess import InProcessReader

            return InProcessReader(VirtualCard.open(image), name=f"in-process {image.name}")
        inserted = self.rig.insert(image)
        reader = self.rig.reader(inserted)
        self.inserted[id(reader)] = (reader, inserted)
        return reader

    def pull(self, reader) -> None:
        if self.kind == "inprocess":
            reader.remove()
        else:
            _, inserted = self.inserted.pop(id(reader))
            inserted.remove()
            reader.close()

    def close(self) -> None:
        """Take every card out and close the readers (their PC/SC contexts)."""
        for reader, inserted in self.inserted.values():
            inserted.remove()
            reader.close()
        self.inserted.clear()


@pytest.fixture(params=["inprocess", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def card_reader(request) -> Iterator[CardSlots]:
    """The card in an in-process reader, or in a real pcscd + vpcd reader."""
    rig = request.getfixturevalue("pcsc_rig") if request.param == "pcsc" else None
    slots = CardSlots(request.param, rig)
    yield slots
    slots.close()
