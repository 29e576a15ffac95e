"""The forms' errors in the users' words (the GOV.UK pattern: "Enter the meeting date", "Select a
decision", "Meeting date must be a real date"), never pydantic's ("Field required", "Input should
be ..."), while a rule's refusal keeps the API's reason. Every action form is checked through the
path a posted form takes (its values, the command's validation, the wording, the error summary),
and the notification form through the page itself."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.datastructures import FormData

from api.app import create_app
from api.principal import Principal
from domain.people import Role
from domain.stages import Action
from pages.action_forms import FORMS, ActionForm, command_data, form_values, labels
from pages.case_actions import Refusal, check_form
from pages.form_errors import in_users_words
from tests.api_world import api_client
from tests.browser_world import PEOPLE, create_people
from tests.support import make_settings
from tests.test_sign_in import _token, sign_in

RAW = ("Field required", "value is not a valid", "Input should", "String should", "List should", "Value error",
       "valid date", "datetime", "body.")
CASEWORKER = Principal(name="jo", role=Role.CASEWORKER, school_urns=frozenset())


def refused(spec: ActionForm, sent: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What the page would show for this form posted as `sent`: each field's message, the summary."""
    values = form_values(spec.fields, FormData(sent))
    refusal = check_form(spec, values, command_data(spec, values), CASEWORKER)
    assert refusal is not None, (spec.action, sent)
    worded = in_users_words(refusal, spec.fields, dict(spec.aliases))
    return worded.fields, [e["text"] for e in worded.summary(labels=labels(spec.fields))]


def assert_in_users_words(texts: list[str]) -> None:
    for text in texts:
        assert not any(raw.lower() in text.lower() for raw in RAW), text


@pytest.mark.parametrize("action", [a for a in Action if FORMS[a].fields], ids=str)
def test_an_empty_form_names_each_field_to_fill_in(action: Action) -> None:
    spec = FORMS[action]
    required = [f for f in spec.fields if not f.optional and f.kind != "file"]
    if not required:
        pytest.skip("nothing to fill in")
    fields, summary = refused(spec, {})
    assert_in_users_words(list(fields.values()) + summary)
    for f in required:
        assert fields[f.id] == f.missing and f.missing in summary, (action, f.name, fields)
        assert f.missing.startswith(("Enter ", "Select ", "Choose ")), f.missing


def test_typed_values_that_are_not_dates_or_numbers_are_named() -> None:
    fields, summary = refused(FORMS[Action.SCHEDULE_REVIEW], {"on": "next tuesday"})
    assert fields == {"on": "Meeting date must be a real date"} and summary == ["Meeting date must be a real date"]
    for not_a_date in ("31/2/2026", "0", "20", "2026-13-01"):  # "0" would otherwise be 1 January 1970
        assert refused(FORMS[Action.SCHEDULE_REVIEW], {"on": not_a_date})[0] == {"on": "Meeting date must be a real date"}
    fields, summary = refused(FORMS[Action.COMMISSION_PROVISION], {
        "provisions.0.kind": "home_tuition", "provisions.0.provider": "County", "provisions.0.hours_per_week": "lots",
        "provisions.0.start_date": "1/9/2026", "provisions.0.weekly_cost": "-5"})
    assert fields == {"provisions-0-hours-per-week": "Hours a week must be a number",
                      "provisions-0-weekly-cost": "The weekly cost must be 0 or more"}
    fields, _ = refused(FORMS[Action.AGREE_REINTEGRATION_PLAN], {"start_date": "1/9/2026", "end_date": "1/10/2026",
                                                                 "hours_per_week": "0"})
    assert fields == {"hours-per-week": "Hours a week must be more than 0"}
    fields, _ = refused(FORMS[Action.RECORD_ABSENCE_DAYS], {"days": "5/1/2026\nMonday"})
    assert fields == {"days": "Each school day missed must be a real date, for example 19/1/2026"}
    fields, _ = refused(FORMS[Action.CHANGE_SCHOOL], {"new_school_urn": "12345", "effective_on": "1/9/2026"})
    assert fields == {"new-school-urn": "The new school's URN must be 6 digits"}
    fields, _ = refused(FORMS[Action.RECORD_CONSENT], {"decision": "granted", "professional_name": "Dr A",
                                                       "professional_role": "gp", "professional_email": "dr at nhs"})
    assert fields == {"professional-email": "Enter their email address in the correct format, like name@example.com"}
    # Days missed, or only a new expected return date: either is enough.
    assert check_form(FORMS[Action.RECORD_ABSENCE_DAYS], {"days": "", "expected_return": "2026-02-02"},
                      {"expected_return": "2026-02-02"}, CASEWORKER) is None


def test_a_rules_refusal_keeps_the_apis_reason() -> None:
    spec = FORMS[Action.AGREE_REINTEGRATION_PLAN]
    fields, summary = refused(spec, {"start_date": "1/10/2026", "end_date": "1/9/2026", "hours_per_week": "15"})
    assert fields == {} and summary == ["end_date must be after start_date"]
    # The workflow's own refusal of a field (a rule about this case) keeps its words, after the label.
    rule = Refusal("The command is not valid for this case.", {"on": "must be a school day"}, {"on": "invalid_for_case"})
    worded = in_users_words(rule, FORMS[Action.SCHEDULE_REVIEW].fields)
    assert worded.summary(labels=labels(FORMS[Action.SCHEDULE_REVIEW].fields)) == [
        {"text": "Meeting date: must be a school day", "href": "#on"}]


async def test_the_notification_form_sent_empty_asks_for_each_field(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    create_people(settings)
    async with api_client(create_app(settings), base_url="https://testserver") as c:
        await sign_in(c, PEOPLE["school_a"][0])
        form = await c.get("/school/notify")
        r = await c.post("/school/notify", data={"csrf_token": _token(form), "child.date_of_birth": "soon"})
    assert r.status_code == 400
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', r.text, re.S)
    assert summary, r.text[:1000]
    texts = [html.unescape(re.sub(r"\s+", " ", t)).strip() for t in re.findall(r'<a href="#[^"]+">(.*?)</a>', summary.group(0), re.S)]
    assert_in_users_words(texts)
    for expected in ("Enter the child's first name", "Enter the child's last name", "Date of birth must be a real date",
                     "Enter the parent or carer's name", "Enter the first day of absence",
                     "Select the reason for the absence"):
        assert expected in texts, texts
        assert f"</span> {expected}" in html.unescape(re.sub(r"\s+", " ", r.text))  # beside its field too
