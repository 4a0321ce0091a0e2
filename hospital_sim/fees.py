"""What a stay is billed: a small inpatient catalogue and seeded fee lines (2301).

Pure and deterministic like :mod:`hospital_sim.population`, which draws each
stay's lines from here with its own random generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FeeLine:
    """One fee line of a stay (2301): catalogue class A/B/C, quantity may be negative (refund)."""

    serial: str  # feedetl_sn, unique within the admission
    item_code: str
    item_name: str
    fee_class: str  # A | B | C
    unit_price: int  # fen
    quantity: int  # negative = refund of an earlier line
    refunds: str | None = None  # feedetl_sn of the line a refund returns (init_feedetl_sn)

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


#: A small inpatient catalogue: (item code, name, class, unit price in fen).
CATALOGUE: tuple[tuple[str, str, str, int], ...] = (
    ("110900001", "床位费 bed, general ward (day)", "A", 4500),
    ("111000001", "护理费 nursing, grade II (day)", "A", 2600),
    ("250101001", "血常规 full blood count", "A", 2000),
    ("250301001", "肝功能 liver function panel", "A", 6000),
    ("210300001", "CT 平扫 plain CT scan", "B", 28000),
    ("210200001", "MRI 磁共振 MRI scan", "B", 62000),
    ("XB01CA01", "头孢曲松 ceftriaxone 1 g", "A", 1850),
    ("XA02BC01", "奥美拉唑 omeprazole 40 mg", "A", 960),
    ("XL01XC07", "贝伐珠单抗 bevacizumab 100 mg", "B", 198000),
    ("XN02AA01", "吗啡 morphine 10 mg", "A", 420),
    ("331502001", "阑尾切除术 appendectomy", "A", 120000),
    ("311201001", "剖宫产 caesarean section", "B", 180000),
    ("C0001", "单人病房差价 single room supplement (day)", "C", 15000),
    ("C0002", "进口吻合器 imported stapler", "C", 320000),
    ("C0003", "护工 private carer (day)", "C", 18000),
)


def fee_lines(long_stay: bool, refund: bool, rng: random.Random) -> tuple[FeeLine, ...]:
    """A stay's fee lines from the catalogue (more for a long stay), with a refund line
    returning part of one of them when ``refund``."""
    count = rng.randrange(25, 60) if long_stay else rng.randrange(3, 12)
    lines = []
    for n in range(count):
        code, name, fee_class, price = CATALOGUE[rng.randrange(len(CATALOGUE))]
        lines.append(
            FeeLine(
                serial=f"{n + 1:04d}",
                item_code=code,
                item_name=name,
                fee_class=fee_class,
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
                fee_class=original.fee_class,
                unit_price=original.unit_price,
                quantity=-rng.randrange(1, original.quantity + 1),
                refunds=original.serial,
            )
        )
    return tuple(lines)
