"""Signing in through the council's OpenID Connect provider (`infra.oidc`), when
`CASEWORK_OIDC_ISSUER` is set: the sign-in page offers "Sign in with ...", the browser goes to the
provider and comes back to `/sign-in/oidc/callback`, and the person gets the same session as a
local account (`pages.sign_in_sessions`).

What the callback must find again (state, nonce, PKCE verifier, where to go next) waits in a
short-lived HttpOnly cookie for this path only; a callback whose `state` does not match it signs
nobody in.

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import base64
import hmac
import json

from fastapi import APIRouter, Request, Response

from api.auth import oidc_client
from api.deps import run_db, services
from infra import sign_in_sessions
from infra.accounts import account_for_provider_identity
from infra.logging import get_logger
from infra.oidc import SignInFailed
from pages.web import HOME, PageRoute, error_page, see_other, set_session_cookie

log = get_logger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FLOW_COOKIE = "casework_oidc"
FLOW_PATH = "/sign-in/oidc"


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FLOW_PATH + "/callback"


def _failed(request: Request, message: str) -> Response:
    log.info("oidc_sign_in_failed")
    return error_page(request, 400, f"{message} You can also sign in with a username and password.")


@router.get(FLOW_PATH)
async def start(request: Request, next: str | None = None) -> Response:
    client = oidc_client(request)
    if client is None:
        return error_page(request, 404, "Sign-in through a council account is not set up here.")
    try:
        started = await client.start(_redirect_uri(request))
    except SignInFailed as exc:
        return _failed(request, str(exc))
    target = next if next and next.startswith("/") and not next.startswith("//") else ""
    flow = {"state": started.state, "nonce": started.nonce, "verifier": started.verifier, "next": target}
    response = see_other(started.url)
    response.set_cookie(FLOW_COOKIE, base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
                        max_age=600, httponly=True, samesite="lax", path=FLOW_PATH,
                        secure=services(request).settings.environment != "development")
    return response


@router.get(FLOW_PATH + "/callback")
async def callback(request: Request, code: str | None = None, state: str | None = None,
                   error: str | None = None) -> Response:
    client = oidc_client(request)
    if client is None:
        return error_page(request, 404, "Sign-in through a council account is not set up here.")
    try:
        flow = json.loads(base64.urlsafe_b64decode(request.cookies.get(FLOW_COOKIE, "")))
    except ValueError:
        flow = {}
    if error or not code or not state or not hmac.compare_digest(str(flow.get("state", "")), state):
        return _failed(request, "The sign-in did not finish.")
    try:
        who = await client.finish(code, _redirect_uri(request), flow["nonce"], flow["verifier"])
    except SignInFailed as exc:
        return _failed(request, str(exc))
    person = await run_db(request, lambda s: account_for_provider_identity(
        s, who.subject, who.username, who.display_name, who.role, who.school_urns))
    if person is None:
        return _failed(request, "This account cannot sign in here. Ask the Inclusion Service.")
    token = await run_db(request, lambda s: sign_in_sessions.start(s, person))
    log.info("signed_in", role=person.role.value, via="oidc")
    response = see_other(flow.get("next") or HOME[person.role])
    set_session_cookie(request, response, token)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
