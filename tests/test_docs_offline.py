"""The API's documentation and the pages' assets come from the app itself: `/docs` and `/redoc` work
on a machine without internet, and their policy lets nothing load from anywhere else."""

from __future__ import annotations

import re
from pathlib import Path

from api.app import create_app
from pages.assets import missing_assets
from tests.api_world import api_client, migrate_and_create_keys
from tests.support import make_settings

_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


async def test_docs_and_redoc_load_only_what_the_app_serves(tmp_path: Path) -> None:
    assert missing_assets() == [], "run scripts/bootstrap.sh (npm ci) first"
    settings = make_settings(tmp_path)
    migrate_and_create_keys(settings.database_url, {})
    async with api_client(create_app(settings)) as c:
        for page in ("/docs", "/redoc"):
            r = await c.get(page)
            assert r.status_code == 200
            policy = r.headers["content-security-policy"]
            assert "http" not in policy and "'unsafe-inline'" not in policy.split("style-src")[0], policy
            nonce = re.search(r"'nonce-([^']+)'", policy)
            assert nonce, policy
            # Every inline script carries the answer's nonce; every other one is the app's own file.
            for tag in re.findall(r"<script[^>]*>", r.text):
                assert f'nonce="{nonce.group(1)}"' in tag or 'src="/static/' in tag, tag
            urls = [u for u in _URL.findall(r.text) if not u.startswith("#")]
            assert urls and all(u.startswith("/") for u in urls), urls
            for url in urls:
                asset = await c.get(url)
                assert asset.status_code == 200, url
                assert asset.headers["cache-control"] == "public, max-age=3600"
        # GOV.UK Frontend's stylesheet finds its fonts and images where it looks for them.
        css = (await c.get("/static/govuk/govuk-frontend.min.css")).text
        for url in sorted(set(re.findall(r"url\((/assets/[^)]+)\)", css)))[:6]:
            assert (await c.get(url)).status_code == 200, url
        assert (await c.get("/static/govuk/../../package.json")).status_code == 404
