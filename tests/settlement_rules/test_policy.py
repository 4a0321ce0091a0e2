"""The versioned policy file: defaults of settlement.md, selection by version, validation."""

from dataclasses import FrozenInstanceError
from datetime import date
from pathlib import Path

import pytest

import settlement.rules.policy as policy_module
from settlement.rules import Policy, PolicyError, load_policy, policy_by_version
from settlement.rules.policy import POLICY_DIR, available_versions

PACKAGED = POLICY_DIR / "policy-2026.1.toml"


def test_packaged_defaults_are_the_spec_defaults():
    p = load_policy()
    assert p.version == "2026.1" and p.effective_from == date(2026, 1, 1)
    for scheme in ("310", "390"):  # 200 / 500 / 800 yuan, residents the same
        assert [p.deductible_for(scheme, lvl) for lvl in (1, 2, 3)] == [20_000, 50_000, 80_000]
    assert [p.ratio_bp_for("310", lvl) for lvl in (1, 2, 3)] == [9_000, 8_500, 8_000]
    assert [p.ratio_bp_for("390", lvl) for lvl in (1, 2, 3)] == [8_000, 7_000, 6_000]
    assert p.ceiling_for("310") == 300_000 * 100
    assert p.ceiling_for("390") == 150_000 * 100
    assert p.class_b_preselfpay_bp == 1_000
    assert p.second_admission_deductible_bp == 5_000


def test_policy_by_version_and_default_are_the_same_object():
    assert policy_by_version("2026.1") is load_policy() is load_policy(PACKAGED)
    assert "2026.1" in available_versions()


def test_unknown_version_is_a_clear_error():
    with pytest.raises(PolicyError, match=r"no packaged policy with version '1999.9'.*2026.1"):
        policy_by_version("1999.9")


def test_policy_is_immutable():
    p = load_policy()
    with pytest.raises(FrozenInstanceError):
        p.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.deductible_fen["310"][1] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        p.annual_ceiling_fen["310"] = 0  # type: ignore[index]


def test_unknown_scheme_or_level_raise_policy_error():
    p = load_policy()
    with pytest.raises(PolicyError, match="scheme"):
        p.deductible_for("320", 1)
    with pytest.raises(PolicyError, match="hospital level"):
        p.ratio_bp_for("310", 0)


def _write(tmp_path: Path, text: str, name: str = "policy-2030.1.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _packaged_text(**replacements: str) -> str:
    text = PACKAGED.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_newest_packaged_file_is_the_default(tmp_path, monkeypatch):
    for version in ("2026.1", "2026.2", "2026.10"):
        _write(tmp_path, _packaged_text(**{'version = "2026.1"': f'version = "{version}"'}),
               f"policy-{version}.toml")  # fmt: skip
    (tmp_path / "notes.toml").write_text("ignored = true")
    monkeypatch.setattr(policy_module, "POLICY_DIR", tmp_path)
    assert available_versions() == ["2026.1", "2026.2", "2026.10"]
    assert load_policy().version == "2026.10"  # numeric, not string, order
    assert policy_by_version("2026.2").version == "2026.2"


def test_no_packaged_files(tmp_path, monkeypatch):
    monkeypatch.setattr(policy_module, "POLICY_DIR", tmp_path)
    with pytest.raises(PolicyError, match="no policy files"):
        load_policy()


def test_a_valid_custom_file_loads(tmp_path):
    path = _write(
        tmp_path,
        _packaged_text(
            **{
                'version = "2026.1"': 'version = "2030.1"',
                "class_b_preselfpay_bp = 1000": "class_b_preselfpay_bp = 1500",
            }
        ),
    )
    p = load_policy(str(path))
    assert (p.version, p.class_b_preselfpay_bp) == ("2030.1", 1_500)
    assert p.source == str(path.resolve())


@pytest.mark.parametrize(
    ("replacements", "message"),
    [
        ({'version = "2030.1"': 'version = "2030.1"\nversion = "x"'}, "not valid TOML"),
        ({'version = "2030.1"': 'version = "latest"'}, "must look like '2026.1'"),
        ({'version = "2030.1"': 'version = "2030.2"'}, "declares version '2030.2' but its name"),
        ({'version = "2030.1"\n': ""}, "missing key 'version'"),
        ({"class_b_preselfpay_bp = 1000": "class_b_preselfpay_bp = 0.1"}, "class_b_preselfpay_bp"),
        ({"class_b_preselfpay_bp = 1000": "class_b_preselfpay_bp = 10001"}, "0..10000"),
        (
            {"second_admission_deductible_bp = 5000": "second_admission_deductible_bp = -1"},
            "second_admission_deductible_bp",
        ),
        ({'"1" = 9_000': '"1" = 10_001'}, r"fund_ratio_bp\[310\]\[1\]"),
        ({'"1" = 9_000': '"1" = 0.9'}, r"fund_ratio_bp\[310\]\[1\]"),
        ({'"1" = 9_000': '"1" = true'}, r"fund_ratio_bp\[310\]\[1\]"),
        ({'"1" = 9_000, ': ""}, "must cover exactly the hospital levels"),
        ({'"1" = 9_000': '"one" = 9_000'}, 'level keys must be "1"'),
        (
            {"annual_ceiling_fen = 30_000_000": "annual_ceiling_fen = -1"},
            r"annual_ceiling_fen\[310\]",
        ),
        (
            {"annual_ceiling_fen = 30_000_000": "annual_ceiling_fen = 300000.00"},
            r"annual_ceiling_fen\[310\]",
        ),
        (
            {"annual_ceiling_fen = 30_000_000": "# gone"},
            "missing key scheme.310.annual_ceiling_fen",
        ),
        ({'[scheme."390"]': '[scheme."391"]'}, "must cover exactly the schemes"),
        (
            {"effective_from = 2026-01-01": "effective_from = 2026-01-01\nceiling = 1"},
            "unknown keys",
        ),
        ({"effective_from = 2026-01-01": 'effective_from = "soon"'}, "effective_from"),
        ({'[scheme."310"]': '[scheme."310"]\nratio = 1'}, "unknown keys in scheme.310"),
    ],
)
def test_invalid_files_raise_a_clear_policy_error(tmp_path, replacements, message):
    path = _write(tmp_path, _packaged_text(**{'version = "2026.1"': 'version = "2030.1"'}))
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as caught:
        load_policy(path)
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "policy-9.toml")


def test_policy_built_in_code_is_validated_too():
    with pytest.raises(PolicyError, match="fund_ratio_bp"):
        Policy(
            version="1.0",
            deductible_fen={s: {1: 0, 2: 0, 3: 0} for s in ("310", "390")},
            fund_ratio_bp={s: {1: 0, 2: 0, 3: 20_000} for s in ("310", "390")},
            annual_ceiling_fen={"310": 1, "390": 1},
        )


def test_policy_in_force_by_effective_date(tmp_path, monkeypatch):
    from settlement.rules.policy import policy_in_force

    for version, start in (("2026.1", "2026-01-01"), ("2027.1", "2027-01-01")):
        text = _packaged_text(
            **{
                'version = "2026.1"': f'version = "{version}"',
                "effective_from = 2026-01-01": f"effective_from = {start}",
            }
        )
        _write(tmp_path, text, f"policy-{version}.toml")
    monkeypatch.setattr(policy_module, "POLICY_DIR", tmp_path)
    assert policy_in_force(date(2026, 12, 31)).version == "2026.1"
    assert policy_in_force(date(2027, 1, 1)).version == "2027.1"
    with pytest.raises(PolicyError, match="no packaged policy is in force on 2025-12-31"):
        policy_in_force(date(2025, 12, 31))
