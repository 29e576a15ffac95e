"""The real OpenID Connect provider the sign-in and codec tests start locally (`oidc_provider/provider.mjs`,
the `oidc-provider` npm package), and reading its forms."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from pages.assets import NODE_MODULES, PROJECT_ROOT

PROVIDER = Path(__file__).parent / "oidc_provider" / "provider.mjs"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node and (NODE_MODULES / "oidc-provider").is_dir():
        return node
    message = "node and node_modules/oidc-provider are needed (scripts/bootstrap.sh runs npm ci)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def running_provider(
    port: int, client_id: str, client_secret: str, redirect_uri: str, accounts: Mapping[str, Any],
    **env: str,
) -> AsyncIterator[str]:
    """The provider listening on `port` with one client and these accounts (`env`: its other
    `OIDC_*` settings); answers its issuer."""
    process = await asyncio.create_subprocess_exec(
        node_or_skip(), str(PROVIDER), str(port), client_id, client_secret, redirect_uri, cwd=str(PROJECT_ROOT),
        env={**os.environ, "OIDC_ACCOUNTS": json.dumps(dict(accounts)), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while b"listening" not in (line := await process.stdout.readline()):
                assert line, "the provider exited before listening"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


def first_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The page's first form: its absolute action and its hidden fields."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action, page.text[:800]
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    return str(page.url.join(unescape(action.group(1)))), fields
