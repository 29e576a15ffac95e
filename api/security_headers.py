"""Security headers on every response (OWASP ASVS V14.4, the NCSC's web guidance).

- `Cache-Control: no-store`: case views carry health data, dates of birth and parents' email
  addresses; no browser on a shared office PC, and no proxy, may keep a copy. A response that sets
  its own `Cache-Control` keeps it (static assets may be cached).
- `X-Content-Type-Options: nosniff`: a browser never runs an upload or an answer as another type.
- `Content-Security-Policy`: the API's answers are data, never pages: nothing may load, run or
  frame them (`default-src 'none'; frame-ancestors 'none'`). `/docs` and `/redoc` load their viewers
  from the app itself (`pages.assets`) and start them with one inline script carrying a nonce made
  for that answer (`docs_policy`); the pages (`pages/`) get `page_policy`, likewise with a nonce.
  A response that sets its own policy keeps it. `X-Frame-Options: DENY` says the same to older
  browsers.
- `Referrer-Policy: no-referrer`: case references in URLs never leave in a `Referer`.
- `Permissions-Policy`: no camera, microphone or location, ever.
- `Strict-Transport-Security` outside development and tests: browsers use HTTPS only (TLS is
  terminated by the reverse proxy in production; see docker-compose.yml).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Swagger UI and ReDoc, served by the app itself: their scripts from 'self', started by one inline
#: script with the answer's nonce. Their styles are set inline by the viewers (React, styled-components).
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'{nonce}; style-src 'self' 'unsafe-inline'; font-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
#: The pages: everything from the app itself; the one inline script (GOV.UK's `js-enabled` marker)
#: only with the answer's nonce; forms post only back to the app.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def docs_policy(nonce: str | None = None) -> str:
    return DOCS_POLICY.format(nonce=f" 'nonce-{nonce}'" if nonce else "")


def page_policy(nonce: str | None = None) -> str:
    return PAGE_POLICY.format(nonce=f" 'nonce-{nonce}'" if nonce else "")


DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=31536000; includeSubDomains"

_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response, errors and CORS preflights included."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = docs_policy() if scope.get("path") in DOCS_PATHS else API_POLICY

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                added = [h for h in _COMMON if h[0] not in present]
                if b"cache-control" not in present:
                    added.append((b"cache-control", b"no-store"))
                if b"content-security-policy" not in present:
                    added.append((b"content-security-policy", policy.encode()))
                if self.hsts:
                    added.append((b"strict-transport-security", HSTS.encode()))
                message["headers"] = headers + added
            await send(message)

        await self.app(scope, receive, _send)
