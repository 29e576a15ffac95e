"""The pages' front-end assets, served by the app itself from `node_modules/` (installed by
`scripts/bootstrap.sh` with `npm ci` from package-lock.json): GOV.UK Frontend, MOJ Frontend, Swagger
UI and ReDoc for `/docs` and `/redoc`, and the pages' own script and styles from `pages/static/`.
Nothing comes from a CDN, so every page and the API docs work on a machine without internet.

- `/assets/...`: GOV.UK Frontend's fonts, images and manifest, then MOJ Frontend's images (their
  stylesheets refer to `/assets/fonts/...` and `/assets/images/...`).
- `/static/govuk/`, `/static/moj/`, `/static/swagger-ui/`, `/static/redoc/`, `/static/pages/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = PROJECT_ROOT / "node_modules"
PAGES_STATIC = Path(__file__).resolve().parent / "static"

GOVUK = NODE_MODULES / "govuk-frontend" / "dist" / "govuk"
MOJ = NODE_MODULES / "@ministryofjustice" / "frontend" / "moj"

#: URL prefix -> folders searched in order.
MOUNTS: dict[str, tuple[Path, ...]] = {
    "/assets": (GOVUK / "assets", MOJ / "assets"),
    "/static/govuk": (GOVUK,),
    "/static/moj": (MOJ,),
    "/static/swagger-ui": (NODE_MODULES / "swagger-ui-dist",),
    "/static/redoc": (NODE_MODULES / "redoc" / "bundles",),
    "/static/pages": (PAGES_STATIC,),
}

#: Assets carry no personal data: browsers may keep them for an hour.
ASSET_CACHE_CONTROL = b"public, max-age=3600"


class AssetFiles(StaticFiles):
    """Static files from several folders, the first that has the file winning, cacheable."""

    def __init__(self, directories: tuple[Path, ...]) -> None:
        super().__init__(directory=directories[0], check_dir=False)
        self.all_directories = [str(d) for d in directories]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message["headers"] = [*message.get("headers", []), (b"cache-control", ASSET_CACHE_CONTROL)]
            await send(message)

        await super().__call__(scope, receive, _send)


def missing_assets() -> list[str]:
    """The asset folders that are not installed (run scripts/bootstrap.sh)."""
    return [str(d) for dirs in MOUNTS.values() for d in dirs if not d.is_dir()]


def mount_assets(app: FastAPI) -> None:
    for prefix, directories in MOUNTS.items():
        app.mount(prefix, AssetFiles(directories), name=prefix.strip("/").replace("/", "-"))
