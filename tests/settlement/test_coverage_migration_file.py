"""``python -m settlement coverage migrate FILE`` (issue 20): the admin's bulk migration of paid
coverage periods - all rows or none, each bad row by its line, GB18030 files, audited, and a
rerun of the same file changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from settlement.migrate import upgrade
from settlement.people import register_person
from settlement.rules.coverage import is_covered
from settlement.schemas import PersonIn
from settlement.service import Principal
from settlement.store import audit, people
from settlement.store.db import Database

REPO = Path(__file__).resolve().parents[2]
ADMIN = Principal("k_admin", "admin", None, None)
NOW = datetime(2026, 11, 28, 2, tzinfo=UTC)
HEADER = "psn_no,insutype,begndate,enddate,reason\n"


def _cli(url: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settlement", "coverage", "migrate", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "SSCARD_DATABASE_URL": url, "PYTHONPATH": str(REPO)},
    )


def test_migrate_a_file_all_or_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    db = Database(url)
    with db.write() as conn:
        for psn in ("M1", "M2"):
            body = PersonIn(psn_no=psn, psn_name="钱七", brdy=date(1970, 1, 1), certno=psn)
            register_person(conn, ADMIN, body, NOW)
    good = tmp_path / "employer.csv"
    good.write_bytes(
        (
            HEADER + "M1,310,2020-01-01,,雇主登记 2026-11\nM2,390,2026-07-01,2027-06-30,旧系统\n"
        ).encode("gb18030")
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "M1,310,2019-01-01,,overlaps\nNOBODY,310,2020-01-01,,x\nM2,320,2020-01-01,,x\n"
        "M2,310,2021-01-01,2020-01-01,\n",
        encoding="utf-8-sig",
    )

    refused = _cli(url, bad)  # nothing recorded yet: M1's row is fine now, the rest is not
    assert refused.returncode == 2, refused.stdout
    for line in ("line 3:", "person_unknown", "line 4:", "insutype", "line 5:", "nothing was"):
        assert line in refused.stderr, (line, refused.stderr)
    assert "line 2:" not in refused.stderr

    done = _cli(url, good)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "source": "employer.csv",
        "migrated": 2,
        "already_recorded": 0,
    }
    again = _cli(url, good)
    assert json.loads(again.stdout)["already_recorded"] == 2
    with db.read() as conn:
        assert is_covered(people.coverage_periods(conn, "M1"), "310", date(2026, 11, 28))
        assert is_covered(people.coverage_periods(conn, "M2"), "390", date(2027, 6, 30))
        entry = audit.last_accepted(conn, "M1", "coverage.migrate")
    assert "雇主登记 2026-11" in str(entry.detail)
    overlapping = _cli(url, bad)  # now M1's 2019 row overlaps the migrated period
    assert overlapping.returncode == 2 and "line 2:" in overlapping.stderr
    assert "already_covered" in overlapping.stderr
    db.dispose()
