"""Security headers on every response (OWASP ASVS V14.4, the NCSC's web guidance).

- `Cache-Control: no-store`: case views carry health data, dates of birth and parents' email
  addresses; no browser on a shared office PC, and no proxy, may keep a copy. A response that sets
  its own `Cache-Control` keeps it (static assets may be cached).
- `X-Content-Type-Options: nosniff`: a browser never runs an upload or an answer as another type.
- `Content-Security-Policy`: the API's answers are data, never pages: nothing may load, run or
  frame them (`default-src 'none'; frame-ancestors 'none'`). `/docs` and `/redoc` get a policy that
  allows what those pages load. `X-Frame-Options: DENY` says the same to older browsers.
- `Referrer-Policy: no-referrer`: case references in URLs never leave in a `Referer`.
- `Permissions-Policy`: no camera, microphone or location, ever.
- `Strict-Transport-Security` outside development and tests: browsers use HTTPS only (TLS is
  terminated by the reverse proxy in production; see docker-compose.yml).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: FastAPI's Swagger UI and ReDoc pages load their scripts and styles from jsDelivr and start them
#: with an inline script.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
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
        policy = DOCS_POLICY if scope.get("path") in DOCS_PATHS else API_POLICY

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
