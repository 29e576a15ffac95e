"""The `api` fixture: the app on the seeded read model, Temporal unreachable, an HTTP client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from tests.api_without_temporal.stub_api import Api, seed
from tests.support import free_port, make_settings


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}", max_document_bytes=4096)
    tokens = seed(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings, tokens)
