"""One name per role: the terminal's PSAM roles and the service's institution kinds agree."""

from settlement.rules.roles import INSTITUTION_KINDS
from terminal.psam import Role


def test_psam_roles_are_the_institution_kinds_by_the_same_names() -> None:
    assert [role.value for role in Role] == list(INSTITUTION_KINDS)
    assert [role.name for role in Role] == [kind.upper() for kind in INSTITUTION_KINDS]
