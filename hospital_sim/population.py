"""A seeded city for one simulation: people, hospitals, desks, bank branches.

Pure and deterministic: the same seed, size and day always give the same
population, byte for byte. Nothing here touches a card, a reader or the
service; :mod:`hospital_sim.world` turns this plan into real card images and
records in the settlement service.

The kinds of patient follow the rules in ``docs/rules.md``:
ordinary card holders of both schemes (``310`` employee, ``390`` resident),
the three exemptions (child under 7 without a card, foreign / HK / Macao /
Taiwan insured with a passport or travel permit, a lost card awaiting its
replacement), people the service must refuse (uninsured, lapsed coverage,
expired card) and forgetful PIN typists who block their SSSE PIN at the desk
and go to a partner bank branch (or the PIN-service desk of a designated
tertiary hospital) to have it unblocked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum

from hospital_sim.fees import FeeLine, fee_lines
from settlement.rules.citizen_id import make_ssn
from settlement.rules.coverage import insurance_year

#: China Standard Time; the simulated day runs on the city's wall clock.
CST = timezone(timedelta(hours=8), "CST")

#: The simulated city (Changsha).
REGION = "430100"

SCHEME_EMPLOYEE = "310"  # 职工基本医疗保险
SCHEME_RESIDENT = "390"  # 城乡居民基本医疗保险


class PatientKind(str, Enum):
    """What happens to a patient at the desk (settlement.md §exemptions and refusals)."""

    CARD_HOLDER = "card_holder"  # insured, card in hand, knows the PIN
    FORGETFUL_PIN = "forgetful_pin"  # blocks the SSSE PIN, goes to the bank, comes back
    CHILD_NO_CARD = "child_no_card"  # under 7, household register number (户口本)
    FOREIGN_NO_CARD = "foreign_no_card"  # passport / travel permit
    LOST_CARD = "lost_card"  # card reported lost, replacement receipt + ID
    UNINSURED = "uninsured"  # card holder never enrolled: refused, not covered
    LAPSED = "lapsed"  # coverage ended before the admission date: refused
    EXPIRED_CARD = "expired_card"  # card past its EF05 expiry date: refused


#: Share of each kind in a population (sums to 1).
KIND_WEIGHTS: dict[PatientKind, float] = {
    PatientKind.CARD_HOLDER: 0.66,
    PatientKind.FORGETFUL_PIN: 0.06,
    PatientKind.CHILD_NO_CARD: 0.06,
    PatientKind.FOREIGN_NO_CARD: 0.04,
    PatientKind.LOST_CARD: 0.05,
    PatientKind.UNINSURED: 0.04,
    PatientKind.LAPSED: 0.05,
    PatientKind.EXPIRED_CARD: 0.04,
}

#: Kinds that must end in a settlement; the rest must be refused.
SETTLING_KINDS = frozenset(
    {
        PatientKind.CARD_HOLDER,
        PatientKind.FORGETFUL_PIN,
        PatientKind.CHILD_NO_CARD,
        PatientKind.FOREIGN_NO_CARD,
        PatientKind.LOST_CARD,
    }
)

#: Refusal code the service is expected to give each refused kind (settlement.md).
EXPECTED_REFUSAL: dict[PatientKind, str] = {
    PatientKind.UNINSURED: "not_covered",
    PatientKind.LAPSED: "not_covered",
    PatientKind.EXPIRED_CARD: "card_expired",
}


class Exemption(str, Enum):
    """The audited paths that settle without a card (settlement.md §exemptions)."""

    CHILD_UNDER_7 = "child_under_7"
    FOREIGN_DOCUMENT = "foreign_document"
    LOST_CARD_RECEIPT = "lost_card_receipt"


KIND_EXEMPTION: dict[PatientKind, Exemption] = {
    PatientKind.CHILD_NO_CARD: Exemption.CHILD_UNDER_7,
    PatientKind.FOREIGN_NO_CARD: Exemption.FOREIGN_DOCUMENT,
    PatientKind.LOST_CARD: Exemption.LOST_CARD_RECEIPT,
}


@dataclass(frozen=True)
class Bank:
    code: str  # 102 ICBC, 103 ABC, 104 BOC, 105 CCB, 301 BOCOM (card/keystore.py)
    short: str


BANKS: tuple[Bank, ...] = (
    Bank("102", "ICBC"),
    Bank("103", "ABC"),
    Bank("104", "BOC"),
    Bank("105", "CCB"),
    Bank("301", "BOCOM"),
)


@dataclass(frozen=True)
class Hospital:
    code: str  # institution code, e.g. H43010001
    name: str
    level: int  # 1, 2 or 3
    pin_service: bool  # designated tertiary hospital that may unblock / reset SSSE PINs


@dataclass(frozen=True)
class Desk:
    code: str  # terminal id, e.g. H43010001-D1
    hospital: Hospital
    number: int


@dataclass(frozen=True)
class BankBranch:
    code: str  # institution code, e.g. B102-0001
    name: str
    bank: Bank


@dataclass(frozen=True)
class Document:
    """An identity document of a foreign / HK / Macao / Taiwan insured person."""

    kind: str  # passport | hk_macao_permit | taiwan_permit
    number: str
    country: str  # ISO 3166 alpha-3 of the issuing country or region


@dataclass(frozen=True)
class CardPlan:
    """The social security card a person holds (card.md EF05 / issuance.md)."""

    card_number: str  # 9 characters, e.g. X00000019
    card_factor: bytes  # the 8 card-unique bytes
    algorithm: str  # "3des" (2nd generation) or "sm4" (3rd generation)
    bank: Bank  # issuing bank of the financial application
    issue_date: date
    expiry_date: date
    pin: str  # the SSSE PIN the holder knows (6 digits)
    bank_pin: str


@dataclass(frozen=True)
class Coverage:
    """One coverage period of a scheme (settlement.md §coverage)."""

    scheme: str  # 310 | 390
    start: date
    end: date | None  # None = open (contributions current)


@dataclass(frozen=True)
class Person:
    psn_no: str  # person number in the insurance system
    ssn: str  # 18-character citizen ID number (or a foreigner's permanent-resident number)
    name: str
    sex: str  # "1" male, "2" female
    birth_date: date
    kind: PatientKind
    scheme: str | None  # 310 | 390 | None (never enrolled)
    coverage: tuple[Coverage, ...]
    account_balance: int  # employee personal account, fen
    card: CardPlan | None
    household_register_no: str | None = None  # 户口本 number (children)
    document: Document | None = None
    query_password: str = ""


@dataclass(frozen=True)
class Stay:
    """One patient's inpatient stay as planned for the day."""

    patient: Person
    desk: Desk
    discharge_desk: Desk
    admitted_at: datetime
    discharged_at: datetime
    fee_lines: tuple[FeeLine, ...]
    use_account: bool  # the holder agrees to pay from the personal account
    reverse_after_settle: bool  # the settlement is reversed (2305) and settled again
    wrong_pin_tries: int  # wrong PINs typed before the right one (3 = blocks the card)
    pin_service_branch: BankBranch | None  # where a blocked card goes to be unblocked
    long_stay: bool
    gives_up_after_block: bool = False  # goes home with a blocked card (comes back another day)
    day: date | None = None  # the simulated day (its close's city date) the stay belongs to

    @property
    def bill_total(self) -> int:
        return sum(line.amount for line in self.fee_lines)

    @property
    def has_refund(self) -> bool:
        return any(line.quantity < 0 for line in self.fee_lines)


