"""The pages' routers, in the order `api.app` includes them."""

from __future__ import annotations

from fastapi import APIRouter

from pages.school_routes import router as school_router
from pages.sign_in_routes import router as sign_in_router

PAGE_ROUTERS: tuple[APIRouter, ...] = (sign_in_router, school_router)
