"""The school's pages: notify an absence (the form explains the 15-day point and what happens next),
our pupils' cases (status and next step, no health detail), one pupil's case as the API's school
view shows it, and the two things a school does to a case: record days missed and add a note.

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import select

from api.case_opening import NotifyAbsence, open_or_find_case
from api.case_views import school_view
from api.deps import run_db, services
from domain.case_commands import AbsenceReason
from domain.stages import Action
from infra.accounts import display_names
from pages.action_forms import FORMS, FormField, command_data, data_from, enum_choices, form_values, labels
from pages.case_actions import Refusal, check_form, read_case, refusal_from, run_action, validated
from pages.form_errors import in_users_words
from pages.web import PageRoute, SignedIn, checked_form, render, require_school, see_other
from readmodel import case_queries
from readmodel.case_projection import decrypt_personal
from readmodel.case_search import find_cases
from readmodel.tables import CaseRow

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NOTIFY_FIELDS: tuple[FormField, ...] = (
    FormField("child.given_name", "Child's first name", missing="Enter the child's first name"),
    FormField("child.family_name", "Child's last name", missing="Enter the child's last name"),
    FormField("child.date_of_birth", "Child's date of birth", "date", missing="Enter the child's date of birth",
              called="Date of birth"),
    FormField("child.upn", "Unique pupil number (UPN)", optional=True,
              invalid="The UPN must be a letter, 11 digits, then a letter or a digit, like A12345678901B"),
    FormField("parent.name", "Parent or carer's name", missing="Enter the parent or carer's name"),
    FormField("parent.email", "Parent or carer's email address", optional=True,
              hint="We send the consent request and our decision here",
              invalid="Enter the parent or carer's email address in the correct format, like name@example.com"),
    FormField("first_day_of_absence", "First day of absence", "date", missing="Enter the first day of absence"),
    FormField("expected_return", "Expected return to school", "date", optional=True,
              called="The expected return date"),
    FormField("reason", "Reason for the absence", "radios", choices=enum_choices(AbsenceReason),
              missing="Select the reason for the absence"),
    FormField("health_summary", "What you know about the child's health needs", "textarea", optional=True,
              hint="Only what the Inclusion Service needs to arrange education"),
    FormField("absence_days", "School days already missed this school year", "lines", optional=True,
              hint="One date a line, for example 19/1/2026. Include earlier absences for the same illness.",
              invalid="Each school day already missed must be a real date, for example 19/1/2026"),
)
#: The school the notification is for: a list of its own on the page (only when the account has several).
NOTIFY_SCHOOL = FormField("school_urn", "School", "select", missing="Select the school")
SCHOOL_ACTION_SLUGS: dict[str, Action] = {"absences": Action.RECORD_ABSENCE_DAYS, "notes": Action.ADD_NOTE}


@router.get("/school/cases")
async def our_cases(request: Request, q: str | None = Query(None, max_length=200),
                    who: SignedIn = Depends(require_school)) -> Response:
    keyring = services(request).keyring
    scope = sorted(who.person.school_urns)

    def _rows(session: Any) -> tuple[list[dict[str, Any]], int]:
        if q and q.strip():
            refs = find_cases(session, keyring, q, school_urns=scope)
            rows = list(session.exec(select(CaseRow).where(CaseRow.case_ref.in_(refs)))) if refs else []  # type: ignore[attr-defined]
            total = len(rows)
        else:
            rows, total = case_queries.list_cases(session, school_urns=scope, limit=200)
        return [{"row": r, "child": decrypt_personal(r, keyring)["child"]} for r in rows], total

    cases, total = await run_db(request, _rows)
    return render(request, "school/cases.html", {"title": "Our pupils' cases", "cases": cases, "total": total,
                                                 "q": q or ""}, who=who)


def _notify_page(request: Request, who: SignedIn, values: dict[str, Any], refusal: Refusal | None = None,
                 status_code: int = 200) -> Response:
    refusal = in_users_words(refusal, (*NOTIFY_FIELDS, NOTIFY_SCHOOL)) if refusal else None
    return render(request, "school/notify.html", {
        "title": "Notify an absence through illness",
        "fields": NOTIFY_FIELDS,
        "values": values,
        "field_errors": refusal.fields if refusal else {},
        "errors": refusal.summary(NOTIFY_FIELDS[0].id, labels=labels((*NOTIFY_FIELDS, NOTIFY_SCHOOL))) if refusal else None,
        "idempotency_key": values.get("idempotency_key") or str(uuid.uuid4()),
        "schools": sorted(who.person.school_urns),
        "school_items": [{"value": u, "text": f"URN {u}", "selected": u == values.get("school_urn")}
                         for u in sorted(who.person.school_urns)],
        "threshold": services(request).settings.clocks.absence_threshold_days,
    }, status_code=status_code, who=who)


@router.get("/school/notify")
async def notify_form(request: Request, who: SignedIn = Depends(require_school)) -> Response:
    return _notify_page(request, who, {})


@router.post("/school/notify")
async def notify(request: Request, who: SignedIn = Depends(require_school)) -> Response:
    form = await checked_form(request, who)
    values: dict[str, Any] = form_values(NOTIFY_FIELDS, form)
    values["school_urn"] = str(form.get("school_urn") or "")
    values["idempotency_key"] = str(form.get("idempotency_key") or "")
    data = {**data_from(NOTIFY_FIELDS, values), "school_urn": values["school_urn"]}
    body = validated(NotifyAbsence, data)
    if isinstance(body, Refusal):
        return _notify_page(request, who, values, body, 400)
    try:
        view, created = await open_or_find_case(request, who.principal, body, values["idempotency_key"] or None)
    except Exception as exc:
        refusal = refusal_from(exc)
        if refusal is None:
            raise
        return _notify_page(request, who, values, refusal, 400)
    return render(request, "school/notified.html", {
        "title": "Absence notified", "case": school_view(view), "created": created,
    }, who=who)


async def _case_page(request: Request, who: SignedIn, view: Any, *, action: Action | None = None,
                     values: dict[str, Any] | None = None, refusal: Refusal | None = None,
                     done: str | None = None, status_code: int = 200) -> Response:
    case = school_view(view)
    officer = case.officer
    if refusal and action:
        refusal = in_users_words(refusal, FORMS[action].fields, dict(FORMS[action].aliases))
    names = await run_db(request, lambda s: display_names(s, [officer] if officer else []))
    forms = [FORMS[Action(a)] for a in case.allowed_actions]
    return render(request, "school/case.html", {
        "title": f"{case.child.given_name} {case.child.family_name}",
        "case": case,
        "officer_name": names.get(officer or ""),
        "forms": forms,
        "failed_action": action,
        "values": values or {},
        "field_errors": refusal.fields if refusal else {},
        "errors": refusal.summary(prefix=f"{action.value}-", labels=labels(FORMS[action].fields))
        if refusal and action else None,
        "done": done,
        "idempotency_key": str(uuid.uuid4()),
        "slugs": {a: s for s, a in SCHOOL_ACTION_SLUGS.items()},
    }, status_code=status_code, who=who)


@router.get("/school/cases/{case_ref}")
async def pupil_case(request: Request, case_ref: str, done: str | None = None,
                     who: SignedIn = Depends(require_school)) -> Response:
    view = await read_case(request, who, case_ref, "school case page")
    return await _case_page(request, who, view, done=FORMS[Action(done)].title if done in Action._value2member_map_ else None)


@router.post("/school/cases/{case_ref}/{slug}")
async def pupil_case_action(request: Request, case_ref: str, slug: str,
                            who: SignedIn = Depends(require_school)) -> Response:
    action = SCHOOL_ACTION_SLUGS.get(slug)
    if action is None:
        return render(request, "error.html", {"title": "Page not found", "detail": ""}, status_code=404, who=who)
    form = await checked_form(request, who)
    spec = FORMS[action]
    values = form_values(spec.fields, form)
    data = command_data(spec, values)
    outcome = check_form(spec, values, data, who.principal) or await run_action(
        request, who, case_ref, action, data, str(form.get("idempotency_key") or ""))
    if isinstance(outcome, Refusal):
        view = await read_case(request, who, case_ref, "school case page")
        return await _case_page(request, who, view, action=action, values=values, refusal=outcome, status_code=400)
    return see_other(f"/school/cases/{case_ref}?done={action.value}")
