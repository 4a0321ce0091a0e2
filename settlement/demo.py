"""``python -m settlement demo-setup``: a complete demo world in one command (harness.md §A demo
world in one command).

Under ``home`` it makes a migrated SQLite database, a key store and the city ``430100``: one
level-3 PIN-service hospital ``H43010000001`` with a terminal API key, gateway credentials (TIF,
CSB, apikey, docs/gateway.md) and a PSAM; a partner bank branch (bank ``102``) and the card
centre, each with a terminal key and a PSAM; the sample medical insurance catalogue; and ``N``
insured people (employee ``310`` and resident ``390`` alternate) with current coverage, personal
account balances and collected cards whose images lie in ``home/cards/``.

Idempotent: the secrets of the world (API keys, gateway credentials) are written to
``home/demo-world.json`` (mode 0600) before anything uses them, every row is made only when
missing, and the people are derived from their number, so a rerun on the same ``home`` prints
the same world. This module builds card images (``card.issue``) and PSAMs (``terminal.psam``)
besides the service's rows: docs/architecture.md §Exceptions to the layers.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from card.crypto import Algorithm
from card.issue import CardHolder, new_card
from card.keystore import KeyStore, write_secret_json
from settlement.cards import register_card
from settlement.catalogue import load_sample_catalogue
from settlement.gateway.credentials import new_credentials, store_credentials
from settlement.people import migrate_coverage, register_person
from settlement.rules.citizen_id import make_ssn
from settlement.rules.policy import load_policy
from settlement.rules.roles import ADMIN
from settlement.schemas import CardIn, CoverageMigrationIn, InstitutionIn, PersonIn
from settlement.security import hash_secret, new_api_key, split_api_key
from settlement.service import Principal
from settlement.store import cards as card_store
from settlement.store import institutions as institution_store
from settlement.store import people as people_store
from settlement.store.db import Database, utcnow
from terminal.psam import Psam, Role

REGION = "430100"
HOSPITAL = "H43010000001"
HOSPITAL_NAME = "长沙市示范人民医院"
BANK_CODE = "102"
BRANCH = "B10243010001"
BRANCH_NAME = "中国工商银行长沙示范支行"
CENTRE = "C43010000001"
CENTRE_NAME = "长沙市社会保障卡服务中心"
SSSE_PIN = "123456"
WORLD_FILE = "demo-world.json"
#: (role in the output, institution code, terminal id, kind, name, PSAM role)
INSTITUTIONS = (
    ("hospital", HOSPITAL, f"{HOSPITAL}-T1", "hospital", HOSPITAL_NAME, Role.HOSPITAL),
    ("bank_branch", BRANCH, f"{BRANCH}-T1", "bank_branch", BRANCH_NAME, Role.BANK_BRANCH),
    ("card_centre", CENTRE, f"{CENTRE}-T1", "card_centre", CENTRE_NAME, Role.CARD_CENTRE),
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "建国", "秀英", "子轩", "梓涵", "浩然", "欣怡", "志强", "玉兰", "一诺")
_ACTOR = Principal(key_id="demo-setup", role=ADMIN, institution_code=None, terminal_id=None)


class DemoError(Exception):
    """The demo world cannot be made in this folder (message says why)."""


@dataclass(frozen=True)
class DemoPerson:
    """One insured person of the demo world, derived from its number alone."""

    index: int
    psn_no: str
    psn_name: str
    certno: str
    gend: str
    brdy: date
    insutype: str
    acct_balance: int  # fen
    card_no: str
    card_factor: bytes
    algorithm: Algorithm
    bank_pin: str

    @property
    def card_sn(self) -> str:
        """The card identification code (card.md EF05): region, ``D156000005``, card factor."""
        return (
            (bytes.fromhex(REGION) + bytes.fromhex("D156000005") + self.card_factor).hex().upper()
        )


def demo_person(index: int) -> DemoPerson:
    """Person ``index`` (0-based): even ones employee-insured (310), odd ones residents (390)."""
    digest = hashlib.sha256(f"sscard demo person {index}".encode()).digest()
    brdy = date(1950 + (index * 7) % 60, 1 + (index * 5) % 12, 1 + (index * 11) % 28)
    certno = make_ssn(REGION, brdy, 10 + index)
    employee = index % 2 == 0
    return DemoPerson(
        index=index,
        psn_no=f"43010000{index + 1:08d}",
        psn_name=_SURNAMES[index % len(_SURNAMES)] + _GIVEN[(index * 3) % len(_GIVEN)],
        certno=certno,
        gend="1" if int(certno[16]) % 2 else "2",
        brdy=brdy,
        insutype="310" if employee else "390",
        acct_balance=(150_000 + 2_345 * index) if employee else 0,
        card_no=f"D{index + 1:08d}",
        card_factor=digest[:8],
        algorithm=Algorithm.SM4 if index % 3 else Algorithm.TDES,
        bank_pin=f"{int.from_bytes(digest[8:11], 'big') % 1_000_000:06d}",
    )


def _secrets(world_path: Path) -> dict:
    """The world's secrets: those already written in ``world_path``, else fresh ones (written)."""
    saved = json.loads(world_path.read_text(encoding="utf-8")) if world_path.exists() else {}
    keys = saved.get("api_keys") or {
        "admin": new_api_key().api_key,
        **{role: new_api_key().api_key for role, *_ in INSTITUTIONS},
    }
    gateway = saved.get("gateway") or new_credentials(HOSPITAL)
    if not saved:
        write_secret_json(world_path, {"api_keys": keys, "gateway": gateway}, prefix=".demo-")
    # The file is written with sorted keys: print in the order of harness.md.
    return {
        "api_keys": {role: keys[role] for role in ("admin", *(r for r, *_ in INSTITUTIONS))},
        "gateway": {
            "tif": {"paasid": gateway["tif"]["paasid"], "secret": gateway["tif"]["secret"]},
            "csb": {
                "access_key": gateway["csb"]["access_key"],
                "secret_key": gateway["csb"]["secret_key"],
            },
            "apikey": gateway["apikey"],
        },
    }


