"""Recoupment: what the LA charges a school, per school day, for education it arranges for the school's pupil.

The school pays back its per-pupil funding pro rata: a daily rate (annual per-pupil funding for the child's
key stage divided by the school days of that school year in the school's calendar, or by a fixed number a
council sets, rounded to the penny) times the school days of provision while the child is on that school's
roll. Money is `Decimal`, rounded half-up to pence; never float.
Parents are never charged. Pure and deterministic (safe inside a Temporal workflow).
"""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.school_calendar import SchoolCalendar, academic_year_of

PENNY = Decimal("0.01")


def to_pence(amount: Decimal) -> Decimal:
    """An amount of money rounded to the nearest penny, halves rounded up (away from zero)."""
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


class KeyStage(StrEnum):
    """The stage of schooling a child is in, which sets the per-pupil funding the school receives."""

    RECEPTION = "reception"
    KS1 = "ks1"
    KS2 = "ks2"
    KS3 = "ks3"
    KS4 = "ks4"
    KS5 = "ks5"


def key_stage_on(date_of_birth: date, on: date) -> KeyStage:
    """The child's key stage on a date, from their age on the 31 August that starts that academic year.

    England: aged 4 on that 31 August -> reception; 5-6 -> KS1 (years 1-2); 7-10 -> KS2 (years 3-6);
    11-13 -> KS3 (years 7-9); 14-15 -> KS4 (years 10-11); 16 or over -> KS5 (sixth form).
    A child under 4 on that date is not of school age here: ValueError.
    """
    cutoff = date(academic_year_of(on), 8, 31)
    age = (
        cutoff.year
        - date_of_birth.year
        - ((cutoff.month, cutoff.day) < (date_of_birth.month, date_of_birth.day))
    )
    if age < 4:
        raise ValueError(f"a child born {date_of_birth} is below reception age in the year of {on}")
    if age == 4:
        return KeyStage.RECEPTION
    if age <= 6:
        return KeyStage.KS1
    if age <= 10:
        return KeyStage.KS2
    if age <= 13:
        return KeyStage.KS3
    if age <= 15:
        return KeyStage.KS4
    return KeyStage.KS5


DEFAULT_ANNUAL_PER_PUPIL: dict[KeyStage, Decimal] = {
    # Illustrative age-weighted per-pupil funding (GBP a year); a council sets its own.
    KeyStage.RECEPTION: Decimal("4955.00"),
    KeyStage.KS1: Decimal("4955.00"),
    KeyStage.KS2: Decimal("4955.00"),
    KeyStage.KS3: Decimal("6985.00"),
    KeyStage.KS4: Decimal("7875.00"),
    KeyStage.KS5: Decimal("5345.00"),
}


class RecoupmentRates(BaseModel):
    """The council's recoupment settings: annual per-pupil funding by key stage and school days in a year."""

    model_config = ConfigDict(frozen=True)

    annual_per_pupil: dict[KeyStage, Decimal] = Field(default_factory=lambda: dict(DEFAULT_ANNUAL_PER_PUPIL))
    divisor: Literal["school_year", "fixed"] = Field(
        "school_year", description="What the annual amount is divided by for the daily rate: the school "
        "days of that school year in the school's calendar, or the fixed `school_days_per_year`")
    school_days_per_year: int = Field(190, gt=0, le=366)
    part_time_attendance: Literal["full_charge", "pro_rata"] = Field(
        "full_charge", description="A school day of a part-time timetable (the child back at school part of "
        "the week): charged in full, or reduced by the share of full-time hours the school teaches")

    @field_validator("annual_per_pupil")
    @classmethod
    def _every_key_stage_priced(cls, rates: dict[KeyStage, Decimal]) -> dict[KeyStage, Decimal]:
        missing = [ks.value for ks in KeyStage if ks not in rates]
        if missing:
            raise ValueError(f"no annual per-pupil amount for {', '.join(missing)}")
        negative = [ks.value for ks, amount in rates.items() if amount < 0]
        if negative:
            raise ValueError(f"annual per-pupil amount is negative for {', '.join(negative)}")
        return rates

    def daily_rate(self, ks: KeyStage, school_days_in_year: int | None = None) -> Decimal:
        """The charge for one school day, to the penny: annual per-pupil funding / the school days of
        the year (`school_days_in_year`, with divisor "school_year"), else / `school_days_per_year`."""
        days = school_days_in_year if self.divisor == "school_year" and school_days_in_year else None
        return to_pence(self.annual_per_pupil[ks] / (days or self.school_days_per_year))


