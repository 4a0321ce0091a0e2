"""What a command handler sees: the session, the file tree, the image and the keys.

The card OS (:mod:`card.chip`) composes the applications' command tables; each
application (:mod:`card.ssse`, :mod:`card.pboc`, :mod:`card.pse`) and the
card-wide file commands (:mod:`card.iso7816`) write their handlers against
:class:`CardContext` only, so no application imports the OS or another
application (card.md §Applications: the partitions share nothing but the chip).

A handler takes the context and the parsed command and returns the response
data (``b""`` for none) or raises :class:`card.sw.CardError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from card.apdu import Command
from card.image import CardImage
from card.layout import Node
from card.sw import SW, CardError


class Session:
    """Everything a power cycle or reset forgets (card.md §Physical layer)."""

    __slots__ = (
        "bank_pin_ok",
        "challenge",
        "current_df",
        "current_ef",
        "ext_auth",
        "gen_ac_count",
        "gpo_done",
        "last_ac",
        "pending",
        "pending_sw",
        "script_done",
        "ssse_pin_ok",
    )

    def __init__(self, mf: Node) -> None:
        self.current_df: Node = mf
        self.current_ef: Node | None = None
        self.ssse_pin_ok = False
        self.bank_pin_ok = False
        self.ext_auth: set[int] = set()
        self.challenge: bytes | None = None
        self.pending = b""
        self.pending_sw = SW.OK
        self.clear_emv()

    def challenge_block(self, block_size: int) -> bytes:
        """The last GET CHALLENGE zero-padded to one block, used up (``6985`` if none).

        card.md §What real cards do: EXTERNAL AUTHENTICATE and the PIN-unblock MAC
        use the last challenge padded with zeros to one block; a challenge longer
        than a block (Le ``10`` on a 3DES card) counts with its first block
        **(project choice)**.
        """
        challenge = self.challenge
        if challenge is None:
            raise CardError(SW.CONDITIONS)
        self.challenge = None
        return (challenge + bytes(block_size))[:block_size]

    def clear_security(self) -> None:
        """Forget what the application left had proven: PINs, external
        authentications, the EMV transaction (GPO, GENERATE AC, issuer script).

        card.md §What real cards do: security state belongs to one application;
        selecting another application, or the MF, clears it.
        """
        self.ssse_pin_ok = False
        self.ext_auth = set()
        self.clear_emv()

    def clear_emv(self) -> None:
        """Forget the bank PIN and the EMV transaction (GPO, GENERATE AC, issuer script)."""
        self.bank_pin_ok = False
        self.gpo_done = False
        self.gen_ac_count = 0
        self.last_ac: bytes | None = None
        self.script_done = False

    @property
    def app(self) -> str | None:
        return self.current_df.app


class CardContext(Protocol):
    """The card OS as its handlers see it."""

    image: CardImage
    session: Session
    mf: Node
    nodes: dict[str, Node]
    #: a status word replacing ``9000`` on this response (e.g. ``6281``), or None
    warning: int | None

    def encrypt_block(self, kid: int, block: bytes) -> bytes:
        """``ENC(K_kid, block)`` with the card's own SSSE key ``kid``."""
        ...

    def enter(self, node: Node) -> None:
        """Make ``node`` current (clearing the security state of an application left)."""
        ...

    @property
    def application(self) -> Application:
        """The application the current DF belongs to."""
        ...

    def application_of(self, node: Node) -> Application:
        """The application ``node`` belongs to."""
        ...


Handler = Callable[[CardContext, Command], bytes]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a command table: the CLA bytes accepted and the handler."""

    classes: frozenset[int]
    handler: Handler


#: INS -> entry
CommandTable = Mapping[int, Entry]


def _no_record_files(ctx: CardContext, sfi: int) -> Node:
    raise CardError(SW.FILE_NOT_FOUND)


@dataclass(frozen=True)
class Application:
    """What an application brings to the OS: its commands, record files and FCI.

    ``record_file(ctx, sfi)`` names the record file an SFI (1..30) denotes while
    the application is selected (``6A82`` if none); ``fci(ctx, node)`` is the FCI a
    SELECT of one of its DFs returns.
    """

    name: str
    commands: CommandTable = field(default_factory=dict)
    record_file: Callable[[CardContext, int], Node] = _no_record_files
    fci: Callable[[CardContext, Node], bytes] | None = None