@dataclass(frozen=True)
class Population:
    """The whole seeded city of one run."""

    seed: int
    day: date  # the first simulated day
    days: int
    region: str
    hospitals: tuple[Hospital, ...]
    desks: tuple[Desk, ...]
    branches: tuple[BankBranch, ...]
    people: tuple[Person, ...]
    stays: tuple[Stay, ...] = field(default=())

    def kinds(self) -> dict[PatientKind, int]:
        counts = {kind: 0 for kind in PatientKind}
        for person in self.people:
            counts[person.kind] += 1
        return counts


# --- names ---------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红燕鹏辉建国志文斌宇浩凯秀梅晨欣怡雨婷子轩梓涵一诺浩然"
_FOREIGN_NAMES = (
    ("USA", "passport", "SMITH JOHN"),
    ("GBR", "passport", "BROWN EMMA"),
    ("KOR", "passport", "KIM MINJUN"),
    ("JPN", "passport", "SATO YUKI"),
    ("DEU", "passport", "MULLER LUKAS"),
    ("HKG", "hk_macao_permit", "陈家乐"),
    ("MAC", "hk_macao_permit", "何嘉欣"),
    ("TWN", "taiwan_permit", "林志明"),
)

_HOSPITAL_NAMES = {
    3: (
        "长沙市中心医院 Changsha Central Hospital",
        "湘江医学院附属医院 Xiangjiang Medical College Hospital",
    ),
    2: (
        "岳麓区人民医院 Yuelu District People's Hospital",
        "开福区人民医院 Kaifu District Hospital",
    ),
    1: (
        "芙蓉社区卫生服务中心 Furong Community Health Centre",
        "天心社区医院 Tianxin Community Hospital",
    ),
}


