"""Bring a planned population to life: institutions, terminals, PSAMs, people, coverage, cards.

Everything goes through the service's HTTP API (``docs/api.md`` §Setup,
§People and coverage, §Cards) with the admin key, and through the terminal
flows for what a terminal does (a bank branch reporting a card lost). Nothing
is written to the service's database directly.

:func:`provision_cards` is the seam issue 8 swaps: today it makes ready-made
card images with ``card.issue.new_card``; ``--from-applications`` will
produce them through the card-application flow instead. Both must return the
same :class:`IssuedCards` mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from card.crypto import Algorithm
from card.keystore import KeyStore
from hospital_sim.population import (
    REGION,
    SCHEME_RESIDENT,
    PatientKind,
    Person,
    Population,
)
from settlement.catalogue import SAMPLE, sample_catalogue
from terminal.client.settlement import SettlementClient
from terminal.psam import Psam, Role

#: card number -> path of the card image
IssuedCards = dict[str, Path]

#: The function that produces the population's cards (issue 8 swaps it).
CardProvisioner = Callable[[Population, Path, KeyStore], IssuedCards]


def card_id_code(region: str, card_factor: bytes) -> str:
    """Card identification code: region BCD (3) + ``D1 56 00 00 05`` + card factor (card.md EF05)."""
    return (bytes.fromhex(region) + bytes.fromhex("D156000005") + card_factor).hex().upper()


def card_record(person: Person, region: str) -> dict[str, Any]:
    """The service's record of a card made outside the application flow (``POST /cards``)."""
    plan = person.card
    if plan is None:
        raise ValueError(f"{person.psn_no} has no card plan")
    return {
        "card_no": plan.card_number,
        "card_id_code": card_id_code(region, plan.card_factor),
        "algorithm": plan.algorithm,
        "region": region,
        "expiry": plan.expiry_date.isoformat(),
        "issue_date": plan.issue_date.isoformat(),
        "bank_code": plan.bank.code,
        "psn_no": person.psn_no,
        "status": "active",
    }


def provision_cards(population: Population, workdir: Path, keystore: KeyStore) -> IssuedCards:
    """One ready-made card image per card holder (``card.issue.new_card``), in ``workdir/cards``."""
    from card.issue import CardHolder, new_card

    folder = workdir / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    issued: IssuedCards = {}
    for person in population.people:
        plan = person.card
        if plan is None:
            continue
        path = folder / f"{plan.card_number}.json"
        new_card(
            path,
            CardHolder(
                name=person.name,
                ssn=person.ssn,
                sex=person.sex,
                birth_date=person.birth_date,
            ),
            keystore=keystore,
            algorithm=Algorithm(plan.algorithm),
            region=population.region,
            card_number=plan.card_number,
            card_factor=plan.card_factor,
            issue_date=plan.issue_date,
            expiry_date=plan.expiry_date,
            insurance_type=person.scheme or SCHEME_RESIDENT,
            psn_no=person.psn_no,
            bank_code=plan.bank.code,
            ssse_pin=plan.pin,
            bank_pin=plan.bank_pin,
        )
        issued[plan.card_number] = path
    return issued


@dataclass
class Terminal:
    """One terminal of one institution: its service client and its PSAM."""

    terminal_id: str
    institution: str
    client: SettlementClient
    psam: Psam


@dataclass
class World:
    """The provisioned city: terminals by desk / branch code, card images, receipts."""

    population: Population
    admin: SettlementClient
    desks: dict[str, Terminal]
    branches: dict[str, Terminal]
    cards: IssuedCards
    #: psn_no -> replacement receipt number (lost cards, reported before the day)
    receipts: dict[str, str] = field(default_factory=dict)
    #: card number -> the PIN its holder currently knows (changes after a reset)
    pins: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        for terminal in [*self.desks.values(), *self.branches.values()]:
            terminal.client.close()
        self.admin.close()


def _person_body(person: Person) -> dict[str, Any]:
    body: dict[str, Any] = {
        "psn_no": person.psn_no,
        "psn_name": person.name,
        "gend": person.sex,
        "brdy": person.birth_date.isoformat(),
        "certno": person.ssn,
        "psn_cert_type": "resident_id",
        "acct_balance": person.account_balance,
    }
    if person.household_register_no:
        body["household_register_no"] = person.household_register_no
    if person.document is not None:
        doc = person.document
        origin = {"HKG": "hong_kong", "MAC": "macao", "TWN": "taiwan"}.get(doc.country, "foreign")
        body["origin"] = origin
        body["documents"] = [{"document_type": doc.kind, "document_number": doc.number}]
    else:
        body["origin"] = "mainland"
    return body