def _store_key(conn, api_key: str, role: str, institution: str | None, terminal: str | None):
    key_id, secret = split_api_key(api_key)
    if institution_store.api_key_exists(conn, key_id):
        return
    institution_store.insert_api_key(
        conn,
        key_id=key_id,
        secret_hash=hash_secret(secret),
        role=role,
        institution_code=institution,
        terminal_id=terminal,
        name=f"demo {role}",
        created_at=utcnow(),
    )


def _institutions(conn, keys: dict) -> None:
    now = utcnow()
    for role, code, terminal, kind, name, _psam in INSTITUTIONS:
        if not institution_store.exists(conn, code):
            body = InstitutionIn(
                code=code,
                name=name,
                kind=kind,
                hospital_level=3 if kind == "hospital" else None,
                pin_service=kind == "hospital",
                bank_code=BANK_CODE if kind == "bank_branch" else None,
                region=REGION,
            )
            institution_store.insert(conn, now, **body.model_dump())
        if not institution_store.terminal_exists(conn, terminal):
            institution_store.insert_terminal(conn, terminal, code, f"demo {role}", now)
        _store_key(conn, keys[role], "terminal", code, terminal)
    _store_key(conn, keys["admin"], "admin", None, None)


def _person(conn, person: DemoPerson, now: datetime) -> None:
    if people_store.find(conn, person.psn_no) is None:
        body = PersonIn(
            psn_no=person.psn_no,
            psn_name=person.psn_name,
            gend=person.gend,
            brdy=person.brdy,
            certno=person.certno,
            origin="mainland",
            acct_balance=person.acct_balance,
        )
        register_person(conn, _ACTOR, body, now)
        start = date(now.year - 1, 1, 1)
        paid = CoverageMigrationIn(  # paid before the demo: the admin's migration
            psn_no=person.psn_no,
            insutype=person.insutype,
            begndate=start,
            reason="demo world: paid before the demo",
        )
        migrate_coverage(conn, _ACTOR, paid, now)
    if card_store.find(conn, person.card_no) is None:
        issued = date(now.year - 1, 3, 1)
        card = CardIn(
            card_no=person.card_no,
            card_id_code=person.card_sn,
            algorithm="sm4" if person.algorithm is Algorithm.SM4 else "3des",
            region=REGION,
            expiry=date(issued.year + 10, issued.month, issued.day),
            issue_date=issued,
            bank_code=BANK_CODE,
            psn_no=person.psn_no,
            status="active",
        )
        register_card(conn, _ACTOR, card, now)


def _card_image(folder: Path, person: DemoPerson, keystore: KeyStore, today: date) -> Path:
    path = folder / f"{person.card_no}.json"
    if path.exists():
        return path
    issued = date(today.year - 1, 3, 1)
    new_card(
        path,
        CardHolder(name=person.psn_name, ssn=person.certno, sex=person.gend),
        keystore=keystore,
        algorithm=person.algorithm,
        region=REGION,
        card_number=person.card_no,
        card_factor=person.card_factor,
        issue_date=issued,
        expiry_date=date(issued.year + 10, issued.month, issued.day),
        insurance_type=person.insutype,
        psn_no=person.psn_no,
        bank_code=BANK_CODE,
        ssse_pin=SSSE_PIN,
        bank_pin=person.bank_pin,
    )
    return path


