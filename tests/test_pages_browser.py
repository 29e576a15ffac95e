"""The pages in a real browser (Debian's Chromium through Playwright) against the real dev server and
a worker: one journey through pages only, from a school's notification to the full-time return, with
axe-core on every page; and who can see which page.

Dates come from the real school calendar around today, as the dev server runs in real time."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser_world import ARTIFACTS, AXE_SEEN, Browser, assert_accessible, browser_world  # noqa: F401
from tests.support import recent_school_days
from tests.test_api_cases_e2e import PDF, school_days_around_today

pytestmark = pytest.mark.slow

HEALTH = "Leukaemia treatment; immunosuppressed until March"


def dmy(d: Any) -> str:
    return f"{d.day}/{d.month}/{d.year}"


async def act(page: Any, title: str, fill: dict[str, str] | None = None, *, choose: dict[str, str] | None = None,
              check: list[str] | None = None, files: dict[str, Any] | None = None, refused: str | None = None) -> None:
    """From the case page, open the action's own page, fill its form in, send it and see it done on the
    case page (or, with `refused`, see the API's reason in the error summary)."""
    heading = page.get_by_role("heading", name=title, exact=True)
    if await heading.count() == 0:  # not still on this action's page after a refusal
        await page.get_by_role("link", name=title, exact=True).click()
        await heading.wait_for()
        await assert_accessible(page)
    form = page.locator("main form")
    for label, value in (fill or {}).items():
        await form.get_by_label(label, exact=True).fill(value)
    for label, value in (choose or {}).items():
        await form.get_by_label(label, exact=True).select_option(value)
    for label in check or []:
        await form.get_by_label(label, exact=True).check()
    for label, payload in (files or {}).items():
        await form.get_by_label(label, exact=True).set_input_files(payload)
    await form.locator("button[type=submit]").click()
    if refused is None:
        await page.get_by_text(f"{title}: done.").wait_for()
    else:
        summary = page.locator(".govuk-error-summary")
        await summary.wait_for()
        assert refused in await summary.inner_text()
        assert await page.evaluate("document.activeElement.classList.contains('govuk-error-summary')")
    await assert_accessible(page)


async def tab_to(page: Any, name: str, within: int = 40) -> None:
    """Press Tab until the field named `name` has the focus, as a keyboard user does."""
    for _ in range(within):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.name") == name:
            return
    raise AssertionError(f"Tab never reached {name}")


# The whole journey in a browser takes 60-110 s on the shared 2-core machine (load 5-20): more than the
# suite's 120 s default leaves room for.
@pytest.mark.timeout(300)
async def test_a_case_through_the_pages_from_notification_to_full_time_return(browser_world: Browser) -> None:  # noqa: F811
    w = browser_world
    days = school_days_around_today()
    missed = recent_school_days(8)

    # 1. The school signs in and notifies with the keyboard only.
    school = await w.page_for("school_a")
    await assert_accessible(school)
    await school.get_by_role("link", name="Notify an absence").first.click()
    await school.get_by_text("15 school days or more").wait_for()
    await assert_accessible(school)
    await school.get_by_label("Child's first name").focus()
    keys = [
        "Ada", "Byron", "4/5/2013", "A123456789012", "Anne Byron", "anne@family.example",
        dmy(missed[0]), "",
    ]
    for text in keys:
        if text:
            await school.keyboard.type(text)
        await school.keyboard.press("Tab")
    await school.keyboard.press("Space")  # the first reason: physical illness
    await school.keyboard.press("Tab")
    await school.keyboard.type(HEALTH)
    await school.keyboard.press("Tab")
    await school.keyboard.type("\n".join(dmy(d) for d in missed))
    await school.keyboard.press("Tab")
    await school.keyboard.press("Enter")
    await school.get_by_role("heading", name="Absence notified").wait_for()
    await assert_accessible(school)
    ref = (await school.locator(".govuk-panel__body strong").inner_text()).strip()
    assert re.fullmatch(r"MN-\d\d-[0-9A-Z]{6}", ref)

    # A form sent empty asks for each field in an error summary, in the users' words.
    await school.goto("/school/notify")
    await school.get_by_role("button", name="Send the notification").click()
    summary = school.locator(".govuk-error-summary")
    await summary.wait_for()
    assert "Enter the child's first name" in await summary.inner_text()
    assert "Field required" not in await summary.inner_text()
    await summary.get_by_role("link", name="Enter the child's first name").click()
    assert await school.evaluate("document.activeElement.id") == "child-given-name"
    await assert_accessible(school)

    # 2. The caseworker finds the child by name in the caseload and opens the case.
    cw = await w.page_for("caseworker")
    await assert_accessible(cw)
    await cw.goto("/caseworker/caseload")
    await cw.get_by_label("Name, UPN or date of birth").fill("byron ADA")
    await cw.get_by_role("button", name="Apply filters").click()
    await cw.get_by_text("1 case", exact=True).wait_for()
    await assert_accessible(cw)
    await cw.get_by_role("link", name="Ada Byron").click()
    await cw.get_by_role("heading", name=re.compile("Ada Byron")).wait_for()
    await assert_accessible(cw)
    assert HEALTH in await cw.content()

    # 3. Consent, evidence (with an upload), decision: one form each, and only those allowed now.
    assert await cw.get_by_role("link", name="Commission provision").count() == 0
    await act(cw, "Ask the parent for consent")
    await act(cw, "Record the parent's consent decision",
              {"Health professional the parent agreed we may contact (optional)": "Dr A Consultant",
               "Their email address (optional)": "consultant@nhs.example"},
              choose={"Their role (optional)": "consultant"}, check=["Granted"])
    await act(cw, "Ask health professionals for evidence", check=["Dr A Consultant (consultant)"])
    await act(cw, "Record evidence received", choose={"What it is": "consultant_letter"},
              files={"The letter or document": {"name": "letter.pdf", "mimeType": "application/pdf", "buffer": PDF}})
    assert await cw.get_by_role("link", name=re.compile("Consultant letter")).count() == 1
    await act(cw, "Decide the referral", {"Reasons (the parent's letter gives them)": "Consultant confirms absence"},
              check=["The council arranges education"])

    # 4. Provision with a named officer, a TAS review, a part-time plan, the full-time return.
    await act(cw, "Commission provision", {
        "Provider": "County Home Tuition Service", "Hours a week": "25",
        "Start date": dmy(days.past[-3]), "Weekly cost in pounds": "450.00",
    }, choose={"Kind of provision": "home_tuition", "Named education officer (optional)": "j.bloggs"})
    # One case action with the keyboard only: its link, its date, its button.
    await cw.get_by_role("link", name="Schedule a TAS review", exact=True).focus()
    await cw.keyboard.press("Enter")
    await cw.get_by_role("heading", name="Schedule a TAS review").wait_for()
    await tab_to(cw, "on")
    await cw.keyboard.type(dmy(days.next[0]))
    await cw.keyboard.press("Tab")
    await cw.keyboard.press("Enter")
    await cw.get_by_text("Schedule a TAS review: done.").wait_for()
    await act(cw, "Record a review's outcome", {"Date the meeting was held": dmy(days.today)},
              check=["Start reintegration"])
    # A plan that ends before it starts is refused with the API's reason, in an error summary.
    plan = {"Part-time timetable starts": dmy(days.next[1]), "Hours a week": "15"}
    await act(cw, "Agree a reintegration plan", {**plan, "Full time by": dmy(days.next[0])},
              refused="end_date must be after start_date")
    await act(cw, "Agree a reintegration plan", {**plan, "Full time by": dmy(days.next[5])})
    assert "full time by" in (await cw.locator("#plan + p").inner_text()).lower()
    ARTIFACTS.mkdir(exist_ok=True)  # the README's picture of the case page (docs/case-page.png)
    await cw.goto(f"/caseworker/cases/{ref}")
    await cw.set_viewport_size({"width": 1100, "height": 1400})
    await cw.screenshot(path=str(ARTIFACTS / "case-page.png"))

    # The school sees provision, the officer by name and the plan; never health detail or evidence.
    await school.goto(f"/school/cases/{ref}")
    text = await school.locator("main").inner_text()
    assert "Jo Bloggs" in text and "Home tuition" in text and "Part-time timetable" in text
    assert HEALTH not in text and "consultant" not in text.lower()
    await assert_accessible(school)
    await school.get_by_label("Note", exact=True).fill("Ada attended a morning session.")
    await school.get_by_role("button", name="Add the note").click()
    await school.get_by_text("Add a note: done.").wait_for()

    # Another school sees neither the case nor it in its list.
    other = await w.page_for("school_b")
    answer = await other.goto(f"/school/cases/{ref}")
    assert answer.status == 404
    await other.goto("/school/cases")
    assert "Ada" not in await other.locator("main").inner_text()

    # 5. Back full time: the case closes, and then offers no action.
    await cw.reload()
    await act(cw, "Confirm the child is back full time", {"Back full time from": dmy(days.past[-1])})
    assert "Nothing can be done to this case now." in await cw.locator("main").inner_text()
    timeline = await cw.locator(".moj-timeline").inner_text()
    assert "Jo Bloggs" in timeline and "Sam Okafor" in timeline

    # 6. The supervisor sees the access records by name; finance sees the recoupment and no health data.
    sup = await w.page_for("supervisor")
    await assert_accessible(sup)
    await sup.goto(f"/supervisor/access?case_ref={ref}")
    assert "Jo Bloggs (caseworker)" in await sup.locator("main").inner_text()
    await assert_accessible(sup)
    fin = await w.page_for("finance")
    for _ in range(80):
        await fin.goto("/finance/recoupment")
        if ref in await fin.locator("main").inner_text():
            break
        await fin.wait_for_timeout(250)
    text = await fin.locator("main").inner_text()
    assert ref in text and "120001" in text and "Ada" not in text and HEALTH not in text
    await assert_accessible(fin)
    async with fin.expect_download() as download:
        await fin.get_by_role("link", name="Download every line (CSV)").click()
    assert ref in (await (await download.value).path()).read_text()
    assert (await fin.goto(f"/caseworker/cases/{ref}")).status == 403

    # 7. Every case page for every kind of person, own school and other school: no leak.
    document = await cw.get_by_role("link", name=re.compile("Consultant letter")).get_attribute("href")
    staff_only = {"school_a": 403, "school_b": 403, "caseworker": 200, "supervisor": 200, "finance": 403}
    matrix = {
        f"/school/cases/{ref}": {"school_a": 200, "school_b": 404, "caseworker": 403, "supervisor": 403,
                                 "finance": 403},
        f"/caseworker/cases/{ref}": staff_only,
        f"/caseworker/cases/{ref}/actions/add_note": staff_only,
        str(document): staff_only,
        f"/supervisor/access?case_ref={ref}": {**staff_only, "caseworker": 403},
    }
    people = {"school_a": school, "school_b": other, "caseworker": cw, "supervisor": sup, "finance": fin}
    for path, expected in matrix.items():
        for who, page in people.items():
            answer = await page.request.get(path, max_redirects=0)
            assert answer.status == expected[who], (who, path, answer.status)
            if answer.status != 200:
                assert "Ada" not in await answer.text() and HEALTH not in await answer.text(), (who, path)

    # No page broke its policy or raised a script error.
    assert not w.problems, w.problems
    (ARTIFACTS / "axe.json").write_text(json.dumps(AXE_SEEN, indent=1))
