"""The settlement policy: deductibles, fund ratios, annual ceilings, class-B share.

settlement.md, "The bill and its split": the figures live in a versioned policy file
(``settlement/policy/policy-<version>.toml``) and each settlement records the version it was
computed with.  Money is integer fen; shares and ratios are integer basis points
(10000 bp = 100 %), so no float ever touches money.

A published file is never edited: a new policy is a new file with a higher version, and
:func:`policy_by_version` still finds the old one for reversals and audits.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

INSUTYPES: tuple[str, ...] = ("310", "390")
"""Insurance types: 310 employee basic medical (职工医保), 390 resident basic medical (居民医保)."""

HOSPITAL_LEVELS: tuple[int, ...] = (1, 2, 3)
"""Hospital levels (一级 / 二级 / 三级)."""

BASIS_POINTS = 10_000
"""100 % in basis points."""

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
"""Where the packaged policy files live (``settlement/policy/``)."""

_FILE_NAME = re.compile(r"^policy-(\d+(?:\.\d+)*)\.toml$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")


class PolicyError(ValueError):
    """A policy file is missing, unreadable or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class Policy:
    """One version of the settlement policy (all money in fen, all shares in basis points).

    ``deductible_fen[insutype][level]`` — 起付线 per insurance scheme (``insutype`` '310'/'390')
    and hospital level;
    ``fund_ratio_bp[insutype][level]`` — share of the in-scope amount above the deductible the
    fund pays (统筹基金支付比例); ``annual_ceiling_fen[insutype]`` — most the fund pays for one
    person in one year (年度最高支付限额); ``class_b_preselfpay_bp`` — 乙类 先行自付 share;
    ``second_admission_deductible_bp`` — share of the deductible a second or later admission
    in the same year pays (half by default).
    """

    version: str
    deductible_fen: Mapping[str, Mapping[int, int]]
    fund_ratio_bp: Mapping[str, Mapping[int, int]]
    annual_ceiling_fen: Mapping[str, int]
    class_b_preselfpay_bp: int = 1_000
    second_admission_deductible_bp: int = 5_000
    effective_from: date | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Freeze the nested mappings too, so a Policy can be shared between threads safely.
        object.__setattr__(
            self,
            "deductible_fen",
            MappingProxyType(
                {s: MappingProxyType(dict(v)) for s, v in self.deductible_fen.items()}
            ),
        )
        object.__setattr__(
            self,
            "fund_ratio_bp",
            MappingProxyType({s: MappingProxyType(dict(v)) for s, v in self.fund_ratio_bp.items()}),
        )
        object.__setattr__(
            self, "annual_ceiling_fen", MappingProxyType(dict(self.annual_ceiling_fen))
        )
        _validate(self)

    def deductible_for(self, insutype: str, hospital_level: int) -> int:
        """The full (first-admission) deductible in fen for ``insutype`` at ``hospital_level``."""
        return self.deductible_fen[_insutype(insutype)][_level(hospital_level)]

    def ratio_bp_for(self, insutype: str, hospital_level: int) -> int:
        """The fund ratio in basis points for ``insutype`` at ``hospital_level``."""
        return self.fund_ratio_bp[_insutype(insutype)][_level(hospital_level)]

    def ceiling_for(self, insutype: str) -> int:
        """The annual fund ceiling in fen for ``insutype``."""
        return self.annual_ceiling_fen[_insutype(insutype)]


def _insutype(insutype: str) -> str:
    if insutype not in INSUTYPES:
        raise PolicyError(
            f"unknown insurance scheme (insutype) {insutype!r}; expected one of {INSUTYPES}"
        )
    return insutype


