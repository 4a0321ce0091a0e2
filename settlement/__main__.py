"""``python -m settlement`` (see settlement/cli.py)."""

import sys

from settlement.cli import main

sys.exit(main())
