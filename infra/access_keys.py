"""Access keys for machines: `cw_` + 43 URL-safe characters, shown once when created
(`casework keys create`) and stored only as their SHA-256 hash in `ApiKey`. The CLI, the tests and
the benchmarks create, list and revoke keys here; the API checks a presented token against the hash
(`api.auth`)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlmodel import Session, select

from domain.people import Role
from readmodel.tables import ApiKey

TOKEN_PREFIX = "cw_"  # noqa: S105 - a prefix, not a secret
TOKEN_RE = re.compile(r"^cw_[A-Za-z0-9_-]{20,100}$")
_URN_RE = re.compile(r"^\d{6}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")

#: Roles a key can have (`system` is the workflow's own timers, never a person with a key).
KEY_ROLES: tuple[Role, ...] = (Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR, Role.FINANCE)


class ApiKeyError(ValueError):
    """A key could not be created or changed; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


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
    if not TOKEN_RE.match(token):
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
