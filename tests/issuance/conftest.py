"""A card-production world: the real service, seeded police register and bank records.

``production_world`` (session scope) starts its own settlement service (real
uvicorn, a fresh SQLite file; ``production_world_pg`` the same on PostgreSQL) whose ``SSCARD_HOME`` holds the simulated
police population register and the partner banks' customer files, creates
a card centre, two bank branches (banks 102 and 103) and a hospital with
their API keys and PSAMs, and offers helpers that drive applications
through the HTTP API and produce the cards through real readers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import new_blank_card
from card.keystore import KeyStore
from settlement.external.bank_records import BankRecords
from settlement.external.police_register import Citizen, PoliceRegister
from settlement.rules.citizen_id import make_ssn
from terminal.production import (
    BankAccount,
    PersonalisationOrder,
    personalise_ssse,
    verify_financial_app,
    verify_ssse,
    write_financial_app,
)
from terminal.psam import Psam, Role
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession

REGION = "430100"


@dataclass
class World:
    service: Any  # tests.fixtures.service.RunningService
    keystore: KeyStore
    police: PoliceRegister
    banks_dir: Path
    centre: httpx.Client
    bank102: httpx.Client
    bank103: httpx.Client
    hospital: httpx.Client
    admin: httpx.Client
    psam_centre: Psam
    psam_bank102: Psam
    psam_hospital: Psam
    cards_dir: Path
    _seq: list[int] = field(default_factory=lambda: [100])

    # --- seeding -------------------------------------------------------------------------

    def bank(self, code: str) -> BankRecords:
        bins = {"102": "622202", "103": "622848"}
        return BankRecords(self.banks_dir / f"bank-{code}.json", bank_code=code, bin_=bins[code])

    def citizen(
        self,
        name: str = "王小明",
        *,
        sex: str = "1",
        born: date = date(1988, 3, 9),
        register: bool = True,
    ) -> Citizen:
        """A new person, known to the police register unless ``register`` is False."""
        self._seq[0] += 2
        sequence = self._seq[0] + (1 if sex == "1" else 0)
        person = Citizen(
            ssn=make_ssn(REGION, born, sequence % 1000),
            name=name,
            sex=sex,
            birth_date=born,
            nation="01",
            birthplace=REGION,
            household_register_no=f"{REGION}{secrets.randbelow(10**9):09d}",
        )
        if register:
            self.police.add(person)
        return person

    def application_body(self, person: Citizen, **overrides) -> dict[str, Any]:
        body = {
            "certno": person.ssn,
            "psn_name": person.name,
            "gend": person.sex,
            "brdy": person.birth_date.isoformat(),
            "naty": person.nation,
            "birthplace": person.birthplace,
            "psn_cert_type": "id_card",
            "photo_taken": True,
            "insutype": "310",
            "region": REGION,
            "bank_code": "102",
            "query_password": "open-sesame-1",
        }
        body.update(overrides)
        return body

    # --- HTTP ----------------------------------------------------------------------------

    @staticmethod
    def post(
        client: httpx.Client, path: str, body: dict | None = None, expect: int | None = 200
    ) -> dict:
        answer = client.post(
            path, json=body or {}, headers={"Idempotency-Key": secrets.token_hex(8)}
        )
        if expect is not None:
            assert answer.status_code == expect, answer.text
        return answer.json()

    def step(
        self,
        client: httpx.Client,
        application_id: str,
        name: str,
        body: dict | None = None,
        expect: int | None = 200,
    ) -> dict:
        return self.post(client, f"/v1/applications/{application_id}/{name}", body, expect)

    def apply(self, person: Citizen, **overrides) -> dict:
        return self.post(
            self.centre, "/v1/applications", self.application_body(person, **overrides), 201
        )

    def registered(self, person: Citizen) -> str:
        """A new application of ``person`` through steps 2–4 (outcomes unchecked); its id."""
        application_id = self.apply(person)["application_id"]
        steps = (("audit", self.centre), ("comparison", self.bank102), ("pre-check", self.centre))
        for name, client in steps:
            self.step(client, application_id, name)
        return application_id

    def card_states(self, psn_no: str) -> dict[str, str]:
        """The person's cards as the card centre sees them: card number → status."""
        person = self.centre.get(f"/v1/people/{psn_no}").json()
        return {c["card_no"]: c["status"] for c in person["cards"]}

    # --- production through readers ------------------------------------------------------

    def blank_card(
        self, algorithm: Algorithm = Algorithm.SM4, bank_code: str = "102"
    ) -> VirtualCard:
        path = self.cards_dir / f"blank-{secrets.token_hex(4)}.json"
        new_blank_card(
            path, keystore=self.keystore, algorithm=algorithm, region=REGION, bank_code=bank_code
        )
        return VirtualCard.open(path)

    def personalise(self, application_id: str, reader) -> dict:
        """Step 5 at the card centre: order, write through ``reader``, read back, report."""
        order_json = self.centre.get(f"/v1/applications/{application_id}/personalisation-order")
        assert order_json.status_code == 200, order_json.text
        order = PersonalisationOrder.from_json(order_json.json())
        with reader.connect() as conn:
            done = personalise_ssse(CardSession(conn, self.psam_centre, conn.atr), order)
        with reader.connect() as conn, reader.connect() as medical:
            check = verify_ssse(
                CardSession(conn, self.psam_centre, conn.atr),
                order,
                medical_session=CardSession(medical, self.psam_hospital, medical.atr),
            )
        assert check.identical, check.differences
        return self.step(self.centre, application_id, "personalisation", done.to_json())

    def open_account(self, application_id: str, reader, bank_pin: str = "246810") -> dict:
        """Step 6 at bank 102: open the account, write the financial app, read back, report."""
        account = BankAccount.from_json(self.step(self.bank102, application_id, "bank-account"))
        with reader.connect() as conn:
            write_financial_app(
                CardSession(conn, self.psam_bank102, conn.atr), account, bank_pin=bank_pin
            )
        with reader.connect() as conn:
            check = verify_financial_app(CardSession(conn, self.psam_bank102, conn.atr), account)
        assert check.identical, check.differences
        return self.step(
            self.bank102,
            application_id,
            "account-opening",
            {"pan": account.pan, "read_back_matches": True},
        )

    def produce(
        self,
        application_id: str,
        *,
        reader=None,
        start_at: int = 2,
        collected_by: str = "holder in person",
    ) -> tuple[dict, VirtualCard]:
        """Steps ``start_at``..7 with a fresh blank card in an in-process reader."""
        card = self.blank_card()
        reader = reader or InProcessReader(card)
        if start_at <= 2:
            assert self.step(self.centre, application_id, "audit")["status"] == "in_progress"
        if start_at <= 3:
            assert self.step(self.bank102, application_id, "comparison")["status"] == "in_progress"
        if start_at <= 4:
            assert self.step(self.centre, application_id, "pre-check")["status"] == "in_progress"
        self.personalise(application_id, reader)
        self.open_account(application_id, reader)
        view = self.step(self.centre, application_id, "issuance", {"collected_by": collected_by})
        return view, card


