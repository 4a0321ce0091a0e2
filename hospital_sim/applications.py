"""``--from-applications``: the city's cards are produced through the card-application flow.

Instead of ready-made card images (``world.provision_cards``), every card
holder applies for a card and the application goes through the seven steps
of issuance.md against the real service (docs/card-production.md):
employees in their employer's batch (30 working days), everyone else singly
(5 working days); the card centre audits, the partner bank compares with the
police population register (seeded from the population, as the police would
know the city) and its own records, the card centre pre-checks and writes a
blank card from the chip maker through EXTERNAL AUTHENTICATE 04 + UPDATE
RECORD, the bank writes the financial application under secure messaging,
both read back, and the card is issued — active for settlement.

Called by ``world.build_world`` *after* the people are registered (the
audit step links each application to the person by SSN), because
``provision_cards_from_applications.after_people`` is true.

Cards that expired before the day (``EXPIRED_CARD`` patients) were made a
decade ago, before this flow: they stay ready-made images, registered as
they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import new_blank_card
from card.keystore import KeyStore
from hospital_sim.population import (
    SCHEME_EMPLOYEE,
    SCHEME_RESIDENT,
    PatientKind,
    Person,
    Population,
)
from hospital_sim.world import IssuedCards, Terminal, card_record, provision_cards
from settlement.external.police_register import Citizen, PoliceRegister
from terminal.client.applications import ApplicationsClient
from terminal.client.settlement import SettlementClient
from terminal.production import open_account, personalise
from terminal.psam import Psam, Role
from terminal.readers.inprocess import InProcessReader

#: Employees apply through their employer in batches of this size (单位批量).
BATCH_SIZE = 50


def _seed_police_register(population: Population, workdir: Path) -> None:
    """The police know everyone of the city (the service reads the same file)."""
    path = (
        os.environ.get("SSCARD_POLICE_REGISTER") or workdir / "external" / "police_register.sqlite"
    )
    register = PoliceRegister(path)
    register.add_many(
        Citizen(
            ssn=p.ssn,
            name=p.name,
            sex=p.sex,
            birth_date=p.birth_date,
            nation="01",
            birthplace=p.ssn[:6],
            household_register_no=p.household_register_no or "",
        )
        for p in population.people
        if p.card is not None
    )


def _application(person: Person, region: str) -> dict[str, Any]:
    plan = person.card
    if plan is None:
        raise ValueError(f"{person.psn_no} has no card plan")
    return {
        "certno": person.ssn,
        "psn_name": person.name,
        "gend": person.sex,
        "brdy": person.birth_date.isoformat(),
        "naty": "01",
        "birthplace": person.ssn[:6],
        "psn_cert_type": "id_card",
        "photo_taken": True,  # taken on site at the service hall
        "insutype": person.scheme or SCHEME_RESIDENT,
        "region": region,
        "bank_code": plan.bank.code,
        "query_password": person.query_password or None,
    }


def _terminal(admin: SettlementClient, code: str, kind: str, region: str, **fields) -> str:
    """A production institution with one counter; the counter's API key."""
    admin.register_institution(
        {"code": code, "name": code, "kind": kind, "region": region, **fields}
    )
    return admin.register_terminal(code, f"{code}-T1", "production counter")["api_key"]


def provision_cards_from_applications(
    population: Population,
    workdir: Path,
    keystore: KeyStore,
    *,
    admin: SettlementClient,
    url: str,
    branches: dict[str, Terminal],
) -> IssuedCards:
    """Produce every planned card through applications; card number → card image path."""
    region = population.region
    folder = workdir / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    holders = [p for p in population.people if p.card is not None]
    expired = [p for p in holders if p.kind is PatientKind.EXPIRED_CARD]
    fresh = [p for p in holders if p.kind is not PatientKind.EXPIRED_CARD]

    issued = provision_cards(replace(population, people=tuple(expired)), workdir, keystore)
    for person in expired:
        _register_old_card(admin, person, region)
    if not fresh:
        return issued
    _seed_police_register(population, workdir)
    # The service reads the run's registers (workdir): a child service has SSCARD_HOME=workdir,
    # an in-process one was built with Settings.from_env(home=workdir) (hospital_sim.service).
    return _produce(population, workdir, keystore, issued, fresh, admin, url, branches)


