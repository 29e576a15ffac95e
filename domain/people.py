"""Who a case is about and who acts on it. Everything here except `Actor` is personal data:
it travels only inside encrypted workflow payloads and encrypted read-model columns."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from domain.text import Line, RequiredLine, Text


class Role(StrEnum):
    SCHOOL = "school"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    FINANCE = "finance"
    SYSTEM = "system"


class Actor(BaseModel):
    """Who did something: a role and the non-personal name of their access key (e.g. `officer-jb`)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    name: str = Field(min_length=1, max_length=100)


SYSTEM_ACTOR = Actor(role=Role.SYSTEM, name="casework-timers")


class Child(BaseModel):
    given_name: RequiredLine = Field(min_length=1, max_length=100)
    family_name: RequiredLine = Field(min_length=1, max_length=100)
    date_of_birth: date
    upn: Line | None = Field(default=None, max_length=13, description="Unique pupil number")
    address: Text | None = Field(default=None, max_length=500)
    has_ehc_plan: bool = False


class Parent(BaseModel):
    name: RequiredLine = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: Line | None = Field(default=None, max_length=40)


class ProfessionalRole(StrEnum):
    CONSULTANT = "consultant"
    GP = "gp"
    CAMHS = "camhs"
    SCHOOL_NURSE = "school_nurse"
    OTHER = "other"


class HealthProfessional(BaseModel):
    """A professional the parent consented to us contacting. `id` is a short non-personal slug."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", examples=["consultant-1"])
    name: RequiredLine = Field(min_length=1, max_length=200)
    role: ProfessionalRole
    email: EmailStr | None = None
