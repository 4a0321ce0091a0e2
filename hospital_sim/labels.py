"""The words the HTML report shows for the simulation's internal names: the
patient kinds (:class:`hospital_sim.population.PatientKind`) and the exemption kinds of a
settlement without a card (settlement.md §Exemptions; ``settlement/rules/exemptions.py``).

Chinese first, as the desk's own reports (``terminal day-report``) speak to the hospital, and
the English after it, as the rest of the simulation's report is in English. Only what is
shown changes: the JSON summary embedded in the report keeps the internal names as its keys
(scripts and tests read them).
"""

from __future__ import annotations

#: Patient kind → (Chinese, English).
PATIENT_KINDS: dict[str, tuple[str, str]] = {
    "card_holder": ("持卡参保人", "insured, card in hand"),
    "forgetful_pin": (
        "忘记社保卡密码（锁卡后到银行重置）",
        "forgot the card PIN, reset at the bank",
    ),
    "child_no_card": ("7 岁以下儿童无卡（户口本）", "child under 7 without a card"),
    "foreign_no_card": ("境外人员无卡（护照/通行证）", "foreigner without a card"),
    "lost_card": ("社保卡已挂失（补卡回执）", "card reported lost, replacement receipt"),
    "uninsured": ("未参保", "not insured"),
    "lapsed": ("参保已中断", "coverage lapsed"),
    "expired_card": ("社保卡已过有效期", "card expired"),
}

#: Exemption kind (a settlement's proof other than the card) → (Chinese, English).
EXEMPTIONS: dict[str, tuple[str, str]] = {
    "child_under_7": ("7 岁以下儿童（户口本）", "child under 7, household register"),
    "foreign_document": ("境外人员证件（护照/通行证）", "foreign passport or travel permit"),
    "lost_card_receipt": ("挂失补卡回执", "lost card, replacement receipt"),
}


def shown(name: str, words: dict[str, tuple[str, str]]) -> str:
    """``中文（English）`` for an internal name; the name itself when none is known."""
    if name not in words:
        return name
    chinese, english = words[name]
    return f"{chinese}（{english}）"
