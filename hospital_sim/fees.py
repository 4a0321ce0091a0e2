"""What a stay is billed: a small inpatient catalogue and seeded fee lines (2301).

Pure and deterministic like :mod:`hospital_sim.population`, which draws each
stay's lines from here with its own random generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FeeLine:
    """One fee line of a stay (2301): an item of the insurance catalogue by its national code
    (the service's catalogue decides its class); quantity may be negative (refund)."""

    serial: str  # feedetl_sn, unique within the admission
    item_code: str  # med_list_codg
    item_name: str
    unit_price: int  # fen
    quantity: int  # negative = refund of an earlier line
    refunds: str | None = None  # feedetl_sn of the line a refund returns (init_feedetl_sn)

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


#: What the hospital bills: (national item code of the shipped sample catalogue, name,
#: the hospital's unit price in fen). Some prices are above the catalogue's ceiling.
CATALOGUE: tuple[tuple[str, str, int], ...] = (
    ("001105000010001", "床位费 bed, general ward (day)", 4500),
    ("001103000020000", "护理费 nursing, grade II (day)", 2600),
    ("002201000010000", "血常规 full blood count", 2000),
    ("002203010010000", "肝功能 liver function panel", 6000),
    ("002302030010000", "CT 平扫 plain CT scan", 28000),
    ("002303060010000", "MRI 磁共振 MRI scan", 62000),
    ("XJ01DDA041E001010300342", "头孢曲松 ceftriaxone 1 g", 1850),
    ("XA02BCA011A001010103012", "奥美拉唑 omeprazole 20 mg", 960),
    ("XL01XCA020E001010105213", "曲妥珠单抗 trastuzumab 440 mg", 198000),
    ("XN05BAA010A001010100033", "地西泮 diazepam 2.5 mg", 420),
    ("003306000010000", "阑尾切除术 appendectomy", 120000),
    ("003310000120000", "冠脉支架置入术 coronary stenting", 180000),
    ("001105000030000", "特需病房床位费 private room (day)", 15000),
    ("C05030104400000108432", "可吸收缝合线 absorbable suture", 32000),
    ("ZD01AAC0134010100145", "六味地黄丸 liuwei dihuang pills", 1800),
)


def fee_lines(long_stay: bool, refund: bool, rng: random.Random) -> tuple[FeeLine, ...]:
    """A stay's fee lines from the catalogue (more for a long stay), with a refund line
    returning part of one of them when ``refund``."""
    count = rng.randrange(25, 60) if long_stay else rng.randrange(3, 12)
    lines = []
    for n in range(count):
        code, name, price = CATALOGUE[rng.randrange(len(CATALOGUE))]
        lines.append(
            FeeLine(
                serial=f"{n + 1:04d}",
                item_code=code,
                item_name=name,
                unit_price=price,
                quantity=rng.randrange(1, 4),
            )
        )
    if refund:
        # A returned drug or a cancelled test: the same item with a negative quantity.
        original = rng.choice(lines)
        lines.append(
            FeeLine(
                serial=f"{len(lines) + 1:04d}",
                item_code=original.item_code,
                item_name=original.item_name,
                unit_price=original.unit_price,
                quantity=-rng.randrange(1, original.quantity + 1),
                refunds=original.serial,
            )
        )
    return tuple(lines)
