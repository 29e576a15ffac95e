"""Each case action as a form: its fields in the words a caseworker uses, and how the posted form
becomes the action's command data. The command itself (`domain.case_transitions.COMMAND_TYPES`) is
validated where the API validates it; a refusal names the form's field (`field_id`).

Field names are the command's own, dotted for nested fields (`provisions.0.kind`), so the API's
error for `body.provisions.0.kind` lands beside the field that caused it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from starlette.datastructures import FormData

from domain.case_commands import (
    CloseOutcome,
    ConsentDecision,
    DecisionOutcome,
    EvidenceKind,
    ReviewOutcome,
)
from domain.people import ProfessionalRole
from domain.provision import ProvisionKind
from domain.stages import Action

#: Choices whose value does not read well as words.
LABELS: dict[str, str] = {
    "la_provision": "The council arranges education",
    "school_work": "The school provides work, with our advice",
    "more_evidence": "Ask for more evidence first",
    "gp": "GP",
    "camhs": "CAMHS",
    "ehc_plan_route": "EHC plan route",
}


def enum_choices(kind: type[StrEnum]) -> tuple[tuple[str, str], ...]:
    return tuple((m.value, LABELS.get(m.value, m.value.replace("_", " ").capitalize())) for m in kind)


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    #: text, textarea, date, number, radios, select, checkboxes, lines (one value a line), file
    kind: str = "text"
    hint: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    #: Choices that come from the case (professionals, officers): filled in when the form is shown.
    choices_from: str | None = None
    optional: bool = False
    #: The error when it is left empty ("Enter the meeting date"); else made from `called` or the label.
    missing: str | None = None
    #: How a sentence names the field when its label does not read as one ("The date of the change").
    called: str | None = None
    #: The error when what was typed is not a value of its kind; else "... must be a real date" etc.
    invalid: str | None = None

    @property
    def id(self) -> str:
        return field_id(self.name)


@dataclass(frozen=True)
class ActionForm:
    action: Action
    title: str
    button: str
    fields: tuple[FormField, ...] = ()
    #: Turns the parsed fields into the command's data, when they differ.
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, compare=False)
    #: The command's name for a field (as an error's field id) -> the form field's id, when they differ.
    aliases: tuple[tuple[str, str], ...] = ()
    #: Fields of which one is enough (the first one's `missing` says so); the others are required.
    one_of: tuple[str, ...] = ()


#: Fields whose value is picked, not typed: "Select ...", not "Enter ...".
CHOICE_KINDS = frozenset({"radios", "select", "checkboxes"})


def field_id(name: str) -> str:
    return name.replace(".", "-").replace("_", "-")


def _professional(data: dict[str, Any]) -> dict[str, Any]:
    """The consent form names one professional; their id is made from their role."""
    name = data.pop("professional_name", None)
    role = data.pop("professional_role", None)
    email = data.pop("professional_email", None)
    if name or role:
        data["professionals"] = [
            {"id": f"{(role or 'other').replace('_', '-')}-1", "name": name, "role": role, "email": email}
        ]
    return data


FORMS: dict[Action, ActionForm] = {
    f.action: f
    for f in (
        ActionForm(Action.RECORD_ABSENCE_DAYS, "Record school days missed", "Record days missed", (
            FormField("days", "School days missed", "lines", hint="One date a line, for example 19/1/2026",
                      missing="Enter the school days missed, or the expected return date",
                      invalid="Each school day missed must be a real date, for example 19/1/2026"),
            FormField("expected_return", "Expected return to school", "date", optional=True,
                      called="The expected return date"),
        ), one_of=("days", "expected_return")),
        ActionForm(Action.REQUEST_CONSENT, "Ask the parent for consent", "Send the consent request"),
        ActionForm(Action.RECORD_CONSENT, "Record the parent's consent decision", "Record consent", (
            FormField("decision", "The parent's decision", "radios", choices=enum_choices(ConsentDecision),
                      missing="Select the parent's decision"),
            FormField("professional_name", "Health professional the parent agreed we may contact",
                      optional=True, hint="For example, Dr A Consultant",
                      missing="Enter the name of the health professional the parent agreed we may contact"),
            FormField("professional_role", "Their role", "select", choices=enum_choices(ProfessionalRole), optional=True,
                      missing="Select the health professional's role"),
            FormField("professional_email", "Their email address", optional=True,
                      invalid="Enter their email address in the correct format, like name@example.com"),
        ), shape=_professional, aliases=(("professionals-0-name", "professional-name"),
                                         ("professionals-0-role", "professional-role"),
                                         ("professionals-0-email", "professional-email"),
                                         ("professionals-0-id", "professional-role"))),
        ActionForm(Action.REQUEST_EVIDENCE, "Ask health professionals for evidence", "Send evidence requests", (
            FormField("professional_ids", "Ask", "checkboxes", choices_from="professionals",
                      missing="Select who to ask for evidence"),
        )),
        ActionForm(Action.RECORD_EVIDENCE, "Record evidence received", "Upload and record evidence", (
            FormField("document", "The letter or document", "file", hint="PDF, Word (.docx), PNG, JPEG or plain text",
                      missing="Choose the letter or document to upload"),
            FormField("kind", "What it is", "select", choices=enum_choices(EvidenceKind), missing="Select what the evidence is"),
            FormField("professional_id", "Who sent it", "select", choices_from="professionals", optional=True,
                      missing="Select who sent it"),
        ), aliases=(("document-ref", "document"),)),
        ActionForm(Action.DECIDE, "Decide the referral", "Record the decision", (
            FormField("outcome", "Decision", "radios", choices=enum_choices(DecisionOutcome), missing="Select a decision"),
            FormField("reason", "Reasons (the parent's letter gives them)", "textarea",
                      missing="Enter the reasons for the decision", called="The reasons"),
        )),
        ActionForm(Action.COMMISSION_PROVISION, "Commission provision", "Commission provision", (
            FormField("provisions.0.kind", "Kind of provision", "select", choices=enum_choices(ProvisionKind),
                      missing="Select the kind of provision"),
            FormField("provisions.0.provider", "Provider", missing="Enter the provider", called="The provider"),
            FormField("provisions.0.hours_per_week", "Hours a week", "number", missing="Enter the hours a week"),
            FormField("provisions.0.start_date", "Start date", "date", missing="Enter the start date"),
            FormField("provisions.0.weekly_cost", "Weekly cost in pounds", "number", missing="Enter the weekly cost in pounds",
                      called="The weekly cost"),
            FormField("officer", "Named education officer", "select", choices_from="officers", optional=True,
                      missing="Select the named education officer"),
            FormField("part_time_health_reason", "If part time: why full time is not in the child's interests "
                      "for health reasons", "textarea", optional=True),
        )),
        ActionForm(Action.ASSIGN_OFFICER, "Name the education officer", "Name the officer", (
            FormField("officer", "Named education officer", "select", choices_from="officers",
                      missing="Select the named education officer"),
        )),
        ActionForm(Action.SCHEDULE_REVIEW, "Schedule a TAS review", "Schedule the review", (
            FormField("on", "Meeting date", "date", missing="Enter the meeting date"),
        )),
        ActionForm(Action.RECORD_REVIEW_OUTCOME, "Record a review's outcome", "Record the outcome", (
            FormField("outcome", "Outcome", "radios", choices=enum_choices(ReviewOutcome), missing="Select the outcome"),
            FormField("held_on", "Date the meeting was held", "date", missing="Enter the date the meeting was held"),
            FormField("notes", "Notes", "textarea", optional=True),
            FormField("close_outcome", "If closing: why", "select", choices=enum_choices(CloseOutcome), optional=True,
                      missing="Select why the case closes"),
        )),
        ActionForm(Action.RECORD_HOSPITAL_ADMISSION, "Record a hospital admission", "Record the admission", (
            FormField("admitted_on", "Admitted on", "date", missing="Enter the date of admission",
                      called="The date of admission"),
            FormField("hospital", "Hospital", missing="Enter the hospital", called="The hospital"),
        )),
        ActionForm(Action.RECORD_HOSPITAL_DISCHARGE, "Record a hospital discharge", "Record the discharge", (
            FormField("discharged_on", "Discharged on", "date", missing="Enter the date of discharge",
                      called="The date of discharge"),
        )),
        ActionForm(Action.AGREE_REINTEGRATION_PLAN, "Agree a reintegration plan", "Agree the plan", (
            FormField("start_date", "Part-time timetable starts", "date", missing="Enter the date the part-time timetable starts",
                      called="The start of the part-time timetable"),
            FormField("end_date", "Full time by", "date", hint="A part-time timetable must have an end date",
                      missing="Enter the date the child will be full time by", called="The full-time date"),
            FormField("hours_per_week", "Hours a week", "number", missing="Enter the hours a week"),
        )),
        ActionForm(Action.EXTEND_REINTEGRATION, "Extend the reintegration plan", "Extend the plan", (
            FormField("new_end_date", "New end date", "date", missing="Enter the new end date"),
            FormField("reason", "Reason for the extension", "textarea", missing="Enter the reason for the extension"),
        )),
        ActionForm(Action.CONFIRM_FULL_TIME_RETURN, "Confirm the child is back full time", "Confirm the return", (
            FormField("returned_on", "Back full time from", "date", missing="Enter the date the child was back full time",
                      called="The date the child was back full time"),
        )),
        ActionForm(Action.CHANGE_SCHOOL, "Record a change of school", "Record the change", (
            FormField("new_school_urn", "New school's URN", hint="6 digits", missing="Enter the new school's URN",
                      invalid="The new school's URN must be 6 digits"),
            FormField("effective_on", "From", "date", missing="Enter the date of the change", called="The date of the change"),
        )),
        ActionForm(Action.ADD_NOTE, "Add a note", "Add the note", (
            FormField("text", "Note", "textarea", missing="Enter the note", called="The note"),
        )),
        ActionForm(Action.CLOSE, "Close the case", "Close the case", (
            FormField("outcome", "Why the case closes", "select", choices=enum_choices(CloseOutcome),
                      missing="Select why the case closes"),
            FormField("reason", "Details", "textarea", optional=True, called="The details"),
            FormField("closed_on", "Closed on", "date", optional=True, called="The closing date"),
        )),
        ActionForm(Action.REOPEN, "Reopen the case (closed in error)", "Reopen the case", (
            FormField("reason", "Why the closure was wrong", "textarea", missing="Enter why the closure was wrong"),
        )),
    )
}

assert set(FORMS) == set(Action), "every action needs a form"  # noqa: S101

_SPLIT = re.compile(r"[\s,;]+")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def iso_date(text: str) -> str:
    """`27/3/2026` (as people write dates here) -> `2026-03-27`; anything else is left for the command
    to accept or refuse."""
    match = _DAY_MONTH_YEAR.match(text.strip())
    if match is None:
        return text.strip()
    day, month, year = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


#: Sent in place of a date field's text when it is not a real date: the command then refuses it as a
#: date (left as typed, "0" or "20" would be read as seconds since 1970).
NOT_A_DATE = "not a date"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_or_not(text: str) -> str:
    try:
        if _ISO_DATE.match(text):
            date.fromisoformat(text)
            return text
    except ValueError:
        pass
    return NOT_A_DATE


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`provisions.0.kind` -> data["provisions"][0]["kind"]."""
    parts = dotted.split(".")
    here: Any = data
    for part, following in zip(parts, parts[1:], strict=False):
        key: Any = int(part) if part.isdigit() else part
        if isinstance(here, list):
            while len(here) <= key:
                here.append({})
            here = here[key]
        else:
            here = here.setdefault(key, [] if following.isdigit() else {})
    last = parts[-1]
    if isinstance(here, list):
        while len(here) <= int(last):
            here.append({})
        here[int(last)] = value
    else:
        here[last] = value