@dataclass
class _Counter:
    """One production counter: its card production client and its PSAM."""

    client: ApplicationsClient
    psam: Psam


def _bank_counters(
    population: Population,
    fresh: list[Person],
    admin: SettlementClient,
    url: str,
    keystore: KeyStore,
    branches: dict[str, Terminal],
) -> dict[str, _Counter]:
    """A counter of each partner bank: the city's branch of it, or a new branch."""
    region = population.region
    banks: dict[str, _Counter] = {}
    for branch in population.branches:
        if branch.bank.code not in banks:
            terminal = branches[branch.code]
            banks[branch.bank.code] = _Counter(
                ApplicationsClient.like(terminal.client), terminal.psam
            )
    for code in {p.card.bank.code for p in fresh if p.card} - set(banks):
        bank_code = f"B{code}{region}"
        key = _terminal(admin, bank_code, "bank_branch", region, bank_code=code)
        banks[code] = _Counter(
            ApplicationsClient(url, key),
            Psam.provision(keystore, bank_code, Role.BANK_BRANCH, bank_code=code, city=region),
        )
    return banks


def _produce(
    population: Population,
    workdir: Path,
    keystore: KeyStore,
    issued: IssuedCards,
    fresh: list[Person],
    admin: SettlementClient,
    url: str,
    branches: dict[str, Terminal],
) -> IssuedCards:
    """Steps 1–7 for every person with a fresh card."""
    region = population.region
    folder = workdir / "cards"
    centre_code = f"C{region}"
    centre = ApplicationsClient(url, _terminal(admin, centre_code, "card_centre", region))
    centre_psam = Psam.provision(keystore, centre_code, Role.CARD_CENTRE, city=region)
    qa_psam = Psam.provision(keystore, f"{centre_code}-QA", Role.HOSPITAL, city=region)
    banks = _bank_counters(population, fresh, admin, url, keystore, branches)
    try:
        ids = _accept(centre, fresh, region)
        for person in fresh:
            plan = person.card
            if plan is None:
                continue
            app_id = ids[person.ssn]
            bank = banks[plan.bank.code]
            _expect(centre.audit(app_id))
            _expect(bank.client.compare(app_id))
            _expect(centre.pre_check(app_id, plan.card_number))
            path = folder / f"{plan.card_number}.json"
            new_blank_card(
                path,
                keystore=keystore,
                algorithm=Algorithm(plan.algorithm),
                region=region,
                card_factor=plan.card_factor,
                bank_code=plan.bank.code,
                ssse_pin=plan.pin,
            )  # the chip maker's delivery
            reader = InProcessReader(VirtualCard.open(path))
            personalise(centre, centre_psam, reader, app_id, qa_psam)
            open_account(bank.client, bank.psam, reader, app_id, plan.bank_pin)
            _expect(centre.issue(app_id, person.name), "issued")
            issued[plan.card_number] = path
    finally:
        centre.close()
        for bank in banks.values():
            bank.client.close()
    return issued


#: ``world.build_world`` calls this provisioner after registering the people.
provision_cards_from_applications.after_people = True  # type: ignore[attr-defined]


def _accept(centre: ApplicationsClient, people: list[Person], region: str) -> dict[str, str]:
    """Employees by employer batch, everyone else singly; SSN → application id."""
    ids: dict[str, str] = {}
    employees = [p for p in people if p.scheme == SCHEME_EMPLOYEE]
    for start in range(0, len(employees), BATCH_SIZE):
        group = employees[start : start + BATCH_SIZE]
        answer = centre.apply_batch(
            f"E{region}{start // BATCH_SIZE:04d}",
            f"employer {start // BATCH_SIZE + 1}",
            [_application(p, region) for p in group],
        )
        ids.update(zip((p.ssn for p in group), answer["application_ids"], strict=True))
    for person in people:
        if person.scheme != SCHEME_EMPLOYEE:
            answer = centre.apply(_application(person, region))
            ids[person.ssn] = answer["application_id"]
    return ids


def _expect(view: dict[str, Any], status: str = "in_progress") -> None:
    if view["status"] != status:
        raise RuntimeError(
            f"application {view['application_id']} of {view['psn_name']} stopped: "
            f"{view.get('returned') or view['status']}"
        )


def _register_old_card(admin: SettlementClient, person: Person, region: str) -> None:
    if person.card is not None:
        admin.register_card(card_record(person, region))
