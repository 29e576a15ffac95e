"""Bearer-token access: who is calling, what role they have, which schools they may see.

Tokens are `cw_` + 43 URL-safe characters, shown once when created (`casework keys create`) and
stored only as their SHA-256 hash in `ApiKey`. A revoked key is refused like an unknown one.

- No token, a malformed or an unknown/revoked one: 401 with `WWW-Authenticate: Bearer`.
- A role the route does not allow: 403.
- A school key sees and acts on its own schools' cases only; another school's case answers 404,
  exactly as if it did not exist (a 403 would confirm that the case exists).

This module also holds the per-request access to the app's services (database, Temporal client,
keyring, documents), which every router shares.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from api.problems import ProblemError
from domain.case_commands import CASE_REF_PATTERN
from domain.people import Actor, Role
from readmodel.database import session_scope
from readmodel.tables import ApiKey, CaseRow

if TYPE_CHECKING:
    from api.app import Services

T = TypeVar("T")

TOKEN_PREFIX = "cw_"  # noqa: S105 - a prefix, not a secret
_TOKEN_RE = re.compile(r"^cw_[A-Za-z0-9_-]{20,100}$")
_URN_RE = re.compile(r"^\d{6}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")
_CASE_REF_RE = re.compile(CASE_REF_PATTERN)

#: Roles a key can have (`system` is the workflow's own timers, never a person with a key).
KEY_ROLES: tuple[Role, ...] = (Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR, Role.FINANCE)
STAFF: tuple[Role, ...] = (Role.CASEWORKER, Role.SUPERVISOR)


# -- services on the app ------------------------------------------------------------------------


def services(request: Request) -> Services:
    svc = getattr(request.app.state, "services", None)
    if svc is None:  # before the lifespan has run, or after shutdown
        raise ProblemError(
            503,
            "The service is starting or stopping; try again shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "5"},
        )
    return svc


def engine_of(request: Request) -> Engine:
    return services(request).engine


async def run_db(request: Request, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in one transaction, in a worker thread (the database driver blocks)."""
    engine = engine_of(request)

    def _unit() -> T:
        with session_scope(engine) as session:
            return work(session)

    return await run_in_threadpool(_unit)


# -- principals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The caller, as their access key describes them."""

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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _unauthorized(detail: str, *, invalid: bool) -> ProblemError:
    challenge = 'Bearer realm="casework"'
    if invalid:
        challenge += ', error="invalid_token"'
    return ProblemError(
        401, detail, slug="unauthorized", title="Not authenticated", headers={"WWW-Authenticate": challenge}
    )


_KEYS = ApiKey.__table__
_KEY_BY_HASH = sa_select(_KEYS.c.name, _KEYS.c.role, _KEYS.c.school_urns, _KEYS.c.revoked_at).where(
    _KEYS.c.token_hash == bindparam("token_hash")
)


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The principal of an active key with this token, or None (unknown, malformed or revoked)."""
    if not _TOKEN_RE.match(token):
        return None
    # A Core query (no ORM instance to build): this runs before every request.
    row = session.connection().execute(_KEY_BY_HASH, {"token_hash": hash_token(token)}).first()
    if row is None or row.revoked_at is not None:
        return None
    try:
        role = Role(row.role)
    except ValueError:
        return None
    urns = frozenset(u for u in (row.school_urns or "").split(",") if u)
    return Principal(name=row.name, role=role, school_urns=urns)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access key created with `casework keys create` (`Authorization: Bearer cw_...`).",
)


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(_bearer)
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized(
            "This endpoint needs an access key: send `Authorization: Bearer <token>`.", invalid=False
        )
    token = credentials.credentials.strip()
    if not _TOKEN_RE.match(token):
        raise _unauthorized("The access key is not valid.", invalid=True)
    principal = await run_db(request, lambda s: principal_for_token(s, token))
    if principal is None:
        raise _unauthorized("The access key is not valid, or it has been revoked.", invalid=True)
    request.state.principal = principal
    return principal


def require_roles(*roles: Role) -> Callable[..., Any]:
    """A dependency answering the caller's `Principal`, or 403 when their role is not in `roles`."""
    allowed = frozenset(roles)

    async def _dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ProblemError(
                403,
                f"A {principal.role.value} key may not do this (allowed: {names}).",
                slug="forbidden",
                title="Forbidden for this role",
            )
        return principal

    _dependency.__name__ = "require_" + "_or_".join(sorted(r.value for r in allowed))
    return _dependency


