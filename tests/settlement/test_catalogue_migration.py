"""Migration 0160 back-fills the fee lines stored before the catalogue (issue 14): exact
scaled values, the class from ``list_type`` and the per-line parts with the policy's 10 %
乙 share, so an open stay settles as the catalogue would have split it."""

import sqlite3

from settlement.migrate import upgrade

LINES = [
    # feedetl_sn, list_type, cnt, pric, det_item_fee_sumamt
    ("1", "A", 2, 1250, 2500),
    ("2", "B", 3, 5, 15),  # 10 % of 15 fen = 1.5 → 2 on this line
    ("3", "B", -1, 5, -5),  # a refund: −0.5 → −1 (half away from zero)
    ("4", "C", 1, 999, 999),
]


def test_existing_fee_lines_are_back_filled(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0151")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.executemany(
            "INSERT INTO fee_line (mdtrt_id, feedetl_sn, med_list_codg, med_list_name, list_type,"
            " cnt, pric, det_item_fee_sumamt, created_at) VALUES ('M1', ?, 'X', '', ?, ?, ?, ?,"
            " '2026-11-28 08:00:00')",
            LINES,
        )
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        rows = db.execute(
            "SELECT feedetl_sn, chrgitm_lv, cnt_e4, pric_e6, selfpay_prop_bp, overlmt_amt,"
            " fulamt_ownpay_amt, preselfpay_amt, inscp_scp_amt FROM fee_line ORDER BY feedetl_sn"
        ).fetchall()
        assert db.execute("SELECT overlmt_selfpay FROM settlement").fetchall() == []
    assert rows == [
        ("1", "01", 20_000, 12_500_000, 0, 0, 0, 0, 2500),
        ("2", "02", 30_000, 50_000, 1000, 0, 0, 2, 13),
        ("3", "02", -10_000, 50_000, 1000, 0, 0, -1, -4),
        ("4", "03", 10_000, 9_990_000, 10_000, 0, 999, 0, 0),
    ]
