"""The `api` fixture: the app on the seeded read model, Temporal unreachable, an HTTP client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_without_temporal.stub_api import Api, seeded_api
from tests.support import free_port, make_settings


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}", max_document_bytes=4096)
    async with seeded_api(settings) as api:
        yield api
