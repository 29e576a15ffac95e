"""Bearer-token access: who is calling, what role they have, which schools they may see.

Tokens are made and stored by `infra.access_keys` (only their SHA-256 hash is kept). A revoked key
is refused like an unknown one.

- No token, a malformed or an unknown/revoked one: 401 with `WWW-Authenticate: Bearer`.
- A role the route does not allow: 403.
- A school key sees and acts on its own schools' cases only; another school's case answers 404,
  exactly as if it did not exist (a 403 would confirm that the case exists).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from api.deps import run_db, services
from api.principal import Principal
from api.problems import ProblemError
from domain.case_commands import CASE_REF_PATTERN
from domain.people import Role
from infra import sign_in_sessions
from infra.access_keys import TOKEN_RE, hash_token
from infra.accounts import account_for_provider_identity
from infra.oidc import OidcClient, SignInFailed
from infra.oidc_tokens import NoRole, TokenRefused, identity_of_access_token, looks_like_jwt
from readmodel.tables import ApiKey, CaseRow

_CASE_REF_RE = re.compile(CASE_REF_PATTERN)


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
    if not TOKEN_RE.match(token):
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
    principal = await run_db(request, lambda s: principal_for_token(s, token)) if TOKEN_RE.match(token) else None
    if principal is None:
        await _count_refusal(request)
        raise _unauthorized("The access key is not valid, or it has been revoked.", invalid=True)
    request.state.principal = principal
    return principal


async def _count_refusal(request: Request) -> None:
    """429 with `Retry-After` once one address has had too many keys refused (`api.auth_throttle`)."""
    source = request.client.host if request.client else "unknown"
    wait = await services(request).auth_failures.refused(source)
    if wait is not None:
        raise ProblemError(
            429,
            "Too many refused access keys from this address; try again later.",
            slug="too-many-requests",
            title="Too many requests",
            headers={"Retry-After": str(wait)},
        )


async def session_principal(request: Request) -> Principal | None:
    """The person signed in to the service's pages in this browser (the session cookie), as a caller,
    or None: no cookie, or its session has ended (`infra.sign_in_sessions`)."""
    token = request.cookies.get(sign_in_sessions.COOKIE)
    if not token or len(token) > 100:
        return None
    settings = services(request).settings
    idle, absolute = timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_hours)
    found = await run_db(request, lambda s: sign_in_sessions.resume(s, token, idle=idle, absolute=absolute))
    if found is None:
        return None
    person = found[0]
    return Principal(name=person.username, role=person.role, school_urns=person.school_urns)


def oidc_client(request: Request) -> OidcClient | None:
    """The app's OpenID Connect client (one per app), or None when the council's sign-in is not set up."""
    settings = services(request).settings
    if not settings.oidc_issuer:
        return None
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        client = request.app.state.oidc_client = OidcClient(settings)
    return client


async def access_token_principal(request: Request, token: str) -> Principal:
    """The person of a council access token (`infra.oidc_tokens`), as the pages' sign-in knows them:
    the same account (created on first use, kept in step with the claims), so their reads are
    recorded under the same name. 401 for a token that cannot be trusted, 403 for no role here."""
    client = oidc_client(request)
    try:
        if client is None:
            raise TokenRefused("no provider")
        who = await identity_of_access_token(client, token)
    except TokenRefused:
        await _count_refusal(request)
        raise _unauthorized("The access token is not valid, or it has expired: sign in again.", invalid=True) from None
    except NoRole as exc:
        raise ProblemError(403, str(exc), slug="forbidden", title="Forbidden for this role") from None
    except SignInFailed:
        raise ProblemError(503, "The council's sign-in service cannot be reached to check the access token.",
                           slug="service-unavailable", headers={"Retry-After": "30"}) from None
    person = await run_db(request, lambda s: account_for_provider_identity(
        s, who.subject, who.username, who.display_name, who.role, who.school_urns))
    if person is None:
        raise ProblemError(403, "This account cannot use this service. Ask the Inclusion Service.",
                           slug="forbidden", title="Forbidden for this account")
    return Principal(name=person.username, role=person.role, school_urns=person.school_urns)


async def key_or_session_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(_bearer)
) -> Principal:
    """The caller by access key (`Authorization: Bearer cw_...`), by the council's access token (the
    Temporal UI behind the council's sign-in, `passAccessToken`), else by the browser's signed-in
    session (the dev UI, calling the codec with the service's cookie)."""
    if credentials is None or not credentials.credentials:
        principal = await session_principal(request)
        if principal is not None:
            request.state.principal = principal
            return principal
    elif not TOKEN_RE.match(token := credentials.credentials.strip()) and looks_like_jwt(token):
        principal = await access_token_principal(request, token)
        request.state.principal = principal
        return principal
    return await current_principal(request, credentials)


def require_roles(*roles: Role, by: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A dependency answering the caller's `Principal`, or 403 when their role is not in `roles`. `by`
    says how the caller is known (default: an access key)."""
    allowed = frozenset(roles)

    async def _dependency(principal: Principal = Depends(by or current_principal)) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ProblemError(
                403,
                f"A {principal.role.value} may not do this (allowed: {names}).",
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
