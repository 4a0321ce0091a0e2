"""Shared fixtures for the whole suite; each area's own fixtures live beside its tests."""

import glob
import os

# Every module in tests/fixtures/ is a pytest plugin (pcscd + vpcd rig, service, PostgreSQL).
pytest_plugins = sorted(
    "tests.fixtures." + os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "fixtures", "*.py"))
    if not path.endswith("__init__.py")
)
