"""What the browser tests need: the app under uvicorn on a free port with a real worker on the shared
Temporal dev server, one account per kind of person, Debian's Chromium driven by Playwright (its own browser download is never used), axe-core from node_modules run on every page, and a screenshot of the page
whenever a test fails (in `test-artifacts/`)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.serve import server_config
from infra.accounts import create_account
from infra.settings import Settings
from pages.assets import NODE_MODULES
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from tests.api_world import case_worker
from tests.support import free_port, make_settings

CHROMIUM = Path("/usr/bin/chromium")
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

PASSWORD = "a long enough test password"
#: Every page axe checked and what it found (written to test-artifacts/axe.json by the journey).
AXE_SEEN: list[dict[str, Any]] = []


async def screenshots_if_failed(request: Any, pages: list[Any]) -> None:
    """Every page a failed test opened, saved to test-artifacts/ as `<test>-<n>.png`."""
    failed = getattr(request.node, "rep_call", None)
    if failed is None or not failed.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    for i, page in enumerate(pages):
        try:
            await page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
        except Exception:  # noqa: BLE001, S110 - a closed page has nothing to show
            pass


#: who -> (username, display name, role, school URNs)
PEOPLE: dict[str, tuple[str, str, str, list[str]]] = {
    "school_a": ("head.oakfield", "Sam Okafor", "school", ["120001"]),
    "school_b": ("head.elmtree", "Lee Park", "school", ["120002"]),
    "caseworker": ("j.bloggs", "Jo Bloggs", "caseworker", []),
    "supervisor": ("p.shah", "Priya Shah", "supervisor", []),
    "finance": ("a.finch", "Alex Finch", "finance", []),
}


def chromium_or_skip() -> Path:
    """Debian's Chromium; under CI a missing browser fails the run instead of skipping it."""
    if CHROMIUM.exists() and shutil.which(str(CHROMIUM)):
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does this as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def create_people(settings: Settings) -> None:
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            for username, display, role, urns in PEOPLE.values():
                create_account(s, username, display, role, PASSWORD, urns)
    finally:
        engine.dispose()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app under uvicorn, as `python -m api.serve` runs it; answers its base URL."""
    config = server_config(settings, create_app(settings))
    config.log_level = "warning"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://localhost:{settings.api_port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Browser:
    base_url: str
    settings: Settings
    browser: Any
    pages: list[Any] = field(default_factory=list)
    #: Content-Security-Policy refusals, script errors and failed assets seen in any page.
    problems: list[str] = field(default_factory=list)

    async def page_for(self, who: str) -> Any:
        """A fresh browser context signed in as `who`, through the sign-in page."""
        context = await self.browser.new_context(base_url=self.base_url)
        page = await context.new_page()
        # A refused page (400, 403, 404) is an answer; a refused script, style or font is a problem.
        page.on("console", lambda m: self.problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)
        self.pages.append(page)
        await page.goto("/")
        await page.get_by_label("Username").fill(PEOPLE[who][0])
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r".*/(school|caseworker|supervisor|finance)/.*"))
        return page


async def assert_accessible(page: Any) -> list[dict[str, Any]]:
    """axe-core on the page as it is now: no serious or critical violation. Answers every violation
    (for the report). axe is evaluated through the DevTools protocol, so the page's policy still
    forbids every script the app did not send."""
    if await page.evaluate("typeof window.axe") == "undefined":
        await page.evaluate(AXE.read_text())
    result = await page.evaluate("axe.run(document).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, "
                                 "help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))")
    AXE_SEEN.append({"url": page.url, "violations": result})
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"
    return result


@pytest.fixture
async def browser_world(temporal_dev_server: Any, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    settings = make_settings(
        tmp_path,
        api_port=free_port(),
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"pages-{uuid.uuid4().hex}",
    )
    create_people(settings)
    async with (
        case_worker(temporal_dev_server.client, settings),
        serving(settings) as base_url,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        world = Browser(base_url, settings, browser)
        try:
            yield world
        finally:
            await screenshots_if_failed(request, world.pages)
            await browser.close()
