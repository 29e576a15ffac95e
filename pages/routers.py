"""The pages' routers, in the order `api.app` includes them."""

from __future__ import annotations

from fastapi import APIRouter

from pages.caseworker_routes import router as caseworker_router
from pages.finance_routes import router as finance_router
from pages.oidc_routes import router as oidc_router
from pages.school_routes import router as school_router
from pages.sign_in_routes import router as sign_in_router
from pages.supervisor_routes import router as supervisor_router

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    sign_in_router, oidc_router, school_router, caseworker_router, supervisor_router, finance_router,
)
