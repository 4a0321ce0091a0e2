"""The seeded population: deterministic, every kind present, plans that respect the rules."""

from datetime import date, datetime, timedelta

import pytest

from hospital_sim.population import (
    CST,
    MAX_BACKDATE,
    MAX_DAYS,
    OPEN_HOURS,
    SCHEME_EMPLOYEE,
    PatientKind,
    citizen_id,
    generate,
)
from settlement.catalogue import sample_catalogue
from settlement.rules.catalogue_file import parse
from settlement.rules.coverage import age_on

DAY = date(2026, 11, 23)
#: The shipped sample catalogue the simulated service loads, by item code.
SAMPLE = {entry.med_list_codg: entry for entry in parse(sample_catalogue(), 1_000)}


def test_same_seed_same_population_other_seed_differs():
    a = generate(7, 120, 4, DAY)
    b = generate(7, 120, 4, DAY)
    c = generate(8, 120, 4, DAY)
    assert a == b
    assert a.people != c.people


def test_every_kind_present_and_counts_add_up():
    pop = generate(1, 200, 5, DAY, days=2)
    kinds = pop.kinds()
    assert all(n > 0 for n in kinds.values()), kinds
    assert sum(kinds.values()) == 400 == len(pop.stays)
    assert len({p.psn_no for p in pop.people}) == 400
    card_numbers = [p.card.card_number for p in pop.people if p.card]
    assert len(card_numbers) == len(set(card_numbers))
    assert {s.discharged_at.date() for s in pop.stays} == {DAY, date(2026, 11, 24)}
    assert any(s.admitted_at.date() < DAY for s in pop.stays if s.long_stay)


def test_institutions_levels_pin_service_and_desks():
    pop = generate(3, 30, 5, DAY)
    assert sorted(h.level for h in pop.hospitals) == [1, 2, 3]
    assert [h.level for h in pop.hospitals if h.pin_service] == [3]
    assert len(pop.desks) == 5 and len({d.code for d in pop.desks}) == 5
    assert len({b.bank.code for b in pop.branches}) == len(pop.branches) >= 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kinds_carry_their_evidence(seed):
    pop = generate(seed, 150, 3, DAY)
    for stay in pop.stays:
        p = stay.patient
        day = stay.discharged_at.date()
        assert stay.admitted_at < stay.discharged_at
        assert stay.long_stay or stay.admitted_at.date() == day
        assert stay.discharged_at.hour < 18
        assert stay.desk.hospital == stay.discharge_desk.hospital
        if p.kind is PatientKind.CHILD_NO_CARD:
            assert p.card is None and p.household_register_no and age_on(p.birth_date, day) < 7
        elif p.kind is PatientKind.FOREIGN_NO_CARD:
            assert p.card is None and p.document is not None
        else:
            assert p.card is not None and age_on(p.birth_date, day) >= 18
        if p.kind is PatientKind.EXPIRED_CARD:
            assert p.card.expiry_date < day
        elif p.card is not None:
            assert p.card.expiry_date > day
        if p.kind is PatientKind.UNINSURED:
            assert p.scheme is None and not p.coverage
        if p.kind is PatientKind.LAPSED:
            assert all(c.end is not None and c.end < stay.admitted_at.date() for c in p.coverage)
        if p.kind is PatientKind.FORGETFUL_PIN:
            assert stay.wrong_pin_tries == 3 and stay.pin_service_branch is not None
        if stay.use_account:
            assert p.scheme == SCHEME_EMPLOYEE
        assert stay.bill_total >= 0
        for line in stay.fee_lines:
            assert line.item_code in SAMPLE and line.unit_price > 0


def test_long_stays_refunds_and_reversals_occur():
    pop = generate(5, 300, 4, DAY)
    assert any(s.long_stay and len(s.fee_lines) >= 25 for s in pop.stays)
    assert any(s.has_refund for s in pop.stays)
    assert any(s.reverse_after_settle for s in pop.stays)
    classes = {SAMPLE[line.item_code].chrgitm_lv for s in pop.stays for line in s.fee_lines}
    assert classes == {"01", "02", "03"}  # 甲, 乙 and 丙 items of the sample catalogue