#: The role sets the routes use (module-level, so each route shares one dependency).
require_staff = require_roles(Role.CASEWORKER, Role.SUPERVISOR)
require_school_or_staff = require_roles(Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR)
require_finance_or_supervisor = require_roles(Role.FINANCE, Role.SUPERVISOR)
require_supervisor = require_roles(Role.SUPERVISOR)


# -- case visibility ----------------------------------------------------------------------------


def case_not_found(case_ref: str) -> ProblemError:
    return ProblemError(404, f"There is no case {case_ref}.", slug="case-not-found", title="Case not found")


def check_case_ref(case_ref: str) -> str:
    """A reference that cannot exist answers 404 like an unknown one (never reaches Temporal)."""
    if not _CASE_REF_RE.match(case_ref):
        raise ProblemError(
            404,
            "There is no such case: a case reference looks like MN-26-7K3Q9P.",
            slug="case-not-found",
            title="Case not found",
        )
    return case_ref


async def visible_case_row(request: Request, principal: Principal, case_ref: str) -> CaseRow | None:
    """The read-model row of a case the caller may see. 404 for a school caller when the case is
    not one of its schools' (or not known); staff get None when the read model has no row yet."""
    check_case_ref(case_ref)
    row = await run_db(request, lambda s: s.get(CaseRow, case_ref))
    if principal.is_school and (row is None or not principal.can_see_school(row.school_urn)):
        raise case_not_found(case_ref)
    return row


# -- key management (the CLI and tests) -----------------------------------------------------------


class ApiKeyError(ValueError):
    """A key could not be created or changed; the message says why."""


def _check_key_fields(name: str, role: Role | str, school_urns: Iterable[str]) -> tuple[Role, list[str]]:
    if not _NAME_RE.match(name or ""):
        raise ApiKeyError("name: 1-100 characters, letters, digits, space, '.', '_', '@' or '-'")
    try:
        role = Role(role)
    except ValueError:
        raise ApiKeyError(f"role: one of {', '.join(r.value for r in KEY_ROLES)}") from None
    if role not in KEY_ROLES:
        raise ApiKeyError(f"role: one of {', '.join(r.value for r in KEY_ROLES)}")
    urns = sorted(set(school_urns))
    bad = [u for u in urns if not _URN_RE.match(u)]
    if bad:
        raise ApiKeyError(f"school URN must be 6 digits: {', '.join(bad)}")
    if role is Role.SCHOOL and not urns:
        raise ApiKeyError("a school key needs at least one --school-urn")
    if role is not Role.SCHOOL and urns:
        raise ApiKeyError("only a school key is scoped to school URNs")
    return role, urns


def create_api_key(
    session: Session,
    name: str,
    role: Role | str,
    school_urns: Iterable[str] = (),
    *,
    token: str | None = None,
) -> str:
    """Create a key and answer its token (the only time it is ever seen; only its hash is kept)."""
    role, urns = _check_key_fields(name, role, school_urns)
    if session.exec(select(ApiKey).where(ApiKey.name == name)).first() is not None:
        raise ApiKeyError(f"a key named {name!r} already exists")
    token = token or new_token()
    if not _TOKEN_RE.match(token):
        raise ApiKeyError("token must be 'cw_' followed by 20-100 URL-safe characters")
    session.add(
        ApiKey(
            name=name,
            role=role.value,
            school_urns=",".join(urns),
            token_hash=hash_token(token),
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return token


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.name)).all())


def revoke_api_key(session: Session, name: str) -> bool:
    """Revoke a key by name. False if there is no such key; revoking twice is harmless."""
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
    return True
