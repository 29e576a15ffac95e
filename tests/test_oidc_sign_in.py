"""Signing in through an OpenID Connect provider, against a real one started here: panva's
`oidc-provider` (node, from node_modules), the whole authorization code flow with PKCE through its
login and consent pages, then the app's own session. Roles and schools come from the token's claims."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from readmodel.migrate import upgrade
from tests.browser_world import serving
from tests.oidc_world import first_form, running_provider
from tests.support import free_port, make_settings

CLIENT_ID, CLIENT_SECRET = "casework-test", "casework-test-secret"
ACCOUNTS = {
    "jo": {"name": "Jo Bloggs", "preferred_username": "jo.bloggs@council.example", "roles": ["caseworker"]},
    "head": {"name": "Sam Okafor", "preferred_username": "head@oakfield.example", "roles": ["school"],
             "school_urns": ["120001"]},
    "visitor": {"name": "Vi Sitor", "preferred_username": "visitor@council.example", "roles": []},
}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    app_port = free_port()
    base = f"http://localhost:{app_port}"
    async with running_provider(free_port(), CLIENT_ID, CLIENT_SECRET, f"{base}/sign-in/oidc/callback",
                                ACCOUNTS) as issuer:
        settings = make_settings(
            tmp_path, environment="development", api_port=app_port, temporal_address=f"127.0.0.1:{free_port()}",
            task_queue=f"oidc-{uuid.uuid4().hex}", oidc_issuer=issuer, oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET, oidc_provider_name="your council account",
        )
        upgrade(settings.database_url)
        async with serving(settings) as url:
            yield url, issuer


async def sign_in_with_provider(c: httpx.AsyncClient, base: str, login: str, next_page: str = "") -> httpx.Response:
    sign_in = await c.get(f"{base}/sign-in")
    assert "Sign in with your council account" in sign_in.text
    page = await c.get(f"{base}/sign-in/oidc" + (f"?next={next_page}" if next_page else ""))
    if str(page.url).startswith(base):  # the provider remembered the person: straight back
        return page
    action, fields = first_form(page)  # the provider's login page
    page = await c.post(action, data={**fields, "login": login, "password": "anything"})
    if not str(page.url).startswith(base):
        action, fields = first_form(page)  # its consent page
        page = await c.post(action, data=fields)
    return page


async def test_staff_sign_in_through_the_provider_with_its_role_and_name(site: Any) -> None:
    base, _ = site
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as c:
        page = await sign_in_with_provider(c, base, "jo", "/caseworker/caseload")
        assert page.status_code == 200 and str(page.url) == f"{base}/caseworker/caseload", page.text[:500]
        assert "Signed in as <strong>Jo Bloggs</strong> (caseworker)" in page.text
        # The same person next time is the same account (the provider's subject), named as now.
        await c.post(f"{base}/sign-out", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)})
        page = await sign_in_with_provider(c, base, "jo")
        assert str(page.url) == f"{base}/caseworker/tasks"


async def test_a_school_person_gets_their_schools_and_a_person_without_a_role_gets_nothing(site: Any) -> None:
    base, _ = site
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as c:
        page = await sign_in_with_provider(c, base, "head")
        assert str(page.url) == f"{base}/school/cases" and "Sam Okafor" in page.text
        assert (await c.get(f"{base}/caseworker/caseload")).status_code == 403
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as c:
        page = await sign_in_with_provider(c, base, "visitor")
        assert page.status_code == 400 and "no role in this service" in page.text
        assert (await c.get(f"{base}/caseworker/tasks")).url.path == "/sign-in"


async def test_a_callback_that_was_not_started_here_signs_nobody_in(site: Any) -> None:
    base, _ = site
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as c:
        r = await c.get(f"{base}/sign-in/oidc/callback?code=forged&state=forged")
        assert r.status_code == 400 and "did not finish" in r.text
        assert "casework_session" not in c.cookies