def _get(data: dict[str, Any], dotted: str) -> Any:
    here: Any = data
    for part in dotted.split("."):
        try:
            here = here[int(part)] if isinstance(here, list) else here.get(part)
        except (IndexError, AttributeError):
            return None
        if here is None:
            return None
    return here


def labels(fields: Sequence[FormField]) -> dict[str, str]:
    return {f.id: f.label for f in fields}


def left_empty(spec: ActionForm, values: dict[str, str | list[str]]) -> list[FormField]:
    """The form's required fields sent empty (a file is checked where it is stored)."""
    empty = [f for f in spec.fields if f.kind != "file" and not values.get(f.name)]
    if spec.one_of:
        wanted = [f for f in spec.fields if f.name in spec.one_of]
        chosen = [] if any(values.get(f.name) for f in wanted) else wanted[:1]
        return chosen + [f for f in empty if not f.optional and f.name not in spec.one_of]
    return [f for f in empty if not f.optional]


def form_values(fields: Sequence[FormField], form: FormData) -> dict[str, str | list[str]]:
    """What was typed, to show the form again as it was sent."""
    values: dict[str, str | list[str]] = {}
    for f in fields:
        if f.kind == "checkboxes":
            values[f.name] = [str(v) for v in form.getlist(f.name)]
        elif f.kind == "date":
            values[f.name] = iso_date(str(form.get(f.name) or ""))
        elif f.kind != "file":
            values[f.name] = str(form.get(f.name) or "").strip()
    return values


def command_data(spec: ActionForm, values: dict[str, str | list[str]]) -> dict[str, Any]:
    """The command's data from the typed values: empty optional fields left out, lines split."""
    data = data_from(spec.fields, values)
    return spec.shape(data) if spec.shape else data


def data_from(fields: Sequence[FormField], values: dict[str, str | list[str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields:
        if f.kind == "file":
            continue
        value = values.get(f.name)
        if f.kind == "lines" and isinstance(value, str):
            value = [_date_or_not(iso_date(v)) for v in _SPLIT.split(value) if v]
        elif f.kind == "date" and isinstance(value, str) and value:
            value = _date_or_not(value)
        if value in ("", None) or (value == [] and f.kind != "checkboxes"):
            if "." in f.name:  # an empty nested object still names its missing fields one by one
                _set(data, f.name.rsplit(".", 1)[0], _get(data, f.name.rsplit(".", 1)[0]) or {})
            continue
        _set(data, f.name, value)
    return data
