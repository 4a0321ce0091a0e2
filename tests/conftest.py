"""Shared fixtures for the whole suite; each area's own fixtures live beside its tests."""

import glob
import os

# The terminal speaks Chinese by default (terminal/i18n.py); the suite's assertions on its
# output are in English, so English unless a test chooses (tests/terminal/test_i18n.py).
os.environ.setdefault("SSCARD_LANG", "en")

# Every module in tests/fixtures/ is a pytest plugin (pcscd + vpcd rig, service, PostgreSQL).
pytest_plugins = sorted(
    "tests.fixtures." + os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "*.py"))
    if not path.endswith("__init__.py")
)
