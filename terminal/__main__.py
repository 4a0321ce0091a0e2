"""``python -m terminal``: the registration desk, bank branch and card centre terminal."""

import sys

from terminal.cli import main

sys.exit(main())
