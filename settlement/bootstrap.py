"""The composition root: builds the service from settings, policy and registers
(cosmic python's ``bootstrap.py``).

Everything the HTTP layer needs is made here, once per process, from
:class:`settlement.config.Settings`: the policy in force (settlement.md §Policy),
card production's outside registers (calendar, police register, partner banks;
issuance.md step 3) and the :class:`~settlement.service.Service` that holds them.
Nothing below reads the environment or builds its own collaborators; tests and
the hospital simulation pass their own pieces instead.
"""

from __future__ import annotations

from settlement.applications.registers import Registers
from settlement.config import Settings
from settlement.rules.policy import Policy, load_policy
from settlement.service import Service


def bootstrap(
    settings: Settings | None = None,
    *,
    policy: Policy | None = None,
    registers: Registers | None = None,
) -> Service:
    """The service of ``settings`` (default: from the environment), under ``policy``
    (default: the policy in force) with ``registers`` (default: those ``settings`` name)."""
    settings = settings or Settings.from_env()
    return Service(
        settings,
        policy or load_policy(),
        registers if registers is not None else Registers.from_settings(settings),
    )
