"""The terminal's reader layer: one contract, two implementations, and a factory.

* :mod:`terminal.readers.base` — the contract (``Reader``, ``CardConnection``,
  ``Response``), the errors and the T=0 exchange; every implementation and every
  caller imports its names from there.
* :mod:`terminal.readers.pcsc` — ``PcscReader``: a PC/SC reader through pyscard and
  the real pcscd.
* :mod:`terminal.readers.inprocess` — ``InProcessReader``: a ``card.icc.VirtualCard``
  in this process, no pcscd in between.

This module is the factory where callers pick a PC/SC reader (the pattern of
pySim's ``transport/__init__.py``): :func:`list_readers`, :func:`open_reader`,
:func:`wait_for_any_card`.  It imports :mod:`terminal.readers.pcsc` only when
called, so the in-process reader works on machines without pyscard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from terminal.readers.pcsc import PcscReader


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows (empty or not)."""
    from terminal.readers.pcsc import list_readers as _list

    return _list()


def open_reader(which: str | int | None = None) -> PcscReader:
    """A PC/SC reader by exact name, unique name fragment or index; ``None`` = the first."""
    from terminal.readers.pcsc import open_reader as _open

    return _open(which)


def wait_for_any_card(timeout: float | None = None, names: list[str] | None = None) -> PcscReader:
    """Block until a card is in one of the readers (all by default); return that reader."""
    from terminal.readers.pcsc import wait_for_any_card as _wait

    return _wait(timeout, names)