def _level(level: int) -> int:
    if isinstance(level, bool) or level not in HOSPITAL_LEVELS:
        raise PolicyError(f"unknown hospital level {level!r}; expected one of {HOSPITAL_LEVELS}")
    return level


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(policy: Policy) -> None:
    where = f" in {policy.source}" if policy.source else ""
    if not isinstance(policy.version, str) or not _VERSION.match(policy.version):
        raise PolicyError(
            f"policy version {policy.version!r}{where} must look like '2026.1' (digits and dots)"
        )
    for name, table, low, high in (
        ("deductible_fen", policy.deductible_fen, 0, None),
        ("fund_ratio_bp", policy.fund_ratio_bp, 0, BASIS_POINTS),
    ):
        if set(table) != set(INSUTYPES):
            raise PolicyError(f"{name}{where} must cover exactly the schemes {INSUTYPES}")
        for insutype, by_level in table.items():
            if set(by_level) != set(HOSPITAL_LEVELS):
                raise PolicyError(
                    f"{name}[{insutype}]{where} must cover exactly the hospital levels "
                    f"{HOSPITAL_LEVELS}, got {sorted(by_level)}"
                )
            for level, value in by_level.items():
                if not _is_int(value) or value < low or (high is not None and value > high):
                    bound = f"{low}..{high}" if high is not None else f">= {low}"
                    raise PolicyError(
                        f"{name}[{insutype}][{level}]{where} must be an integer {bound}, got {value!r}"
                    )
    if set(policy.annual_ceiling_fen) != set(INSUTYPES):
        raise PolicyError(f"annual_ceiling_fen{where} must cover exactly the schemes {INSUTYPES}")
    for insutype, value in policy.annual_ceiling_fen.items():
        if not _is_int(value) or value < 0:
            raise PolicyError(
                f"annual_ceiling_fen[{insutype}]{where} must be a non-negative integer (fen), "
                f"got {value!r}"
            )
    for name in ("class_b_preselfpay_bp", "second_admission_deductible_bp"):
        value = getattr(policy, name)
        if not _is_int(value) or not 0 <= value <= BASIS_POINTS:
            raise PolicyError(
                f"{name}{where} must be an integer 0..{BASIS_POINTS} (basis points), got {value!r}"
            )
    if policy.effective_from is not None and not isinstance(policy.effective_from, date):
        raise PolicyError(f"effective_from{where} must be a TOML date, e.g. 2026-01-01")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def policy_from_mapping(data: Mapping[str, object], source: str = "") -> Policy:
    """Build a :class:`Policy` from the parsed TOML layout of a policy file.

    Layout: top-level ``version``, ``effective_from`` (date, optional),
    ``class_b_preselfpay_bp``, ``second_admission_deductible_bp``, and one table
    ``[scheme."310"]`` / ``[scheme."390"]`` each with ``annual_ceiling_fen``,
    ``deductible_fen = {"1" = .., "2" = .., "3" = ..}`` and ``fund_ratio_bp`` likewise.
    """
    where = f" in {source}" if source else ""
    known = {
        "version",
        "effective_from",
        "class_b_preselfpay_bp",
        "second_admission_deductible_bp",
        "scheme",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(f"unknown keys{where}: {unknown}; allowed: {sorted(known)}")
    for required in known - {"effective_from"}:
        if required not in data:
            raise PolicyError(f"missing key {required!r}{where}")
    schemes = data["scheme"]
    if not isinstance(schemes, Mapping):
        raise PolicyError(f'\'scheme\'{where} must be a table of [scheme."310"] / [scheme."390"]')
    deductible: dict[str, dict[int, int]] = {}
    ratio: dict[str, dict[int, int]] = {}
    ceiling: dict[str, int] = {}
    for insutype, table in schemes.items():
        if not isinstance(table, Mapping):
            raise PolicyError(f"scheme.{insutype}{where} must be a table")
        for key in ("annual_ceiling_fen", "deductible_fen", "fund_ratio_bp"):
            if key not in table:
                raise PolicyError(f"missing key scheme.{insutype}.{key}{where}")
        extra = sorted(set(table) - {"annual_ceiling_fen", "deductible_fen", "fund_ratio_bp"})
        if extra:
            raise PolicyError(f"unknown keys in scheme.{insutype}{where}: {extra}")
        ceiling[insutype] = table["annual_ceiling_fen"]
        for key, target in (("deductible_fen", deductible), ("fund_ratio_bp", ratio)):
            by_level = table[key]
            if not isinstance(by_level, Mapping):
                raise PolicyError(f"scheme.{insutype}.{key}{where} must be a table by level")
            converted: dict[int, int] = {}
            for level, value in by_level.items():
                if not (isinstance(level, str) and level.isdigit()):
                    raise PolicyError(
                        f'scheme.{insutype}.{key}{where}: level keys must be "1", "2", "3"'
                    )
                converted[int(level)] = value
            target[insutype] = converted
    return Policy(
        version=data["version"],  # type: ignore[arg-type]
        deductible_fen=deductible,
        fund_ratio_bp=ratio,
        annual_ceiling_fen=ceiling,
        class_b_preselfpay_bp=data["class_b_preselfpay_bp"],  # type: ignore[arg-type]
        second_admission_deductible_bp=data["second_admission_deductible_bp"],  # type: ignore[arg-type]
        effective_from=data.get("effective_from"),  # type: ignore[arg-type]
        source=source,
    )


def _packaged_files() -> dict[str, Path]:
    """Packaged policy files by version, from their file names."""
    found: dict[str, Path] = {}
    if POLICY_DIR.is_dir():
        for path in POLICY_DIR.iterdir():
            match = _FILE_NAME.match(path.name)
            if match:
                found[match.group(1)] = path
    return found


def available_versions() -> list[str]:
    """Versions of the packaged policy files, oldest first."""
    return sorted(_packaged_files(), key=_version_key)


@lru_cache(maxsize=32)
def _load_file(path: Path) -> Policy:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"policy file {path} is not valid TOML: {error}") from None
    policy = policy_from_mapping(data, source=str(path))
    match = _FILE_NAME.match(path.name)
    if match and match.group(1) != policy.version:
        raise PolicyError(
            f"policy file {path} declares version {policy.version!r} but its name says "
            f"{match.group(1)!r}; rename the file or fix the version"
        )
    return policy


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file; without ``path``, the newest packaged version.

    Raises :class:`PolicyError` with a message naming the file and the bad key.  Files are
    cached by path (a published policy file never changes; a new policy is a new file).
    """
    if path is None:
        versions = available_versions()
        if not versions:
            raise PolicyError(f"no policy files (policy-<version>.toml) found in {POLICY_DIR}")
        return _load_file(_packaged_files()[versions[-1]])
    return _load_file(Path(path).resolve())


def policy_in_force(on: date) -> Policy:
    """The newest packaged policy whose ``effective_from`` is on or before ``on``.

    A file without ``effective_from`` counts as in force from the beginning of time.
    """
    in_force = [
        policy
        for policy in (policy_by_version(v) for v in available_versions())
        if policy.effective_from is None or policy.effective_from <= on
    ]
    if not in_force:
        raise PolicyError(f"no packaged policy is in force on {on.isoformat()}")
    return in_force[-1]


def policy_by_version(version: str) -> Policy:
    """The packaged policy with exactly this ``version`` (e.g. the one a settlement recorded)."""
    files = _packaged_files()
    if version not in files:
        raise PolicyError(
            f"no packaged policy with version {version!r}; available: {available_versions()}"
        )
    return _load_file(files[version])
