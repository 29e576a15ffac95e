"""What the tests of the Temporal UI and CLI need: a dev server of their own with its UI on, set up as
`scripts/run.sh` sets it up (`--ui-codec-endpoint http://localhost:<api port>/codec`), the app on that
port with `CASEWORK_UI_ORIGIN` the UI's origin, a worker, one account and one access key per kind of
person, an overdue case opened by the school's key, and Debian's Chromium.

`localhost` (never `127.0.0.1`) for both the API and the UI: the two are then the same site, so the
session cookie (SameSite=Lax) goes with the UI's credentialed fetch of the codec."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.search_attributes import ALL_KEYS
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from tests.api_world import case_worker, migrate_and_create_keys
from tests.browser_world import ARTIFACTS, chromium_or_skip, create_people, screenshots_if_failed, serving
from tests.support import dev_server_path, eventually, free_port, make_settings, school_days_around_today

HEALTH = "Leukaemia treatment; immunosuppressed until March"
CHILD = ("Ada", "Byron")
#: The task a case notified after its 15th school day of absence is late with from the start.
OVERDUE_TASK = "Provision due by the 15th school day of absence"


@dataclass(frozen=True)
class UiServer:
    env: WorkflowEnvironment
    api_port: int
    ui_port: int

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    @property
    def address(self) -> str:
        return self.env.client.service_client.config.target_host


@dataclass
class UiWorld:
    server: UiServer
    settings: Settings
    api_url: str
    #: who -> access key: school (120001), caseworker, supervisor
    keys: dict[str, str]
    browser: Any
    client: Client
    #: Every page opened (`new_page`), screenshotted into test-artifacts/ when the test fails.
    pages: list[Any] = field(default_factory=list)

    async def new_page(self) -> Any:
        context = await self.browser.new_context(viewport={"width": 1400, "height": 1100})
        page = await context.new_page()
        self.pages.append(page)
        return page

    @property
    def codec_url(self) -> str:
        return f"{self.api_url}/codec"

    async def overdue_case(self) -> str:
        """A case the school notifies after its 15th school day of absence: overdue from the start
        (`Overdue = true`); answers its reference once the search index has it as overdue."""
        absence = school_days_around_today().past[-20:]
        body = {
            "school_urn": "120001",
            "child": {"given_name": CHILD[0], "family_name": CHILD[1], "date_of_birth": "2013-05-04",
                      "upn": "A123456789012"},
            "parent": {"name": "Anne Byron", "email": "anne@family.example"},
            "first_day_of_absence": absence[0].isoformat(),
            "reason": "physical_illness",
            "health_summary": HEALTH,
            "absence_days": [d.isoformat() for d in absence],
        }
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as api:
            r = await api.post("/cases", json=body, headers={"Authorization": f"Bearer {self.keys['school']}"})
        assert r.status_code == 201, r.text
        ref: str = r.json()["case_ref"]

        async def listed_as_overdue() -> bool:
            query = f"WorkflowId = '{ref}' AND Overdue = true"
            return bool([w async for w in self.client.list_workflows(query)])

        await eventually(listed_as_overdue, what=f"{ref} listed with Overdue = true")
        return ref

    async def access_records(self, case_ref: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as api:
            r = await api.get("/access-records", params={"case_ref": case_ref},
                              headers={"Authorization": f"Bearer {self.keys['supervisor']}"})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture(scope="module")
async def ui_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[UiServer]:
    """The dev server with its UI, the UI's codec endpoint the API's `/codec` on a port chosen now
    (each test's app listens on it in turn)."""
    api_port, ui_port = free_port(), free_port()
    base = make_settings(tmp_path_factory.mktemp("temporal-ui"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        search_attributes=ALL_KEYS,
        data_converter=build_data_converter(base),
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"http://localhost:{api_port}/codec"],
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        yield UiServer(env, api_port, ui_port)
    finally:
        await env.shutdown()


@pytest.fixture
async def ui_world(ui_server: UiServer, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[UiWorld]:
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    settings = make_settings(
        tmp_path,
        api_port=ui_server.api_port,
        ui_origin=ui_server.ui_url,
        temporal_address=ui_server.address,
        task_queue=f"temporal-ui-{uuid.uuid4().hex}",
    )
    create_people(settings)
    keys = migrate_and_create_keys(settings.database_url, {
        "school": ("school-120001", "school", ["120001"]),
        "caseworker": ("officer-jb", "caseworker", None),
        "supervisor": ("supervisor-1", "supervisor", None),
    })
    async with (
        case_worker(ui_server.env.client, settings),
        serving(settings) as api_url,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        world = UiWorld(ui_server, settings, api_url, keys, browser, ui_server.env.client)
        try:
            yield world
        finally:
            await screenshots_if_failed(request, world.pages)
            await browser.close()


__all__ = ["ARTIFACTS", "CHILD", "HEALTH", "OVERDUE_TASK", "UiServer", "UiWorld", "ui_server", "ui_world"]