def citizen_id(region: str, birth: date, sequence: int, sex: str) -> str:
    """An 18-character citizen ID number (GB 11643) with its ISO 7064 check character."""
    return make_ssn(region, birth, sequence % 500 * 2 + (1 if sex == "1" else 0))  # odd = male


# --- generator ---------------------------------------------------------------------


def build_institutions(
    desks: int, rng: random.Random, namespace: int = 0
) -> tuple[tuple[Hospital, ...], tuple[Desk, ...], tuple[BankBranch, ...]]:
    """Three hospitals (levels 3/2/1, the level-3 one a PIN-service hospital) and branches."""
    if desks < 1:
        raise ValueError("a hospital day needs at least one registration desk")
    hospitals = []
    for index, level in enumerate((3, 2, 1)):
        name = _HOSPITAL_NAMES[level][rng.randrange(2)]
        hospitals.append(
            Hospital(
                code=f"H{REGION}{_ns(namespace)}{index + 1:02d}",
                name=name,
                level=level,
                pin_service=(level == 3),
            )
        )
    # Desks go to the busiest hospitals first: 3, 2, 1, 3, 3, 2, 3, 1, ...
    order = (0, 1, 2, 0, 0, 1, 0, 2)
    per_hospital = [0, 0, 0]
    desk_list = []
    for n in range(desks):
        h = order[n % len(order)]
        per_hospital[h] += 1
        hospital = hospitals[h]
        desk_list.append(
            Desk(
                code=f"{hospital.code}-D{per_hospital[h]}",
                hospital=hospital,
                number=per_hospital[h],
            )
        )
    branches = tuple(
        BankBranch(
            code=f"B{bank.code}-{_ns(namespace)}0001",
            name=f"{bank.short} Changsha Furong Branch",
            bank=bank,
        )
        for bank in BANKS[:3]
    )
    return tuple(hospitals), tuple(desk_list), branches


def _choose_kinds(count: int, rng: random.Random) -> list[PatientKind]:
    """Every kind at least once when the population is big enough, the rest by weight."""
    kinds = list(PatientKind)
    chosen: list[PatientKind] = kinds[:count] if count < len(kinds) else list(kinds)
    weights = [KIND_WEIGHTS[k] for k in kinds]
    chosen += rng.choices(kinds, weights=weights, k=max(0, count - len(chosen)))
    rng.shuffle(chosen)
    return chosen


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _ns(namespace: int) -> str:
    """The run's namespace in codes (empty for 0), so runs can share one service."""
    return f"{namespace:03d}" if namespace else ""