def _psams(home: Path, keystore: KeyStore) -> dict[str, str]:
    folder = home / "psam"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, code, _terminal, kind, _name, psam_role in INSTITUTIONS:
        path = folder / f"{code}.json"
        if not path.exists():
            Psam.provision(
                keystore,
                code,
                psam_role,
                pin_service=kind == "hospital",
                bank_code=BANK_CODE if kind == "bank_branch" else None,
                city=REGION,
            ).save(path)
        paths[role] = str(path)
    return paths


def demo_setup(home: Path, people: int, catalogue_loader=None) -> dict:
    # catalogue_loader: how the world's catalogue is loaded (default: the shipped sample)
    """Make (or reuse) the demo world under ``home``; the harness.md JSON object."""
    from settlement.migrate import upgrade

    if people < 1 or people > 10_000:
        raise DemoError(f"--people {people}: give a number from 1 to 10000")
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "cards").mkdir(exist_ok=True)
    database_url = f"sqlite:///{home / 'settlement.db'}"
    keystore_path = home / "keystore.json"
    keystore = KeyStore.load_or_create(keystore_path)
    if BANK_CODE not in keystore.banks:
        raise DemoError(f"the key store {keystore_path} holds no keys of bank {BANK_CODE}")
    upgrade(database_url)
    world_secrets = _secrets(home / WORLD_FILE)
    population = [demo_person(i) for i in range(people)]
    db = Database(database_url)
    try:
        with db.write() as conn:
            _institutions(conn, world_secrets["api_keys"])
            store_credentials(conn, keystore, HOSPITAL, world_secrets["gateway"], utcnow())
            now = utcnow()
            for person in population:
                _person(conn, person, now)
            if catalogue_loader is None:
                load_sample_catalogue(conn, load_policy(), now)  # once; a rerun keeps it
            else:
                catalogue_loader(conn)
    finally:
        db.dispose()
    psams = _psams(home, keystore)
    today = date.today()
    world = {
        "home": str(home),
        "database_url": database_url,
        "keystore": str(keystore_path),
        "admdvs": REGION,
        "fixmedins_code": HOSPITAL,
        "fixmedins_name": HOSPITAL_NAME,
        "api_keys": world_secrets["api_keys"],
        "gateway": world_secrets["gateway"],
        "psam": psams,
        "people": [
            {
                "psn_no": p.psn_no,
                "psn_name": p.psn_name,
                "certno": p.certno,
                "insutype": p.insutype,
                "card_no": p.card_no,
                "card_sn": p.card_sn,
                "card_image": str(_card_image(home / "cards", p, keystore, today)),
                "ssse_pin": SSSE_PIN,
                "bank_pin": p.bank_pin,
            }
            for p in population
        ],
    }
    write_secret_json(home / WORLD_FILE, world, prefix=".demo-")
    return world


def describe(world: dict) -> str:
    """The text form: what was made, and the ``export`` lines for the terminal CLI."""
    lines = [
        f"demo world in {world['home']} (city {world['admdvs']})",
        f"  database   {world['database_url']}",
        f"  key store  {world['keystore']}",
        f"  hospital   {world['fixmedins_code']} {world['fixmedins_name']} (level 3, PIN service)",
        f"  gateway    TIF paasid {world['gateway']['tif']['paasid']}, CSB access key "
        + f"{world['gateway']['csb']['access_key']}, apikey (see --json)",
        f"  bank branch {BRANCH} (bank {BANK_CODE}), card centre {CENTRE}",
        f"  people     {len(world['people'])}:",
    ]
    for person in world["people"]:
        lines.append(
            f"    {person['psn_no']} {person['psn_name']} {person['insutype']} "
            f"card {person['card_no']} {person['card_image']}"
        )
    lines += [
        "",
        "# the service:",
        f"export SSCARD_HOME={world['home']}",
        "python -m settlement serve --port 8000 &",
        "# the hospital desk (terminal CLI):",
        "export SSCARD_SERVICE_URL=http://127.0.0.1:8000",
        f"export SSCARD_API_KEY={world['api_keys']['hospital']}",
        f"export SSCARD_PSAM={world['psam']['hospital']}",
        f"export SSCARD_READER={world['people'][0]['card_image']}",
    ]
    return "\n".join(lines)


def desk_env(world: dict, role: str) -> str:
    """``export`` lines that make the terminal CLI one desk of the world: its API key, its
    PSAM and the first demo card as the reader (the admin: the key only). For
    ``eval "$(python -m settlement demo-setup --env hospital)"``; the service URL keeps the
    terminal's default (http://127.0.0.1:8000) unless SSCARD_SERVICE_URL says otherwise."""
    values = {"SSCARD_API_KEY": world["api_keys"][role]}
    if role != "admin":
        values["SSCARD_PSAM"] = world["psam"][role]
        values["SSCARD_READER"] = world["people"][0]["card_image"]
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())
