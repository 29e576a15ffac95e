"""What every page shares: the templates (GOV.UK Frontend's Jinja macros), an answer rendered under
a strict policy with a nonce of its own, the signed-in person (as the API's `Principal`, so pages
and API apply one set of access rules), CSRF checks on every form, and error pages in place of the
API's problem documents.

Page modules import from here, from `api.deps`, `api.auth`, `api.case_updates`, `api.case_views`
and `domain/`; never from one another, and never from an API route module."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape
from starlette.datastructures import FormData

from api.deps import run_db, services
from api.principal import Principal
from api.problems import EngineTimeout, ProblemError, TemporalUnavailable
from api.security_headers import page_policy
from domain.people import Role
from infra import sign_in_sessions
from infra.accounts import Person
from infra.logging import get_logger
from pages.action_forms import LABELS
from readmodel.database import ReadModelUnavailable

log = get_logger(__name__)

SERVICE_NAME = "Education for children with health needs"

templates = Environment(
    loader=ChoiceLoader(
        [
            PackageLoader("pages", "templates"),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=select_autoescape(("html",)),
    # Templates ship with the code: never re-read from disk while the app runs.
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


def long_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value.day} {value:%B %Y, %H:%M}"
    return f"{value.day} {value:%B %Y}"


def words(value: Any) -> str:
    """`home_tuition` -> `Home tuition`: enum values as a person reads them (`LABELS` where needed)."""
    raw = str(getattr(value, "value", value) or "")
    if raw in LABELS:
        return LABELS[raw]
    text = raw.replace("_", " ")
    return text[:1].upper() + text[1:]


def _radio_item(choice: tuple[str, str], current: str) -> dict[str, Any]:
    return {"value": choice[0], "text": choice[1], "checked": choice[0] == current}


def _check_item(choice: tuple[str, str], current: list[str]) -> dict[str, Any]:
    return {"value": choice[0], "text": choice[1], "checked": choice[0] in current}


def _select_item(choice: tuple[str, str], current: str) -> dict[str, Any]:
    return {"value": choice[0], "text": choice[1], "selected": choice[0] == current}


templates.filters["long_date"] = long_date
templates.filters["words"] = words
templates.filters["radio_item"] = _radio_item
templates.filters["check_item"] = _check_item
templates.filters["select_item"] = _select_item


@dataclass(frozen=True)
class SignedIn:
    person: Person
    csrf_token: str

    @property
    def principal(self) -> Principal:
        """The person as the API's access rules see a caller: their username is their name on cases."""
        return Principal(name=self.person.username, role=self.person.role, school_urns=self.person.school_urns)


class SignInRequired(Exception):
    """No session, or it has ended: the page sends the browser to sign in."""


#: Where each kind of person starts, and the links in their navigation.
HOME: dict[Role, str] = {
    Role.SCHOOL: "/school/cases",
    Role.CASEWORKER: "/caseworker/tasks",
    Role.SUPERVISOR: "/supervisor/attention",
    Role.FINANCE: "/finance/recoupment",
}
NAVIGATION: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.SCHOOL: (("Our pupils' cases", "/school/cases"), ("Notify an absence", "/school/notify")),
    Role.CASEWORKER: (("My tasks", "/caseworker/tasks"), ("Caseload", "/caseworker/caseload")),
    Role.SUPERVISOR: (
        ("Needs attention", "/supervisor/attention"),
        ("Caseload", "/caseworker/caseload"),
        ("Tasks", "/caseworker/tasks"),
        ("Access records", "/supervisor/access"),
    ),
    Role.FINANCE: (("Recoupment", "/finance/recoupment"),),
}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    who: SignedIn | None = None,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    role = who.person.role if who else None
    path = request.url.path
    navigation = [
        {"text": text, "href": href, "active": path == href or path.startswith(href + "/")}
        for text, href in NAVIGATION.get(role, ()) if role
    ]
    body = templates.get_template(template).render(
        {
            "cspNonce": nonce,
            "service_name": SERVICE_NAME,
            "who": who,
            "csrf_token": who.csrf_token if who else None,
            "navigation": navigation,
            "path": path,
            **(context or {}),
        }
    )
    return HTMLResponse(body, status_code=status_code, headers={"Content-Security-Policy": page_policy(nonce)})


