"""Signing in to the pages: the cookie's protections, CSRF on every form, the lockout, idle and
absolute expiry, sign-out and disabled accounts; and which kind of person may open which page.
No Temporal needed: these pages read the read model only."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

import cli
from api.app import create_app
from infra import sign_in_sessions
from infra.accounts import check_password, create_account
from readmodel.database import make_engine, session_scope
from readmodel.tables import SignInSession
from tests.api_world import api_client
from tests.browser_world import PASSWORD, PEOPLE, create_people
from tests.support import make_settings

PAGES: dict[str, set[str]] = {
    "/school/cases": {"school_a"},
    "/school/notify": {"school_a"},
    "/caseworker/tasks": {"caseworker", "supervisor"},
    "/caseworker/caseload": {"caseworker", "supervisor"},
    "/supervisor/attention": {"supervisor"},
    "/supervisor/access": {"supervisor"},
    "/finance/recoupment": {"finance", "supervisor"},
    "/finance/recoupment.csv": {"finance", "supervisor"},
}


def _token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_in(c: httpx.AsyncClient, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    form = await c.get("/sign-in")
    return await c.post("/sign-in", data={"csrf_token": _token(form), "username": username,
                                          "password": password, **extra})


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path, sign_in_failures_before_lockout=3)
    create_people(settings)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        yield c, settings


async def test_signing_in_sets_a_protected_cookie_and_signing_out_ends_the_session(site: Any) -> None:
    c, _ = site
    r = await sign_in(c, PEOPLE["caseworker"][0])
    assert (r.status_code, r.headers["location"]) == (303, "/caseworker/tasks")
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith(sign_in_sessions.COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    page = await c.get("/caseworker/tasks")
    assert page.status_code == 200 and "Jo Bloggs" in page.text
    policy = page.headers["content-security-policy"]
    assert "'nonce-" in policy and "unsafe-inline" not in policy and "form-action 'self'" in policy
    stolen = {"Cookie": f"{sign_in_sessions.COOKIE}={c.cookies.get(sign_in_sessions.COOKIE)}"}
    async with httpx.AsyncClient(transport=c._transport, base_url="https://testserver") as thief:
        assert (await thief.get("/caseworker/tasks", headers=stolen)).status_code == 200

    # Sign-out without the form's CSRF token is refused; with it, the session is over for good.
    assert (await c.post("/sign-out")).status_code == 400
    r = await c.post("/sign-out", data={"csrf_token": _token(page)})
    assert r.status_code == 303
    async with httpx.AsyncClient(transport=c._transport, base_url="https://testserver") as thief:
        again = await thief.get("/caseworker/tasks", headers=stolen)
    assert again.status_code == 303 and again.headers["location"].startswith("/sign-in")


async def test_forms_need_their_csrf_token(site: Any) -> None:
    c, _ = site
    # Sign-in itself: a form posted from elsewhere has no matching token.
    r = await c.post("/sign-in", data={"csrf_token": "x", "username": PEOPLE["school_a"][0], "password": PASSWORD})
    assert r.status_code == 400 and sign_in_sessions.COOKIE not in r.headers.get("set-cookie", "")
    await sign_in(c, PEOPLE["school_a"][0])
    r = await c.post("/school/notify", data={"child.given_name": "Ada"})
    assert r.status_code == 400 and "This form has expired" in r.text


async def test_repeated_wrong_passwords_lock_the_account(site: Any) -> None:
    c, _ = site
    username = PEOPLE["finance"][0]
    for _ in range(2):
        r = await sign_in(c, username, "not the password")
        assert r.status_code == 400 and "Enter a correct username and password" in r.text
    r = await sign_in(c, username, "not the password")
    assert "locked" in r.text
    r = await sign_in(c, username)  # even the right password, while locked
    assert r.status_code == 400 and "locked" in r.text
    # An unknown username gets the same answer as a wrong password (it is not confirmed to exist).
    r = await sign_in(c, "nobody.here", "whatever it is")
    assert r.status_code == 400 and "Enter a correct username and password" in r.text


async def test_sign_in_goes_back_only_to_this_site(site: Any) -> None:
    c, _ = site
    r = await sign_in(c, PEOPLE["caseworker"][0], next="//evil.example/x")
    assert r.headers["location"] == "/caseworker/tasks"
    await c.post("/sign-out", data={"csrf_token": _token(await c.get("/caseworker/tasks"))})
    asked = await c.get("/caseworker/caseload?stage=closed")
    assert asked.headers["location"] == "/sign-in?next=%2Fcaseworker%2Fcaseload%3Fstage%3Dclosed"
    r = await sign_in(c, PEOPLE["caseworker"][0], next="/caseworker/caseload?stage=closed")
    assert r.headers["location"] == "/caseworker/caseload?stage=closed"


async def test_every_page_for_every_kind_of_person(site: Any) -> None:
    c, _ = site
    for path in PAGES:
        r = await c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in"), path
    for who in ("school_a", "caseworker", "supervisor", "finance"):
        c.cookies.clear()
        await sign_in(c, PEOPLE[who][0])
        for path, allowed in PAGES.items():
            r = await c.get(path)
            assert r.status_code == (200 if who in allowed else 403), (who, path, r.status_code)
            if r.status_code == 403:
                assert "You cannot see this page" in r.text


def test_sessions_end_when_idle_too_long_or_too_old(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    create_people(settings)
    engine = make_engine(settings.database_url)
    idle, absolute = timedelta(minutes=30), timedelta(hours=10)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    try:
        with session_scope(engine) as s:
            person = check_password(s, PEOPLE["caseworker"][0], PASSWORD)
            assert person is not None
            token = sign_in_sessions.start(s, person, now=start)
            busy = sign_in_sessions.start(s, person, now=start)
        with session_scope(engine) as s:
            assert sign_in_sessions.resume(s, token, idle=idle, absolute=absolute, now=start + timedelta(minutes=29))
        with session_scope(engine) as s:
            assert sign_in_sessions.resume(s, token, idle=idle, absolute=absolute,
                                           now=start + timedelta(minutes=29 + 31)) is None
        # Used every 20 minutes, a session still ends 10 hours after sign-in.
        moment = start
        while moment < start + absolute - timedelta(minutes=20):
            moment += timedelta(minutes=20)
            with session_scope(engine) as s:
                assert sign_in_sessions.resume(s, busy, idle=idle, absolute=absolute, now=moment)
        with session_scope(engine) as s:
            assert sign_in_sessions.resume(s, busy, idle=idle, absolute=absolute,
                                           now=start + absolute + timedelta(minutes=1)) is None
            assert s.exec(select(func.count()).select_from(SignInSession)).one() == 0
    finally:
        engine.dispose()


def test_accounts_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("CASEWORK_DATABASE_URL", settings.database_url)
    assert settings.encryption_keys is not None
    monkeypatch.setenv("CASEWORK_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    out = io.StringIO()
    assert cli.main(["accounts", "create", "--username", "m.jones", "--display-name", "Mo Jones",
                     "--role", "school", "--school-urn", "120001", "--password-stdin"], out=out) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["accounts", "create", "--username", "x.y", "--display-name", "X",
                     "--role", "caseworker", "--password-stdin"], out=out) == 2
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            person = check_password(s, "m.jones", "a long enough password")
            assert person is not None and person.school_urns == {"120001"} and person.display_name == "Mo Jones"
            token = sign_in_sessions.start(s, person)
        assert cli.main(["accounts", "disable", "m.jones"], out=out) == 0
        with session_scope(engine) as s:
            assert check_password(s, "m.jones", "a long enough password") is None
            assert sign_in_sessions.resume(s, token, idle=timedelta(hours=1), absolute=timedelta(hours=1)) is None
        listing = io.StringIO()
        assert cli.main(["accounts", "list"], out=listing) == 0
        assert "m.jones\tMo Jones\tschool\t120001" in listing.getvalue() and "disabled" in listing.getvalue()
        assert "password" not in listing.getvalue().split("\n", 1)[1]
        demo = io.StringIO()
        assert cli.main(["accounts", "ensure-demo"], out=demo) == 0
        assert [line.split("\t")[0] for line in demo.getvalue().splitlines()] == [
            "school", "caseworker", "supervisor", "finance"]
    finally:
        engine.dispose()


def test_a_school_account_needs_its_school(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    create_people(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s, pytest.raises(ValueError, match="school"):
            create_account(s, "no.school", "No School", "school", PASSWORD, [])
    finally:
        engine.dispose()


async def test_the_caseload_comes_a_page_at_a_time_with_names(site: Any) -> None:
    c, settings = site
    from datetime import date as day

    from infra.encryption import Keyring
    from readmodel.case_projection import write_case_view
    from tests.readmodel_fixtures import child, make_view

    keyring = Keyring.from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            for n in range(55):
                ref = f"MN-26-{n:06d}"
                write_case_view(s, make_view(ref, the_child=child(given=f"Pupil{n}", dob=day(2013, 1, 1 + n % 28))),
                                keyring, datetime.now(UTC))
    finally:
        engine.dispose()
    await sign_in(c, PEOPLE["caseworker"][0])
    first = await c.get("/caseworker/caseload")
    assert "55 cases (showing 1 to 50)" in first.text and first.text.count('href="/caseworker/cases/MN-26-') == 50
    following = re.search(r'<a class="govuk-link govuk-pagination__link" href="([^"]+)" rel="next">', first.text)
    assert following, "no link to the next page"
    second = await c.get(following.group(1).replace("&amp;", "&"))
    assert "(showing 51 to 55)" in second.text and second.text.count('href="/caseworker/cases/MN-26-') == 5
    assert "Pupil" in second.text
    found = await c.get("/caseworker/caseload", params={"q": "pupil7"})
    assert "1 case" in found.text and "Pupil7 " in found.text


async def test_a_web_address_a_page_cannot_read_gets_a_page_not_json(site: Any) -> None:
    c, _ = site
    await sign_in(c, PEOPLE["caseworker"][0])
    for address in ("/caseworker/caseload?page=abc", "/caseworker/caseload?page=99999", "/caseworker/tasks?kind=" + "x" * 50):
        r = await c.get(address)
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), (address, r.text[:200])
        assert "problem with the web address" in r.text and "Input should" not in r.text
