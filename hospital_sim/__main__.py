"""``python -m hospital_sim`` — see :mod:`hospital_sim.cli`."""

import sys

from hospital_sim.cli import main

sys.exit(main())
