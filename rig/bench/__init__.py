"""The test bench for hospital-software vendors (issue 18): virtual cards and readers
driven over HTTP from any test suite.

* :mod:`rig.bench.bench` — readers, cards, faults, logs of one bench process;
* :mod:`rig.bench.server` — the control API (HTTP + JSON on localhost, a token);
* :mod:`rig.bench.profiles` — cards from profiles (holder, algorithm, PINs, expiry, state);
* :mod:`rig.bench.log` — the per-reader event and APDU log (JSON lines, secrets masked);
* :mod:`rig.bench.client` — a Python client of the API;
* :mod:`rig.bench.pytest_plugin` — fixtures for vendors' pytest suites (entry point
  ``pytest11``);
* :mod:`rig.bench.cli` — ``python -m card bench``.

The faults themselves live beside the vpcd connector, in :mod:`card.faults`.
Vendors' guide: ``docs/testing-your-his.md``.
"""
