"""The daily report adds up exactly even over rows whose sums pass 64 bits (a database written
before the amount bounds of docs/api.md §Limits); ``python -m settlement report`` does not fail."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from settlement.migrate import upgrade

BIG = 5 * 10**18  # two of these overflow a signed 64-bit sum


def test_report_sums_past_64_bits_on_sqlite(tmp_path):
    path = tmp_path / "legacy.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    with sqlite3.connect(path) as db:  # written directly, as a pre-bounds service could have
        db.execute(
            "INSERT INTO institution (code, name, kind, hospital_level, pin_service, region, created_at)"
            " VALUES ('HOLD', 'old', 'hospital', 3, 0, '430100', '2001-01-01 00:00:00.000000')"
        )
        for n in range(2):
            db.execute(
                "INSERT INTO settlement (setl_id, mdtrt_id, active_mdtrt_id, institution_code, terminal_id,"
                " psn_no, insutype, benefit_year, auth_method, medfee_sumamt, fulamt_ownpay_amt,"
                " preselfpay_amt, inscp_scp_amt, act_pay_dedc, fund_pay_sumamt, psn_part_amt, acct_pay,"
                " psn_cash_pay, balc, fee_count, policy_version, setl_time, setl_date, status)"
                " VALUES (?, ?, ?, 'HOLD', 'T', 'P', '310', 2001, 'card', ?, 0, 0, ?, 0, ?, ?, 0, ?, 0, 0,"
                " '2026.1', '2001-01-01 10:00:00.000000', '2001-01-01', 'settled')",
                (f"S{n}", f"M{n}", f"M{n}", BIG, BIG, BIG - 10**18, 10**18, 10**18),
            )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "settlement",
            "report",
            "--database-url",
            url,
            "--date",
            "2001-01-01",
            "--institution",
            "HOLD",
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert report["settlements"]["count"] == 2
    assert report["settlements"]["medfee_sumamt"] == 2 * BIG
    assert report["checks"]["fund_plus_person_equals_total"] is True
