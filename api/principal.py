"""The caller of a request, as their access key describes them."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.people import Actor, Role

#: The roles that work cases (caseworkers and their supervisors).
STAFF: tuple[Role, ...] = (Role.CASEWORKER, Role.SUPERVISOR)


@dataclass(frozen=True)
class Principal:
    """The caller: a name, a role and, for a school key, the schools it may see."""

    name: str
    role: Role
    school_urns: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> Actor:
        return Actor(role=self.role, name=self.name)

    @property
    def is_school(self) -> bool:
        return self.role is Role.SCHOOL

    def can_see_school(self, school_urn: str | None) -> bool:
        return not self.is_school or (school_urn is not None and school_urn in self.school_urns)
