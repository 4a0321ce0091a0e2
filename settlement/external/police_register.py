"""The police population register (公安人口信息库), simulated.

A separate component with its own SQLite file: the card centre's comparison
step (issuance.md step 3) asks it "does this person exist, and do name, sex
and birth date agree?". The register answers with the fields that differ;
it never learns anything about applications or cards.

A development register is seeded deterministically with
:func:`generate_population` (synthetic people with valid citizen ID numbers
and GBK-encodable names).
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from settlement.rules.citizen_id import make_ssn

_SCHEMA = """
CREATE TABLE IF NOT EXISTS citizens (
    ssn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('1', '2')),
    birth_date TEXT NOT NULL,
    nation TEXT NOT NULL,
    birthplace TEXT NOT NULL,
    household_register_no TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Citizen:
    """One person as the police register knows them."""

    ssn: str
    name: str
    sex: str  # '1' male, '2' female
    birth_date: date
    nation: str  # 2-digit ethnic group code (GB 3304), '01' = Han
    birthplace: str  # 6-digit region code
    household_register_no: str  # 户口本 number


@dataclass(frozen=True)
class Mismatch:
    """One field the register disagrees on (values shown to the card centre only)."""

    field: str
    register_value: str
    application_value: str


class PoliceRegister:
    """Query interface over the register's SQLite file (created on first use, not before)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # writers of this process
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"PoliceRegister({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with sqlite3.connect(self.path, timeout=30) as conn:
                        conn.execute(_SCHEMA)
                    conn.close()
                    self._schema_ready = True
        return sqlite3.connect(self.path, timeout=30)

    def add_many(self, citizens: Iterable[Citizen]) -> int:
        """Insert or replace people; returns how many were written."""
        rows = [
            (
                c.ssn,
                c.name,
                c.sex,
                c.birth_date.isoformat(),
                c.nation,
                c.birthplace,
                c.household_register_no,
            )
            for c in citizens
        ]
        with self._lock, self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO citizens VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def add(self, citizen: Citizen) -> None:
        self.add_many([citizen])

    def lookup(self, ssn: str) -> Citizen | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT ssn, name, sex, birth_date, nation, birthplace, household_register_no "
                "FROM citizens WHERE ssn = ?",
                (ssn,),
            ).fetchone()
        if row is None:
            return None
        return Citizen(row[0], row[1], row[2], date.fromisoformat(row[3]), *row[4:])

    def count(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM citizens").fetchone()[0]

    def compare(
        self,
        ssn: str,
        *,
        name: str,
        sex: str,
        birth_date: date,
        household_register_no: str | None = None,
    ) -> list[Mismatch] | None:
        """Fields that differ from the register, or ``None`` when the person is unknown.

        The household register number is compared only when the applicant
        applied with it (no ID card, issuance.md).
        """
        citizen = self.lookup(ssn)
        if citizen is None:
            return None
        pairs = [
            ("name", citizen.name, name),
            ("sex", citizen.sex, sex),
            ("birth_date", citizen.birth_date.isoformat(), birth_date.isoformat()),
        ]
        if household_register_no is not None:
            pairs.append(
                ("household_register_no", citizen.household_register_no, household_register_no)
            )
        return [Mismatch(f, theirs, ours) for f, theirs, ours in pairs if theirs != ours]


# --- seeding ------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉飞波宁浩宇轩梓涵欣怡子豪俊杰思雨佳琪博文建国志强海燕春梅秋月冬雪晓东晓红丹丹"


def generate_population(
    count: int, *, region: str = "430100", seed: int = 0, today: date | None = None
) -> list[Citizen]:
    """``count`` distinct synthetic people born in ``region`` (ages 0–90), reproducible."""
    rng = random.Random(seed)
    today = today or date(2026, 1, 1)
    people: list[Citizen] = []
    seen: set[str] = set()
    while len(people) < count:
        birth = today - timedelta(days=rng.randrange(0, 90 * 365))
        sex = rng.choice("12")
        sequence = rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
        ssn = make_ssn(region, birth, sequence)
        if ssn in seen:
            continue
        seen.add(ssn)
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        people.append(
            Citizen(
                ssn=ssn,
                name=rng.choice(SURNAMES) + given,
                sex=sex,
                birth_date=birth,
                nation="01" if rng.random() < 0.92 else f"{rng.randrange(2, 57):02d}",
                birthplace=region,
                household_register_no=f"{region}{rng.randrange(10**9):09d}",
            )
        )
    return people


def seed_register(
    path: Path | str, count: int, *, region: str = "430100", seed: int = 0
) -> PoliceRegister:
    """Create (or extend) a register at ``path`` with a generated population."""
    register = PoliceRegister(path)
    register.add_many(generate_population(count, region=region, seed=seed))
    return register