def _foreign_document(
    index: int, birth: date, sex: str, rng: random.Random, namespace: int
) -> tuple[Document, str, str]:
    """A foreign / HK / Macao / Taiwan insured person's document, name and ID-shaped number."""
    country, doc_kind, name = _FOREIGN_NAMES[rng.randrange(len(_FOREIGN_NAMES))]
    prefix = {"passport": "E", "hk_macao_permit": "H", "taiwan_permit": "T"}[doc_kind]
    serial = rng.randrange(10**8)
    if namespace:
        serial = namespace * 100_000 + serial % 100_000
    document = Document(doc_kind, f"{prefix}{serial:08d}", country)
    # Foreign permanent residents carry a 15/18-character number; keep the ID shape.
    return document, name, citizen_id("930000", birth, index + namespace * 37, sex)


def _coverage(
    kind: PatientKind, scheme: str | None, day: date, rng: random.Random
) -> tuple[Coverage, ...]:
    """The coverage periods of a scheme member (lapsed: ended before ``day``)."""
    if scheme == SCHEME_EMPLOYEE:
        start = day - timedelta(days=rng.randrange(400, 7000))
        end = day - timedelta(days=rng.randrange(30, 300)) if kind is PatientKind.LAPSED else None
        return (Coverage(scheme, start, end),)
    if scheme == SCHEME_RESIDENT:
        year_start, _ = insurance_year(day)  # the resident year: 1 July to 30 June
        if kind is PatientKind.LAPSED:
            # Paid last insurance year, not this one.
            last = date(year_start.year - 1, 7, 1)
            return (Coverage(scheme, last, year_start - timedelta(days=1)),)
        return (
            Coverage(scheme, date(year_start.year - 1, 7, 1), year_start - timedelta(days=1)),
            Coverage(scheme, year_start, date(year_start.year + 1, 6, 30)),
        )
    return ()


def _card_plan(
    index: int, kind: PatientKind, day: date, rng: random.Random, namespace: int
) -> CardPlan:
    """The card a person holds (expired before ``day`` for :attr:`PatientKind.EXPIRED_CARD`)."""
    issue = day - timedelta(days=rng.randrange(200, 3000))
    expiry = date(issue.year + 10, issue.month, min(issue.day, 28))
    if kind is PatientKind.EXPIRED_CARD:
        issue = day - timedelta(days=rng.randrange(3700, 4500))
        expiry = day - timedelta(days=rng.randrange(1, 60))
    pin = f"{rng.randrange(10**6):06d}"
    return CardPlan(
        card_number=f"X{namespace * 100_000 + index + 1:08d}",
        card_factor=(namespace.to_bytes(2, "big") + rng.randbytes(6))
        if namespace
        else rng.randbytes(8),
        algorithm=rng.choice(("3des", "sm4")),
        bank=BANKS[rng.randrange(3)],
        issue_date=issue,
        expiry_date=expiry,
        pin=pin,
        bank_pin=f"{rng.randrange(10**6):06d}",
    )


def _person(
    index: int, kind: PatientKind, day: date, rng: random.Random, namespace: int = 0
) -> Person:
    sex = rng.choice("12")
    if kind is PatientKind.CHILD_NO_CARD:
        birth = day - timedelta(days=rng.randrange(30, 7 * 365 - 5))
    else:
        birth = day - timedelta(days=rng.randrange(18 * 365, 88 * 365))
    if kind is PatientKind.CHILD_NO_CARD:
        scheme = SCHEME_RESIDENT
    elif kind is PatientKind.UNINSURED:
        scheme = None
    else:
        scheme = rng.choice((SCHEME_EMPLOYEE, SCHEME_RESIDENT))
    ssn = citizen_id(REGION, birth, index + namespace * 37, sex)
    name = _name(rng)
    document = None
    if kind is PatientKind.FOREIGN_NO_CARD:
        document, name, ssn = _foreign_document(index, birth, sex, rng, namespace)
    coverage = _coverage(kind, scheme, day, rng)
    balance = rng.randrange(0, 800_000) if scheme == SCHEME_EMPLOYEE else 0
    card = None
    if kind not in (PatientKind.CHILD_NO_CARD, PatientKind.FOREIGN_NO_CARD):
        card = _card_plan(index, kind, day, rng, namespace)
    household = None
    if kind is PatientKind.CHILD_NO_CARD:
        household = f"HR{REGION}{rng.randrange(10**9):09d}"
    return Person(
        psn_no=f"43{namespace:03d}{index + 1:015d}",
        ssn=ssn,
        name=name,
        sex=sex,
        birth_date=birth,
        kind=kind,
        scheme=scheme,
        coverage=coverage,
        account_balance=balance,
        card=card,
        household_register_no=household,
        document=document,
        query_password=f"{rng.randrange(10**8):08d}",
    )


