"""A supervisor reads a stuck case in the Temporal UI itself (Debian's Chromium, the real dev server's
UI, the real codec): signed in to the pages, with the UI's codec set once as the README says ("Use my
browser setting", the endpoint, "Include cross-origin credentials"), the overdue case's page shows the
decoded input and current details naming the overdue task, and the read is an access record. The
same UI in a caseworker's browser shows no plaintext anywhere on the page (iframes included).

Screenshots of both pages are kept in test-artifacts/ (docs/temporal-ui-supervisor.png is a copy)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser_world import PASSWORD, PEOPLE
from tests.support import eventually
from tests.temporal_ui_world import (  # noqa: F401 - fixtures
    ARTIFACTS,
    CHILD,
    HEALTH,
    OVERDUE_TASK,
    UiWorld,
    ui_server,
    ui_world,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def signed_in(w: UiWorld, who: str) -> Any:
    """A fresh browser signed in to the pages as `who` (the session cookie on localhost)."""
    page = await w.new_page()
    await page.goto(f"{w.api_url}/")
    await page.get_by_label("Username").fill(PEOPLE[who][0])
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/(caseworker|supervisor)/.*"))
    return page


async def set_the_codec_once(page: Any, w: UiWorld) -> None:
    """What the README tells a supervisor to do once in the UI, click for click."""
    await page.goto(f"{w.server.ui_url}/namespaces/default/workflows")
    await page.get_by_role("button", name="Codec Server is configured").click()
    dialog = page.locator("#data-encoder-settings")
    await dialog.get_by_text("Use my browser setting and ignore cluster-level setting.").click()
    await dialog.get_by_placeholder("Paste your endpoint here").fill(w.codec_url)
    await dialog.locator("label").filter(has_text="Include cross-origin credentials").click()
    await dialog.get_by_role("button", name="Apply").click()
    stored = await page.evaluate("({...localStorage})")  # kept in this browser, for this UI origin
    assert stored.get("includeCredentials") == "true" and stored.get("overrideRemoteCodecConfiguration") == "true"
    assert w.codec_url in stored.get("endpoint", "")


async def whole_page_text(page: Any) -> str:
    """The page and every frame in it (the UI renders Markdown, such as current details, in iframes)."""
    texts = []
    for frame in page.frames:
        try:
            texts.append(await frame.content())
        except Exception:  # noqa: BLE001, S112 - a frame gone while reading has nothing to show
            continue
    return "\n".join(texts)


async def current_details(page: Any) -> str:
    """The "Current Details" as shown: the Markdown rendered in its frame."""
    for frame in page.frames:
        if frame != page.main_frame and await frame.locator("text=Stage:").count():
            return " ".join(str(await frame.locator("body").inner_text()).split())
    return ""


async def open_case(page: Any, w: UiWorld, ref: str) -> None:
    """The case's workflow page, as the list's link opens it (its input and timeline first)."""
    await page.goto(f"{w.server.ui_url}/namespaces/default/workflows/{ref}")
    await page.get_by_text("Event History").first.wait_for()


async def open_user_metadata(page: Any) -> None:
    """The page's "User Metadata" tab: the case's summary, details and current details."""
    await page.get_by_text("User Metadata", exact=True).first.click()
    await page.get_by_text("Current Details").first.wait_for()


async def test_a_supervisor_reads_an_overdue_case_decoded_and_a_caseworker_sees_no_plaintext(ui_world: UiWorld) -> None:  # noqa: F811
    w = ui_world
    ref = await w.overdue_case()
    ARTIFACTS.mkdir(exist_ok=True)

    sup = await signed_in(w, "supervisor")
    await set_the_codec_once(sup, w)
    await open_case(sup, w, ref)

    async def input_decoded() -> bool:
        text = await sup.locator("main").inner_text()
        return HEALTH in text and f'"given_name": "{CHILD[0]}"' in text

    await eventually(input_decoded, what="the case's input decoded on its workflow page")
    await sup.screenshot(path=str(ARTIFACTS / "temporal-ui-supervisor-input.png"))

    await open_user_metadata(sup)
    details = await eventually(lambda: current_details(sup), what="the current details rendered")
    assert details.startswith("Stage: notified")
    assert re.search(rf"Overdue \(1\): {re.escape(OVERDUE_TASK)}: decide and commission \(due \w+ \d+ \w+ \d{{4}}\)",
                     details), details
    shown = [" ".join((await f.locator("body").inner_text()).split()) for f in sup.frames if f != sup.main_frame]
    assert f"Case {ref} · school 120001" in shown  # the case's summary
    await sup.screenshot(path=str(ARTIFACTS / "temporal-ui-supervisor.png"))
    assert "Codec Server could not connect" not in await sup.locator("body").inner_text()

    async def recorded() -> list[dict[str, Any]]:
        return [r for r in await w.access_records(ref) if r["what"] == "Temporal history (codec)"]

    records = await eventually(recorded, what="an access record of the supervisor's decode")
    assert [(r["actor_name"], r["actor_role"]) for r in records] == [(PEOPLE["supervisor"][0], "supervisor")]

    # A caseworker with the same setting: the codec refuses them, the UI says it could not connect
    # and shows no plaintext on the timeline, in the input or in the user metadata.
    cw = await signed_in(w, "caseworker")
    await set_the_codec_once(cw, w)
    await open_case(cw, w, ref)
    await cw.locator('[data-testid="data-encoder-status-error"]').first.wait_for()
    await cw.get_by_text("Codec Server could not connect").filter(visible=True).first.wait_for()
    await cw.get_by_text("load_case_rules").filter(visible=True).first.wait_for()  # the timeline is drawn (activity types are plain)
    secrets = (HEALTH, CHILD[0], CHILD[1], "anne@family.example", OVERDUE_TASK, "Until ")
    seen = [secret for secret in secrets if secret in await whole_page_text(cw)]
    await open_user_metadata(cw)
    seen += [secret for secret in secrets if secret in await whole_page_text(cw)]
    await cw.screenshot(path=str(ARTIFACTS / "temporal-ui-caseworker.png"))
    assert not seen, seen
    assert [r["actor_name"] for r in await recorded()] == [PEOPLE["supervisor"][0]]  # the refusal read nothing
