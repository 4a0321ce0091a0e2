"""The desk's fee file (terminal/cli/desk.py read_fee_lines): CSV with whole cnt/pric, or the
exact decimal columns cnt_decimal / pric_yuan (docs/api.md §Fees)."""

import pytest

from terminal.cli.common import UsageError
from terminal.cli.desk import read_fee_lines


def test_csv_whole_and_decimal_columns(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text(
        "feedetl_sn,med_list_codg,cnt,pric,cnt_decimal,pric_yuan\n"
        "1,XJ01CAA040A001010101445,2,1250,,\n"
        "2,XB05BBA010B002010100265,,,0.5,3.335\n",
        encoding="utf-8",
    )
    assert read_fee_lines(str(path)) == [
        {"feedetl_sn": "1", "med_list_codg": "XJ01CAA040A001010101445", "cnt": 2, "pric": 1250},
        {
            "feedetl_sn": "2",
            "med_list_codg": "XB05BBA010B002010100265",
            "cnt_decimal": "0.5",
            "pric_yuan": "3.335",
        },
    ]


def test_csv_without_a_quantity_is_bad_usage(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text("feedetl_sn,med_list_codg,pric\n1,X,100\n", encoding="utf-8")
    with pytest.raises(UsageError, match="cnt_decimal"):
        read_fee_lines(str(path))