#: A simulated day's registration desks are open this long (the window ends at its close).
OPEN_HOURS = 10
#: The service accepts admission times at most 30 days back (docs/api.md §Admission and
#: discharge times); the plan keeps two days' margin for the time the run itself takes.
MAX_BACKDATE = timedelta(days=28)
#: So at most this many simulated days fit (the first day's morning must be in the window).
MAX_DAYS = 27


def day_closes(first_day: date, days: int, closes_at: datetime | None) -> list[datetime]:
    """When each simulated day's desks close.

    With ``closes_at`` (a run against a live service) the last day closes then and each
    earlier day 24 hours before: every visit lies in the past, spread over the
    :data:`OPEN_HOURS` before the close, whatever the hour of the real clock. Without it
    (a pure plan), day ``d`` closes at 18:00 city time on ``first_day + d``.
    """
    if closes_at is not None:
        if closes_at.tzinfo is None:
            raise ValueError("closes_at must be timezone-aware")
        last = closes_at.astimezone(CST).replace(microsecond=0)
        return [last - timedelta(days=days - 1 - d) for d in range(days)]
    return [datetime.combine(first_day + timedelta(days=d), time(18, 0), CST) for d in range(days)]


def _stays(
    people: list[tuple[Person, datetime]],
    desks: tuple[Desk, ...],
    branches: tuple[BankBranch, ...],
    rng: random.Random,
) -> tuple[Stay, ...]:
    """Each person's stay, admitted and discharged in the :data:`OPEN_HOURS` before their
    day's close; long stays were admitted days before and are discharged in the morning."""
    stays = []
    earliest = max(close for _, close in people) - MAX_BACKDATE if people else None
    # Every run shows a long stay, a refund and a reversal (issue 7): the first card holders
    # get them for certain, everyone else by chance.
    holders = [i for i, (p, _) in enumerate(people) if p.kind is PatientKind.CARD_HOLDER]
    sure = {  # what -> the index of the person certain to have it
        what: holders[min(n, len(holders) - 1)] if holders else -1
        for n, what in enumerate(("long stay", "refund", "reversal"))
    }
    for index, (person, close) in enumerate(people):
        open_at = close - timedelta(hours=OPEN_HOURS)
        desk = desks[rng.randrange(len(desks))]
        same_hospital = [d for d in desks if d.hospital == desk.hospital]
        discharge_desk = same_hospital[rng.randrange(len(same_hospital))]
        # Lapsed people stay short: a stay begun weeks ago could straddle the insurance
        # year in which they were still covered.
        long_stay = (
            rng.random() < 0.15 and person.kind is not PatientKind.LAPSED
        ) or index == sure["long stay"]
        if long_stay:
            # Admitted 3 to 20 days ago; discharged this morning (ward rounds, then the desk).
            admitted = open_at - timedelta(
                days=rng.randrange(3, 21), minutes=-rng.randrange(0, 8 * 60)
            )
            admitted = max(admitted, earliest)  # type: ignore[type-var]
            discharged = open_at + timedelta(minutes=rng.randrange(60, 4 * 60))
        else:
            # Day cases and short observations: admitted and discharged within the window.
            admit_minute = rng.randrange(0, (OPEN_HOURS - 2) * 60)
            stay_minutes = rng.randrange(30, OPEN_HOURS * 60 - admit_minute)
            admitted = open_at + timedelta(minutes=admit_minute, seconds=rng.randrange(60))
            discharged = min(admitted + timedelta(minutes=stay_minutes), close)
            if person.kind is PatientKind.LAPSED:
                # Coverage is judged on the admission date: keep a lapsed person's admission
                # on their day's date when the window straddles midnight (1 July matters).
                admitted = max(admitted, close.replace(hour=0, minute=0, second=0))
                discharged = max(discharged, admitted + timedelta(minutes=1))
        refund = rng.random() < 0.15 or index == sure["refund"]
        wrong = 3 if person.kind is PatientKind.FORGETFUL_PIN else (1 if rng.random() < 0.08 else 0)
        branch = None
        if person.kind is PatientKind.FORGETFUL_PIN and person.card is not None:
            # Their own bank's branch if there is one in town, else the first branch.
            own = [b for b in branches if b.bank == person.card.bank]
            branch = own[0] if own else branches[0]
        stays.append(
            Stay(
                patient=person,
                desk=desk,
                discharge_desk=discharge_desk,
                admitted_at=admitted,
                discharged_at=discharged,
                fee_lines=fee_lines(long_stay, refund, rng),
                use_account=person.scheme == SCHEME_EMPLOYEE and rng.random() < 0.7,
                reverse_after_settle=(person.kind in SETTLING_KINDS and rng.random() < 0.06)
                or index == sure["reversal"],
                wrong_pin_tries=wrong if person.card is not None else 0,
                pin_service_branch=branch,
                long_stay=long_stay,
                gives_up_after_block=(
                    person.kind is PatientKind.FORGETFUL_PIN and rng.random() < 0.25
                ),
                day=close.date(),
            )
        )
    stays.sort(key=lambda s: (s.admitted_at, s.patient.psn_no))
    return tuple(stays)


