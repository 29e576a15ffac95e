"""Education the LA arranges for a child: kinds, one provision line, and the full-time test."""

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.text import RequiredLine


class ProvisionKind(StrEnum):
    WORK_FROM_SCHOOL = "work_from_school"
    HOSPITAL_EDUCATION = "hospital_education"
    HOME_TUITION = "home_tuition"
    HOSPITAL_SCHOOL = "hospital_school"
    VIRTUAL_SCHOOL = "virtual_school"


class Provision(BaseModel):
    kind: ProvisionKind
    provider: RequiredLine = Field(min_length=1, max_length=200, examples=["Leicestershire Hospital School"])
    hours_per_week: Decimal = Field(gt=0, le=40, decimal_places=2)
    start_date: date
    weekly_cost: Decimal = Field(ge=0, le=100000, decimal_places=2)
    end_date: date | None = None


def total_hours(provisions: list[Provision], on: date) -> Decimal:
    """Weekly hours of the provision lines running on a date."""
    return sum(
        (p.hours_per_week for p in provisions if p.start_date <= on and (p.end_date is None or on <= p.end_date)),
        Decimal(0),
    )
