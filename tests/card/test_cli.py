"""``python -m card``: new, show, apdu, demo; bad arguments never give a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from card.cli import main
from card.image import CardImage

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "card", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_new_show_apdu_roundtrip(tmp_path: Path, keystore_path: Path, capsys) -> None:
    image = tmp_path / "card.json"
    assert (
        main(
            [
                "new",
                str(image),
                "--keystore",
                str(keystore_path),
                "--algorithm",
                "3des",
                "--name",
                "王小明",
                "--card-number",
                "X00000019",
                "--region",
                "371700",
                "--ssn",
                "371700199001011234",
                "--bank",
                "105",
                "--ssse-pin",
                "246810",
            ]
        )
        == 0
    )
    card = CardImage.load(image)
    assert card.name == "王小明" and card.card_number == "X00000019" and card.region == "371700"
    assert card.pan.startswith("621700") and card.algorithm.value == "3des"
    capsys.readouterr()
    assert main(["show", str(image), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["card number"] == "X00000019" and shown["SSSE PIN tries left"] == "3/3"
    text = image.read_text()
    for secret in ("246810", "123456"):
        assert secret not in json.dumps(shown) and secret not in text
    for key in card.ssse_keys.values():
        assert key.hex() not in json.dumps(shown).lower()
    assert main(["show", str(image)]) == 0  # the rich table
    assert "X00000019" in capsys.readouterr().out
    # apdu: one line per response, state persists, reset as a word
    assert (
        main(
            [
                "apdu",
                str(image),
                "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00",
                "0020000003111111",
                "reset",
                "00200000",
                "00B2072C00",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    # card.md §What real cards do: the SSSE FCI is 30 bytes (6F 1C ...)
    assert lines[0].endswith(" 9000") and lines[0].startswith("6F1C")
    assert lines[1] == "63C2"
    assert lines[2].startswith("reset ATR 3B6D0000")
    assert lines[3] == "63C2"  # the counter persisted; the session (and the SSSE) was reset
    assert lines[4] == "6A82"  # SFI 05 lives in the SSSE, which the reset deselected
    assert CardImage.load(image).ssse_pin_tries_left == 2


def test_blank_card(tmp_path: Path, keystore_path: Path) -> None:
    image = tmp_path / "blank.json"
    assert (
        main(
            [
                "new",
                str(image),
                "--blank",
                "--keystore",
                str(keystore_path),
                "--card-factor",
                "0102030405060708",
            ]
        )
        == 0
    )
    card = CardImage.load(image)
    assert card.card_number is None and card.emv_lifecycle == "blank"
    assert card.card_factor == bytes.fromhex("0102030405060708")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["new"],
        ["new", "{tmp}/x.json", "--algorithm", "rsa"],
        ["new", "{tmp}/x.json", "--birth-date", "1990-13-01"],
        ["new", "{tmp}/x.json", "--ssn", "123", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--name", "Ünïcødé☃", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--bank", "999", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--card-factor", "0102", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--card-number", "TOO-LONG-NUMBER", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--region", "12345", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--region", "abcdef", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--region", "4301001", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--blank", "--region", "43010", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--name", "", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--name", "𠀀", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--name", "张" * 26, "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--latin-name", "Zhāng", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--latin-name", "A" * 27, "--keystore", "{tmp}/ks.json"],
        [
            "new",
            "{tmp}/x.json",
            "--issue-date",
            "2030-01-01",
            "--expiry-date",
            "2020-01-01",
            "--keystore",
            "{tmp}/ks.json",
        ],
        [
            "new",
            "{tmp}/x.json",
            "--issue-date",
            "2024-01-01",
            "--expiry-date",
            "2024-01-01",
            "--keystore",
            "{tmp}/ks.json",
        ],
        ["new", "{tmp}/x.json", "--issue-date", "0001-01-01", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--issue-date", "9999-12-31", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--expiry-date", "2060-01-01", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--birth-date", "0999-01-01", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--issue-date", "yesterday"],
        ["new", "{tmp}/x.json", "--nation", "1", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--birthplace", "12345", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--pan", "12", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--pan-sequence", "100", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--pan-sequence", "x"],
        ["new", "{tmp}/x.json", "--ssse-pin", "12", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--bank-pin", "12ab56", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--psn-no", "中文", "--keystore", "{tmp}/ks.json"],
        ["new", "{tmp}/x.json", "--card-factor", "123"],
        ["new", "{tmp}/x.json", "--keystore", "{tmp}/list.json"],
        ["new", "{tmp}/x.json", "--keystore", "{tmp}"],
        ["new", "{tmp}/x.json", "--keystore", "{tmp}/garbage.json/ks.json"],
        ["new", "{tmp}/garbage.json/x.json", "--keystore", "{tmp}/ks.json"],
        ["show", "{tmp}/missing.json"],
        ["show", "{tmp}/list.json"],
        ["show", "{tmp}/binary.json"],
        ["show", "{tmp}"],
        ["show", "{tmp}/garbage.json"],
        ["apdu", "{tmp}/missing.json", "00A40000"],
        ["apdu", "{tmp}/garbage.json", "zz"],
        ["apdu", "{tmp}/garbage.json", "00"],
        ["apdu", "{tmp}/garbage.json", "00A4000"],
        ["apdu", "{tmp}/garbage.json", "00A4 0000 0"],
        ["apdu", "{tmp}/garbage.json"],
        ["apdu", "{tmp}/garbage.json", "00A40000"],
        ["apdu", "{tmp}/list.json", "00A40000"],
        ["apdu", "{tmp}", "00A40000"],
        ["show", "{tmp}/missing.json", "--bogus"],
    ],
)
def test_bad_arguments_clear_message_no_traceback(tmp_path: Path, capsys, args: list[str]) -> None:
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(argv))
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_module_entry_point_and_demo() -> None:
    result = run("demo", "--algorithm", "3des")
    assert result.returncode == 0, result.stderr
    assert "issuer recomputes ARQC: match" in result.stdout
    assert "settlement recomputes: match" in result.stdout
    bad = run("show")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "usage" in bad.stderr


@pytest.fixture
def immutable_dir(tmp_path: Path):
    """A directory nobody (not even root) can write: ``chattr +i``; skipped where unsupported."""
    import shutil

    directory = tmp_path / "ro"
    directory.mkdir()
    yield directory
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(directory)], check=False, capture_output=True)


def _make_immutable(directory: Path) -> None:
    import shutil

    if not shutil.which("chattr"):
        pytest.skip("no chattr")
    done = subprocess.run(["chattr", "+i", str(directory)], check=False, capture_output=True)
    probe = directory / "probe"
    try:
        probe.write_text("x")
    except OSError:
        return
    probe.unlink()
    pytest.skip(f"cannot make a read-only directory here: {done.stderr!r}")


def test_read_only_image_is_an_error_not_a_traceback(
    immutable_dir: Path, keystore_path: Path
) -> None:
    image = immutable_dir / "card.json"
    made = run("new", str(image), "--keystore", str(keystore_path))
    assert made.returncode == 0, made.stderr
    _make_immutable(immutable_dir)
    before = image.read_bytes()
    # reading works on a read-only image
    read = run("apdu", str(image), "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", "00B2072C00")
    assert read.returncode == 0 and read.stdout.splitlines()[1].endswith("9000"), read.stderr
    # a VERIFY must persist its try first: it cannot, so it fails, with a message
    verify = run(
        "apdu",
        str(image),
        "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00",
        "0020000003123456",
        "00B2072C00",
    )
    assert verify.returncode == 1
    assert verify.stdout.splitlines()[1] == "6985"  # never 9000 for an unsaved try
    assert len(verify.stdout.splitlines()) == 2  # stopped there
    assert "cannot write card image" in verify.stderr and "Traceback" not in verify.stderr
    assert image.read_bytes() == before
    new = run("new", str(immutable_dir / "other.json"), "--keystore", str(keystore_path))
    assert new.returncode == 1 and "Traceback" not in new.stderr
    assert "cannot write card image" in new.stderr
    assert sorted(p.name for p in immutable_dir.iterdir()) == ["card.json"]


def test_image_path_that_is_a_directory(tmp_path: Path, keystore_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    result = run("new", str(target), "--force", "--keystore", str(keystore_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is a directory" in result.stderr
    assert not list(tmp_path.glob(".*.tmp"))
    for sub in ("show", "apdu"):
        extra = ["00A40000"] if sub == "apdu" else []
        result = run(sub, str(target), *extra)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "cannot read card image" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--region", "12345"], "region code is 6 digits"),
        (["--issue-date", "2030-01-01", "--expiry-date", "2020-01-01"], "not after the issue"),
        (["--issue-date", "0001-01-01"], "issue date 0001-01-01 is outside"),
        (["--issue-date", "9999-12-31"], "is not a date"),
        (["--latin-name", "A" * 27], "at most 26"),
        (["--name", " "], "--name is empty"),
    ],
)
def test_bad_new_arguments_say_what_is_wrong(
    tmp_path: Path, keystore_path: Path, capsys, args: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(
            main(["new", str(tmp_path / "x.json"), "--keystore", str(keystore_path), *args])
        )
    assert exit_info.value.code in (1, 2)
    assert words in capsys.readouterr().err


def test_expired_card_defaults_its_issue_date_ten_years_earlier(
    tmp_path: Path, keystore_path: Path
) -> None:
    image = tmp_path / "old.json"
    assert (
        main(["new", str(image), "--keystore", str(keystore_path), "--expiry-date", "2025-01-01"])
        == 0
    )
    card = CardImage.load(image)
    assert (str(card.issue_date), str(card.expiry)) == ("2015-01-01", "2025-01-01")


@pytest.mark.parametrize("blank", [False, True], ids=["personalised", "blank"])
def test_show_table_never_prints_a_pin_or_key(
    tmp_path: Path, keystore_path: Path, capsys, blank: bool
) -> None:
    image = tmp_path / "card.json"
    extra = ["--blank"] if blank else ["--bank-pin", "864215"]
    assert (
        main(["new", str(image), "--keystore", str(keystore_path), "--ssse-pin", "731904", *extra])
        == 0
    )
    capsys.readouterr()
    assert main(["show", str(image)]) == 0
    table = capsys.readouterr().out
    assert main(["show", str(image), "--json"]) == 0
    as_json = capsys.readouterr().out
    card = CardImage.load(image)
    secrets = [*card.ssse_keys.values(), *card.emv_keys.values()]
    secrets += [p.digest for p in (card.ssse_pin, card.bank_pin) if p.digest]
    secrets += [p.salt for p in (card.ssse_pin, card.bank_pin) if p.salt]
    for out in (table, as_json):
        flat = out.replace("\n", "").replace(" ", "").replace("│", "").upper()
        for secret in secrets:
            assert secret.hex().upper()[:12] not in flat
        assert "731904" not in out and "864215" not in out
        assert "tries left" in out and "ATC" in out
