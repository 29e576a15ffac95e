"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from assets the app serves itself (`pages.assets`), so
the API's documentation works on a machine without internet. Each page starts its viewer with one
inline script, allowed by a nonce made for that answer alone (`api.security_headers.docs_policy`).

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import secrets

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from api.security_headers import docs_policy

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"


def _with_nonce(page: HTMLResponse) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    body = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(body, headers={"Content-Security-Policy": docs_policy(nonce)})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _with_nonce(
        get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return _with_nonce(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _with_nonce(
        get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{request.app.title} - ReDoc",
            redoc_js_url="/static/redoc/redoc.standalone.js",
            redoc_favicon_url="/static/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )
    )
