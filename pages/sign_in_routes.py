"""Signing in and out of the pages with a local account (`infra.accounts`).

- The sign-in form has its own CSRF token (a cookie and a hidden field that must match), so no other
  site can sign a browser in as someone else.
- Wrong passwords lock the account for a while (`api.auth_throttle.SignInLockout`); the message
  never says whether the username exists.
- A session cookie (HttpOnly, SameSite=Lax, Secure outside development) names a session kept in
  the read model (`pages.sign_in_sessions`); signing out ends it there.

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import hmac
import secrets

from fastapi import APIRouter, Request, Response

from api.deps import run_db, services
from infra import sign_in_sessions
from infra.accounts import check_password
from infra.logging import get_logger
from pages.web import (
    HOME,
    PageRoute,
    SignInRequired,
    checked_form,
    render,
    see_other,
    set_session_cookie,
    signed_in,
)

log = get_logger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SIGN_IN_CSRF_COOKIE = "casework_sign_in_csrf"
WRONG = "Enter a correct username and password"
LOCKED = "Too many wrong passwords. This account is locked for a while: try again later"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never `//elsewhere` or a full URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _form(request: Request, *, status_code: int = 200, **context: object) -> Response:
    token = secrets.token_urlsafe(32)
    context.setdefault("field_errors", {})
    settings = services(request).settings
    provider = settings.oidc_provider_name if settings.oidc_issuer else None
    response = render(request, "sign_in.html", {"title": "Sign in", "sign_in_csrf": token, "provider": provider,
                                                **context}, status_code=status_code)
    response.set_cookie(SIGN_IN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=services(request).settings.environment != "development", path="/sign-in")
    return response


@router.get("/")
async def start(request: Request) -> Response:
    try:
        who = await signed_in(request)
    except SignInRequired:
        return see_other("/sign-in")
    return see_other(HOME[who.person.role])


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None, signed_out: bool = False) -> Response:
    return _form(request, next=_safe_next(next) or "", signed_out=signed_out, username="")


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "").strip().lower()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    sent, expected = str(form.get("csrf_token") or ""), request.cookies.get(SIGN_IN_CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        return _form(request, status_code=400, next=target or "", username=username,
                     errors=[{"text": "This form has expired. Sign in again.", "href": "#username"}])

    def refused(message: str) -> Response:
        return _form(request, status_code=400, next=target or "", username=username,
                     errors=[{"text": message, "href": "#username"}],
                     field_errors={"username": message})

    if not username or not password:
        errors, fields = [], {}
        if not username:
            errors.append({"text": "Enter your username", "href": "#username"})
            fields["username"] = "Enter your username"
        if not password:
            errors.append({"text": "Enter your password", "href": "#password"})
            fields["password"] = "Enter your password"  # noqa: S105 - a message, not a password
        return _form(request, status_code=400, next=target or "", username=username, errors=errors,
                     field_errors=fields)
    lockout = services(request).sign_in_lockout
    if await lockout.locked(username):
        log.info("sign_in_locked")
        return refused(LOCKED)
    person = await run_db(request, lambda s: check_password(s, username, password))
    if person is None:
        await lockout.failed(username)
        log.info("sign_in_refused")
        return refused(LOCKED if await lockout.locked(username) else WRONG)
    await lockout.succeeded(username)
    token = await run_db(request, lambda s: sign_in_sessions.start(s, person))
    log.info("signed_in", role=person.role.value)
    response = see_other(target or HOME[person.role])
    set_session_cookie(request, response, token)
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    who = await signed_in(request)
    await checked_form(request, who)
    token = request.cookies.get(sign_in_sessions.COOKIE) or ""
    await run_db(request, lambda s: sign_in_sessions.end(s, token))
    response = see_other("/sign-in?signed_out=true")
    response.delete_cookie(sign_in_sessions.COOKIE, path="/")
    return response