def make_world(service, cards_dir: Path) -> World:
    """Institutions, terminals and PSAMs of a production world on ``service``."""
    home = service.workdir
    police = PoliceRegister(home / "external" / "police_register.sqlite")
    admin = service.client()
    centre = service.client(service.add_terminal("C430100", kind="card_centre", name="card centre"))
    bank102 = service.client(
        service.add_terminal("B102-0001", kind="bank_branch", bank_code="102", name="ICBC branch")
    )
    bank103 = service.client(
        service.add_terminal("B103-0001", kind="bank_branch", bank_code="103", name="ABC branch")
    )
    hospital = service.client(
        service.add_terminal("H430100001", kind="hospital", hospital_level=3, name="Xiangya")
    )
    keystore = service.keystore()
    return World(
        service=service,
        keystore=keystore,
        police=police,
        banks_dir=home / "external" / "banks",
        centre=centre,
        bank102=bank102,
        bank103=bank103,
        hospital=hospital,
        admin=admin,
        psam_centre=Psam.provision(keystore, "C430100", Role.CARD_CENTRE),
        psam_bank102=Psam.provision(keystore, "B102-0001", Role.BANK_BRANCH, bank_code="102"),
        psam_hospital=Psam.provision(keystore, "H430100001", Role.HOSPITAL),
        cards_dir=cards_dir,
    )


@pytest.fixture(scope="session")
def production_world(settlement_service_factory, tmp_path_factory) -> World:
    """The production world on a fresh SQLite file."""
    return make_world(settlement_service_factory(), tmp_path_factory.mktemp("cards"))


@pytest.fixture(scope="session")
def production_world_pg(settlement_service_factory, postgres_server, tmp_path_factory) -> World:
    """The same world with the service on PostgreSQL."""
    url = postgres_server.create_database("issuance_pg")
    return make_world(settlement_service_factory(database_url=url), tmp_path_factory.mktemp("pg"))
