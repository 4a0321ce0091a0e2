"""Request bodies of the card-production API (docs/api.md §Card production)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from settlement.rules.citizen_id import birth_date_of, is_valid_ssn, sex_of
from settlement.schemas import Day, Instant, check_names

#: Partner banks (card.keystore.DEFAULT_BANKS).
BankCode = Literal["102", "103", "104", "105", "301"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _names(self) -> _Body:
        return check_names(self)


class ApplicationIn(_Body):
    """One applicant's data as handed in (photo taken on site, issuance.md)."""

    certno: str = Field(min_length=18, max_length=18, description="citizen ID number = SSN")
    psn_name: str = Field(min_length=1, max_length=25)
    gend: Literal["1", "2"]
    brdy: Day
    naty: str = Field(default="01", pattern=r"^\d{2}$", description="ethnic group code")
    birthplace: str = Field(pattern=r"^\d{6}$")
    psn_cert_type: Literal["id_card", "household_register"] = "id_card"
    hukou_no: str | None = Field(default=None, max_length=32)
    photo_taken: bool = False
    insutype: Literal["310", "390"] = "310"
    region: str = Field(default="430100", pattern=r"^\d{6}$")
    bank_code: BankCode = "102"
    query_password: str | None = Field(default=None, min_length=6, max_length=32)
    applied_at: Instant | None = Field(
        default=None,
        description="when a paper application was accepted (e.g. at a community office); "
        "default: now. The service target counts from this day.",
    )

    @field_validator("applied_at")
    @classmethod
    def _aware_applied(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("applied_at needs a UTC offset")
        return value

    @field_validator("psn_name")
    @classmethod
    def _gbk(cls, value: str) -> str:
        try:
            raw = value.encode("gbk")
        except UnicodeEncodeError:
            raise ValueError("the name must be writable in GBK (the card's encoding)") from None
        if len(raw) > 50:
            raise ValueError("the name is longer than 50 GBK bytes (EF06 name + extension)")
        return value


class BatchIn(_Body):
    """An employer's batch (单位批量申领)."""

    employer_code: str = Field(min_length=1, max_length=32)
    employer_name: str = Field(default="", max_length=200)
    applications: list[ApplicationIn] = Field(min_length=1, max_length=2000)
    applied_at: Instant | None = Field(
        default=None, description="when the employer handed the batch in (default: now)"
    )

    @field_validator("applied_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("applied_at needs a UTC offset")
        return value


class CorrectionIn(_Body):
    """Corrected fields of a returned application (only what changed)."""

    psn_name: str | None = Field(default=None, min_length=1, max_length=25)
    gend: Literal["1", "2"] | None = None
    brdy: Day | None = None
    naty: str | None = Field(default=None, pattern=r"^\d{2}$")
    birthplace: str | None = Field(default=None, pattern=r"^\d{6}$")
    psn_cert_type: Literal["id_card", "household_register"] | None = None
    hukou_no: str | None = Field(default=None, max_length=32)
    photo_taken: bool | None = None
    insutype: Literal["310", "390"] | None = None
    bank_code: BankCode | None = None
    note: str = Field(default="", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """A field is corrected by a value or left out; ``null`` is refused (422), never
        stored over the applicant's data."""
        if isinstance(data, dict):
            nulls = sorted(str(k) for k, v in data.items() if v is None)
            if nulls:
                raise ValueError(f"leave out a field that does not change; null for {nulls}")
        return data


class PreCheckIn(_Body):
    """Optionally the number of the card to make (from the centre's numbered card stock)."""

    card_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{9}$")


class RejectionIn(_Body):
    step: int = Field(ge=2, le=6)
    reason: str = Field(min_length=1, max_length=40)
    detail: str = Field(default="", max_length=500)


class PersonalisedIn(_Body):
    """The card centre's terminal wrote the card and read it back identically."""

    card_no: str = Field(min_length=1, max_length=16)
    card_id_code: str = Field(pattern=r"^[0-9A-Fa-f]{32}$")
    algorithm: Literal["3des", "sm4"]
    issue_date: Day
    expiry_date: Day
    read_back_matches: Literal[True] = Field(
        description="the terminal compared what it read back through a reader with the order"
    )


class AccountOpenedIn(_Body):
    pan: str = Field(pattern=r"^\d{16,19}$")
    read_back_matches: Literal[True]


class IssueIn(_Body):
    collected_by: str = Field(min_length=1, max_length=100)
    collected_at: Instant | None = None

    @field_validator("collected_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("collected_at needs a UTC offset")
        return value


class LossIn(_Body):
    card_no: str = Field(min_length=1, max_length=16)
    reason: str = Field(default="", max_length=200)


class ProgressQueryIn(_Body):
    certno: str = Field(min_length=18, max_length=18)
    query_password: str = Field(min_length=1, max_length=32)


class CitizenIn(_Body):
    """A citizen for the simulated police population register (card-production.md §The
    outside registers): what step 3 compares an application with."""

    certno: str = Field(min_length=18, max_length=18, description="citizen ID number")
    psn_name: str = Field(min_length=1, max_length=25)
    gend: Literal["1", "2"]
    brdy: Day
    naty: str = Field(default="01", pattern=r"^\d{2}$", description="ethnic group code")
    birthplace: str = Field(pattern=r"^\d{6}$")
    hukou_no: str = Field(default="", max_length=32, description="household register number")

    @field_validator("certno")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        value = value.upper()
        if not is_valid_ssn(value):
            raise ValueError("not a citizen ID number (GB 11643: 17 digits and a check character)")
        return value

    @model_validator(mode="after")
    def _agrees_with_id(self) -> CitizenIn:
        if birth_date_of(self.certno) != self.brdy:
            raise ValueError("brdy is not the birth date in the ID number")
        if sex_of(self.certno) != self.gend:
            raise ValueError("gend is not the sex in the ID number")
        return self
