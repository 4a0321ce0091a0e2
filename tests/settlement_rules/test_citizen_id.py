"""The citizen ID number's check character (GB 11643-1999, ISO 7064 MOD 11-2), as a table.

``settlement.rules.citizen_id`` is the service's one implementation. The chip
package keeps its own for its sample card holders (``card.issue.citizen_id``:
``card/`` may not import ``settlement``); this test holds the two to one answer.
"""

import random
from datetime import date

import pytest

from card.issue import citizen_id as card_sample_ssn
from card.issue import id_check_digit
from settlement.rules.citizen_id import check_character, is_valid_ssn, make_ssn


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # the standard's worked example
        ("43010019880309101", "7"),  # weighted sum 225, 225 mod 11 = 5
        ("00000000000000000", "1"),  # sum 0
        ("99999999999999999", "3"),  # 9 x 100 = 900, mod 11 = 9
    ],
)
def test_check_character_table(first17, check):
    assert check_character(first17) == check


def test_a_valid_number_needs_its_check_character_and_a_real_birth_date():
    assert is_valid_ssn("11010519491231002X") and is_valid_ssn("430100198803091017")
    assert not is_valid_ssn("430100198803091019")  # wrong check character
    assert not is_valid_ssn("000000000000000001")  # no such birth date


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100A", ""])
def test_check_character_needs_17_digits(bad):
    with pytest.raises(ValueError, match="17 digits"):
        check_character(bad)


def test_the_chip_packages_sample_numbers_agree_with_the_service():
    rng = random.Random(11)
    for _ in range(500):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert id_check_digit(first17) == check_character(first17)
    for n in range(50):
        born = date(1950 + n, n % 12 + 1, n % 28 + 1)
        ssn = card_sample_ssn("430100", born, n * 7, "1" if n % 2 else "2")
        assert is_valid_ssn(ssn)
        assert make_ssn("430100", born, int(ssn[14:17])) == ssn