def generate(
    seed: int,
    patients: int,
    desks: int,
    day: date,
    days: int = 1,
    namespace: int = 0,
    closes_at: datetime | None = None,
) -> Population:
    """The seeded population and its stays, ``patients`` a day for ``days`` days.

    ``closes_at`` (see :func:`day_closes`) ends the last simulated day at that moment, and
    then ``day`` is ignored: the first day is the city date of the first day's close.
    Same arguments, same result. Each day's patients are different people, so
    every person is admitted once. ``namespace`` (0..999) makes every code and
    number of the run distinct from other namespaces, for runs that share one
    service.
    """
    if not 0 <= namespace <= 999:
        raise ValueError("the namespace is 0..999")
    if patients * days > 99_999:
        raise ValueError("at most 99 999 patients in one run")
    if patients < 1:
        raise ValueError("a hospital day needs at least one patient")
    if days < 1:
        raise ValueError("a simulation needs at least one day")
    if days > MAX_DAYS:
        raise ValueError(
            f"at most {MAX_DAYS} days: the service accepts admissions at most 30 days back"
        )
    closes = day_closes(day, days, closes_at)
    day = closes[0].date()
    rng = random.Random(f"sscard-hospital-sim/{seed}/{day.isoformat()}")
    hospitals, desk_list, branches = build_institutions(desks, rng, namespace)
    dated: list[tuple[Person, datetime]] = []
    for close in closes:
        for kind in _choose_kinds(patients, rng):
            dated.append((_person(len(dated), kind, close.date(), rng, namespace), close))
    people = [person for person, _ in dated]
    stays = _stays(dated, desk_list, branches, rng)
    return Population(
        seed=seed,
        day=day,
        days=days,
        region=REGION,
        hospitals=hospitals,
        desks=desk_list,
        branches=branches,
        people=tuple(people),
        stays=stays,
    )
