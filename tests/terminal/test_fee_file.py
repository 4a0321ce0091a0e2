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


CHINESE = "项目编码,名称,数量,单价\nXJ01CAA040A001010101445,头孢呋辛钠注射剂,2,12.50\nC001,床位费,1.5,30\n"
CHINESE_LINES = [
    {
        "med_list_codg": "XJ01CAA040A001010101445",
        "med_list_name": "头孢呋辛钠注射剂",
        "cnt_decimal": "2",
        "pric_yuan": "12.50",
        "feedetl_sn": "1",
    },
    {
        "med_list_codg": "C001",
        "med_list_name": "床位费",
        "cnt_decimal": "1.5",
        "pric_yuan": "30",
        "feedetl_sn": "2",
    },
]


@pytest.mark.parametrize(
    "encoded",
    [
        CHINESE.encode("utf-8"),
        b"\xef\xbb\xbf" + CHINESE.encode("utf-8"),  # Excel's "CSV UTF-8"
        CHINESE.encode("gb18030"),  # Excel's default on Chinese Windows
        CHINESE.replace("\n", "\r\n").encode("gbk"),
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "gbk-crlf"],
)
def test_chinese_headers_yuan_with_decimals_in_every_encoding(tmp_path, encoded):
    path = tmp_path / "fees.csv"
    path.write_bytes(encoded)
    assert read_fee_lines(str(path)) == CHINESE_LINES


def test_every_bad_row_is_named_by_its_line(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text(
        "序号,项目编码,数量,单价\n1,A,2,12.50\n2,B,x,1\n3,C,1,1.1234567\n\n5,D,1,3\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as caught:
        read_fee_lines(str(path))
    message = str(caught.value)
    assert "line 3: cnt_decimal 'x' is not a number" in message
    assert "line 4: pric_yuan 1.1234567 has more than 6 decimals" in message
    assert "line 2" not in message and "line 6" not in message


def test_whole_fen_column_refuses_a_decimal_with_the_way_out(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text("feedetl_sn,med_list_codg,cnt,pric\n1,A,1,12.50\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 2: pric '12.50' must be whole .*pric_yuan"):
        read_fee_lines(str(path))


def test_the_format_is_in_the_help(capsys):
    from terminal import cli, i18n

    try:
        with pytest.raises(SystemExit):
            cli.main(["--lang", "zh_CN", "fees", "--help"])
        shown = capsys.readouterr().out
        assert "项目编码 / 医保目录编码" in shown and "单价（元），如 12.50" in shown
        with pytest.raises(SystemExit):
            cli.main(["--lang", "en", "fees", "--help"])
        assert "unit price in yuan, e.g. 12.50" in capsys.readouterr().out
    finally:
        i18n.use("en")


def test_a_gb18030_file_with_chinese_headers_through_the_service(world, tmp_path):
    import json as _json

    from tests.terminal.test_cli_e2e import last_json, terminal

    patient = world.patient()
    admitted = terminal(
        world,
        world.hospital,
        str(patient.image),
        "admit",
        "--dept",
        "内科",
        "--diagnosis",
        "肺炎",
        stdin="123456\n",
    )
    assert admitted.returncode == 0, admitted.stderr
    mdtrt_id = last_json(admitted)["mdtrt_id"]
    path = tmp_path / "fees.csv"
    path.write_bytes(
        "序号,项目编码,名称,类别,数量,单价（元）\n1,A001,床位费,A,2,12.50\n"
        "2,C001,陪护费,C,1.5,30\n".encode("gb18030")
    )
    uploaded = terminal(world, world.hospital, None, "fees", mdtrt_id, str(path))
    assert uploaded.returncode == 0, uploaded.stderr
    answer = last_json(uploaded)
    assert answer["accepted"] == 2 and answer["medfee_sumamt"] == 7000, _json.dumps(answer)