@pytest.mark.parametrize("seed", range(12))
def test_even_a_small_day_has_a_long_stay_a_refund_and_a_reversal(seed):
    """Not left to chance (15 %, 15 %, 6 %): a 12-patient day shows each of them, on card
    holders, who settle."""
    pop = generate(seed, 12, 2, DAY + timedelta(days=seed))
    holders = [s for s in pop.stays if s.patient.kind is PatientKind.CARD_HOLDER]
    assert any(s.long_stay for s in holders)
    assert any(s.has_refund for s in holders)
    assert any(s.reverse_after_settle for s in holders)


def test_citizen_id_check_character():
    # GB 11643 example: 11010519491231002X
    assert citizen_id("110105", date(1949, 12, 31), 1, "2") == "11010519491231002X"


def test_namespaces_keep_runs_on_one_service_apart():
    a = generate(1, 40, 3, DAY)
    b = generate(1, 40, 3, DAY, namespace=7)
    for attr in ("psn_no", "ssn"):
        assert not {getattr(p, attr) for p in a.people} & {getattr(p, attr) for p in b.people}
    cards_a = {(p.card.card_number, p.card.card_factor) for p in a.people if p.card}
    cards_b = {(p.card.card_number, p.card.card_factor) for p in b.people if p.card}
    assert not {n for n, _ in cards_a} & {n for n, _ in cards_b}
    assert not {f for _, f in cards_a} & {f for _, f in cards_b}
    codes_a = (
        {h.code for h in a.hospitals} | {x.code for x in a.branches} | {d.code for d in a.desks}
    )
    codes_b = (
        {h.code for h in b.hospitals} | {x.code for x in b.branches} | {d.code for d in b.desks}
    )
    assert not codes_a & codes_b
    docs_a = {p.document.number for p in a.people if p.document}
    assert docs_a and not docs_a & {p.document.number for p in b.people if p.document}


@pytest.mark.parametrize("hour", [0, 3, 12, 23])
def test_a_live_day_ends_at_its_close_spread_over_the_opening_hours(hour):
    """A run early in the Beijing day is not piled into one hour: the simulated day is the
    window of OPEN_HOURS before the close, every visit in the past of it, none further back
    than the service accepts (docs/api.md: at most 30 days)."""
    close = datetime(2026, 7, 1, hour, 17, 42, tzinfo=CST)
    pop = generate(2, 300, 4, date(1999, 1, 1), days=3, closes_at=close)
    assert pop.day == date(2026, 6, 29)
    for stay in pop.stays:
        assert stay.admitted_at < stay.discharged_at <= close
        assert stay.admitted_at >= close - MAX_BACKDATE
    last_day = [s for s in pop.stays if s.discharged_at > close - timedelta(hours=OPEN_HOURS)]
    assert len(last_day) == 300
    short = [s.admitted_at for s in last_day if not s.long_stay]
    assert max(short) - min(short) > timedelta(hours=OPEN_HOURS - 3)
    hours = {t.replace(minute=0, second=0) for t in short}
    assert len(hours) >= OPEN_HOURS - 2, sorted(hours)
    # Coverage is judged on the admission date: a lapsed person's is their day's date.
    for s in pop.stays:
        if s.patient.kind is PatientKind.LAPSED:
            assert s.admitted_at.astimezone(CST).date() in {
                (close - timedelta(days=d)).date() for d in range(3)
            }
            assert s.admitted_at.date() == s.discharged_at.date()


def test_the_longest_run_stays_within_the_services_back_dating_window():
    close = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
    pop = generate(4, 40, 3, date(2026, 1, 1), days=MAX_DAYS, closes_at=close)
    assert min(s.admitted_at for s in pop.stays) >= close - MAX_BACKDATE
    assert min(s.admitted_at for s in pop.stays if not s.long_stay) < close - timedelta(days=26)
    with pytest.raises(ValueError, match="30 days back"):
        generate(4, 40, 3, date(2026, 1, 1), days=MAX_DAYS + 1, closes_at=close)