def _idle(request: Request) -> timedelta:
    return timedelta(minutes=services(request).settings.session_idle_minutes)


def _absolute(request: Request) -> timedelta:
    return timedelta(hours=services(request).settings.session_hours)


async def signed_in(request: Request) -> SignedIn:
    """The signed-in person, or `SignInRequired` (the page then sends the browser to sign in)."""
    token = request.cookies.get(sign_in_sessions.COOKIE)
    if not token or len(token) > 100:
        raise SignInRequired()
    idle, absolute = _idle(request), _absolute(request)
    found = await run_db(request, lambda s: sign_in_sessions.resume(s, token, idle=idle, absolute=absolute))
    if found is None:
        raise SignInRequired()
    who = SignedIn(person=found[0], csrf_token=found[1])
    request.state.principal = who.principal
    return who


def require_person(*roles: Role) -> Callable[..., Any]:
    """A dependency answering the signed-in person, or a 403 page when their role is not in `roles`."""
    allowed = frozenset(roles)

    async def _dependency(who: SignedIn = Depends(signed_in)) -> SignedIn:
        if who.person.role not in allowed:
            raise ProblemError(403, "You cannot see this page with your account.", slug="forbidden")
        return who

    _dependency.__name__ = "person_" + "_or_".join(sorted(r.value for r in allowed))
    return _dependency


require_school = require_person(Role.SCHOOL)
require_staff = require_person(Role.CASEWORKER, Role.SUPERVISOR)
require_school_or_staff = require_person(Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR)
require_supervisor = require_person(Role.SUPERVISOR)
require_finance_or_supervisor = require_person(Role.FINANCE, Role.SUPERVISOR)


async def checked_form(request: Request, who: SignedIn) -> FormData:
    """The form posted, once its CSRF token is the session's (else a 400 page)."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, who.csrf_token):
        raise ProblemError(400, "This form has expired. Go back, reload the page and try again.", slug="csrf")
    return form


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        sign_in_sessions.COOKIE,
        token,
        max_age=int(_absolute(request).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=services(request).settings.environment != "development",
        path="/",
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


_ERROR_TITLES = {
    400: "Sorry, there is a problem with this form",
    403: "You cannot see this page",
    404: "Page not found",
    503: "Sorry, the service is unavailable",
}


def error_page(request: Request, status: int, detail: str, title: str | None = None) -> HTMLResponse:
    title = title or _ERROR_TITLES.get(status, "Sorry, there is a problem with the service")
    return render(request, "error.html", {"title": title, "detail": detail}, status_code=status)


class PageRoute(APIRoute):
    """A page: a missing sign-in sends the browser to sign in; a refusal or an outage is a page in
    the service's words (never a JSON problem document)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:  # a query or path a link never makes (page=abc): no JSON on a page
                return error_page(request, 400, "Check the web address is correct, or go back and use the page's "
                                  "own links and filters.", title="Sorry, there is a problem with the web address")
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return see_other("/sign-in?next=" + quote(target, safe=""))
            except ProblemError as exc:
                if exc.status in (401, 404):
                    return error_page(request, 404, "If you typed the web address, check it is correct.")
                return error_page(request, exc.status, exc.detail)
            except (TemporalUnavailable, EngineTimeout, ReadModelUnavailable) as exc:
                log.warning("page_unavailable", error_type=type(exc).__name__, path=request.url.path)
                return error_page(request, 503, "Try again in a few minutes. Nothing you sent has been lost.")

        return page_handler