def _register_institutions(population: Population, admin: SettlementClient) -> None:
    for hospital in population.hospitals:
        admin.register_institution(
            {
                "code": hospital.code,
                "name": hospital.name,
                "kind": "hospital",
                "hospital_level": hospital.level,
                "pin_service": hospital.pin_service,
                "region": population.region,
            }
        )
    for branch in population.branches:
        admin.register_institution(
            {
                "code": branch.code,
                "name": branch.name,
                "kind": "bank_branch",
                "bank_code": branch.bank.code,
                "region": population.region,
            }
        )


def _terminal(
    admin: SettlementClient,
    url: str,
    institution: str,
    terminal_id: str,
    name: str,
    psam: Psam,
) -> Terminal:
    answer = admin.register_terminal(institution, terminal_id, name)
    return Terminal(terminal_id, institution, SettlementClient(url, answer["api_key"]), psam)


def _register_person(
    admin: SettlementClient, person: Person, population: Population, *, register_card: bool = True
) -> None:
    admin.register_person(_person_body(person))
    for period in person.coverage:  # paid before the run: the admin's migration (docs/api.md)
        admin.migrate_coverage(
            {
                "psn_no": person.psn_no,
                "insutype": period.scheme,
                "begndate": period.start.isoformat(),
                "enddate": period.end.isoformat() if period.end else None,
                "reason": "simulated population: paid before the run",
            }
        )
    if person.kind is PatientKind.LAPSED and person.scheme == SCHEME_RESIDENT:
        # Enrolled for this insurance year but never paid: not covered (settlement.md).
        last = person.coverage[-1].end
        if last is not None:
            start = date(last.year, 7, 1)
            admin.add_coverage(
                person.psn_no,
                {
                    "insutype": SCHEME_RESIDENT,
                    "begndate": start.isoformat(),
                    "enddate": date(start.year + 1, 6, 30).isoformat(),
                },
            )
    plan = person.card
    if plan is not None and register_card:
        admin.register_card(card_record(person, population.region))


def load_catalogue(admin: SettlementClient) -> None:
    """The shipped sample catalogue, unless the service has a catalogue loaded already: the
    hospital bills its items by national code and the service classes them (issue 14)."""
    if admin.catalogue()["version_id"] is None:
        admin.load_catalogue(sample_catalogue(), SAMPLE)


def build_world(
    population: Population,
    url: str,
    admin_key: str,
    workdir: Path,
    keystore: KeyStore,
    *,
    provisioner: CardProvisioner = provision_cards,
    progress: Callable[[int], None] | None = None,
) -> World:
    """Register everything with the service, cut the PSAMs, make the cards, report the losses."""
    admin = SettlementClient(url, admin_key)
    _register_institutions(population, admin)
    load_catalogue(admin)
    desks = {
        desk.code: _terminal(
            admin,
            url,
            desk.hospital.code,
            desk.code,
            f"admission desk {desk.number}",
            Psam.provision(
                keystore,
                desk.hospital.code,
                Role.HOSPITAL,
                pin_service=desk.hospital.pin_service,
                city=REGION,
            ),
        )
        for desk in population.desks
    }
    branches = {
        branch.code: _terminal(
            admin,
            url,
            branch.code,
            f"{branch.code}-T1",
            "counter 1",
            Psam.provision(
                keystore, branch.code, Role.BANK_BRANCH, bank_code=branch.bank.code, city=REGION
            ),
        )
        for branch in population.branches
    }
    # A provisioner marked ``after_people`` (issue 8, --from-applications) produces and
    # registers the cards itself once the people exist.
    late = getattr(provisioner, "after_people", False)
    cards = {} if late else provisioner(population, workdir, keystore)
    world = World(population, admin, desks, branches, cards)
    for person in population.people:
        _register_person(admin, person, population, register_card=not late)
        if person.card is not None:
            world.pins[person.card.card_number] = person.card.pin
        if progress is not None:
            progress(1)
    if late:
        world.cards = provisioner(
            population, workdir, keystore, admin=admin, url=url, branches=branches
        )
    # Lost cards were reported at a bank branch before the day: the branch's terminal
    # asks the service to block the card and prints the replacement receipt.
    for person in population.people:
        if person.kind is PatientKind.LOST_CARD and person.card is not None:
            branch = next(
                (b for b in population.branches if b.bank == person.card.bank),
                population.branches[0],
            )
            answer = branches[branch.code].client.report_loss(
                person.card.card_number, "lost before admission"
            )
            world.receipts[person.psn_no] = answer["replacement_receipt_no"]
    return world