class RecoupmentLine(BaseModel):
    """One charge to post to the finance ledger: a school pays for school days of provision in a period."""

    model_config = ConfigDict(frozen=True)

    case_ref: str
    school_urn: str
    period: str = Field(description='The term name, or "settlement" for the final charge at closure')
    from_date: date
    to_date: date
    school_days: int = Field(ge=0)
    key_stage: KeyStage
    amount: Decimal

    @property
    def idempotency_key(self) -> str:
        """The ledger key for this charge; posting the same line again (a retry) never charges twice."""
        return f"{self.case_ref}:{self.school_urn}:{self.period}:{self.from_date}:{self.to_date}"


class SchoolSpell(BaseModel):
    """A time the child is on a school's roll, so that school is charged; no `to_date`: still on roll."""

    model_config = ConfigDict(frozen=True)

    school_urn: str = Field(min_length=1)
    from_date: date
    to_date: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "SchoolSpell":
        if self.to_date is not None and self.to_date < self.from_date:
            raise ValueError(f"school spell at {self.school_urn} ends ({self.to_date}) before it starts")
        return self


def recoupment_lines(
    *,
    case_ref: str,
    spells: list[SchoolSpell],
    provision_from: date,
    provision_to: date,
    key_stage: KeyStage,
    rates: RecoupmentRates,
    calendar: SchoolCalendar,
    period: str,
    calendar_for: Callable[[str], SchoolCalendar] | None = None,
) -> list[RecoupmentLine]:
    """The charges for provision from `provision_from` to `provision_to` (inclusive), one per school spell.

    Each school pays the daily rate for every school day of provision that falls while the child is on its
    roll; a line's dates are the part of the provision inside that spell, its school days counted by that
    school's calendar (`calendar_for(urn)`, else `calendar`). Schools with no such school day
    get no line. Spells must not overlap (a day is charged to one school only). Lines are in date order.
    """
    if provision_to < provision_from:
        raise ValueError(f"provision ends ({provision_to}) before it starts ({provision_from})")
    ordered = sorted(spells, key=lambda s: s.from_date)
    for before, after in pairwise(ordered):
        if before.to_date is None or after.from_date <= before.to_date:
            raise ValueError(
                f"school spells overlap: {before.school_urn} from {before.from_date} and "
                f"{after.school_urn} from {after.from_date}"
            )
    lines: list[RecoupmentLine] = []
    default_calendar = calendar
    for spell in ordered:
        start = max(provision_from, spell.from_date)
        end = provision_to if spell.to_date is None else min(provision_to, spell.to_date)
        calendar = calendar_for(spell.school_urn) if calendar_for is not None else default_calendar
        for year_start, year_end in _by_school_year(start, end):
            days = calendar.school_days_between(year_start - timedelta(days=1), year_end)
            if days == 0:
                continue
            year = academic_year_of(year_start)
            in_year = len(calendar.school_days_in(date(year, 9, 1), date(year + 1, 8, 31)))
            lines.append(
                RecoupmentLine(
                    case_ref=case_ref,
                    school_urn=spell.school_urn,
                    period=period,
                    from_date=year_start,
                    to_date=year_end,
                    school_days=days,
                    key_stage=key_stage,
                    amount=rates.daily_rate(key_stage, in_year) * days,
                )
            )
    return lines


def _by_school_year(start: date, end: date) -> list[tuple[date, date]]:
    """`start`..`end` cut at each 31 August (each part inside one school year); empty if end < start."""
    parts: list[tuple[date, date]] = []
    while start <= end:
        year_end = min(end, date(academic_year_of(start) + 1, 8, 31))
        parts.append((start, year_end))
        start = year_end + timedelta(days=1)
    return parts
