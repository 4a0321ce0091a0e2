"""``python -m card`` — see :mod:`card.cli`."""

import sys

from card.cli import main

sys.exit(main())
