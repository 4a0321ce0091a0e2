"""``python -m card`` — see :mod:`card.cli`.

The command entry is the one place ``card`` reaches outside the chip package: the
``insert`` and ``rig`` subcommands belong to the reader rig (:mod:`rig.cli`), which
is tooling beside the chip, and are hung on the parser from here.
"""

import sys
from typing import Any

from card.cli import main


def _rig_subcommands(subparsers: Any) -> None:
    from rig.cli import add_parsers

    add_parsers(subparsers)


sys.exit(main(extensions=[_rig_subcommands]))
