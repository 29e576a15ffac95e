"""The caseworker's pages: *My tasks* (overdue, due today, this week, later; by kind; soonest first),
the *Caseload* with filters, and the case page: summary, tasks, timeline, documents (upload and
download), provision, reviews, reintegration plan, recoupment, and a form for every action the case
allows now (and only those). Supervisors use these pages too.

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session, select
from starlette.datastructures import UploadFile

from api.auth import case_not_found, check_case_ref, visible_case_row
from api.deps import record_access, run_db, services
from api.documents import read_document, store_document
from domain.case_actions import offered_to
from domain.case_state import CaseView, TaskKind
from domain.people import Role
from domain.stages import Action, Stage
from infra.accounts import display_names, people_with_role
from infra.document_store import file_name
from pages.action_forms import FORMS, command_data, enum_choices, form_values, labels
from pages.case_actions import Refusal, check_form, read_case, refusal_from, run_action
from pages.form_errors import in_users_words
from pages.web import PageRoute, SignedIn, checked_form, long_date, render, require_staff, see_other, words
from readmodel import case_queries
from readmodel.case_projection import decrypt_personal
from readmodel.case_search import find_cases
from readmodel.tables import CaseRow, DocumentRow

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: A well-formed document reference for checking the evidence form before its upload is stored.
UNSTORED = "doc-" + "0" * 64

#: Cases a caseload page shows (as many as `GET /cases` answers by default).
CASELOAD_PAGE = 50


def _bucket(due: date, today: date) -> str:
    if due < today:
        return "Overdue"
    if due == today:
        return "Due today"
    if due <= today + timedelta(days=7):
        return "Due this week"
    return "Later"


@router.get("/caseworker/tasks")
async def my_tasks(request: Request, kind: str | None = Query(None, max_length=40),
                   who: SignedIn = Depends(require_staff)) -> Response:
    today = datetime.now(UTC).date()
    mine_only = who.person.role is Role.CASEWORKER

    def _read(session: Session) -> list[Any]:
        rows, _ = case_queries.list_tasks(session, assignee_role=Role.CASEWORKER.value, limit=500)
        return [r for r in rows
                if (not mine_only or r.assignee in (None, who.person.username)) and (not kind or r.kind == kind)]

    rows = await run_db(request, _read)
    groups: dict[str, list[Any]] = {name: [] for name in ("Overdue", "Due today", "Due this week", "Later")}
    for row in rows:
        groups[_bucket(row.due_on, today)].append(row)
    kinds = [{"value": "", "text": "All kinds"}] + [
        {"value": v, "text": t, "selected": v == kind} for v, t in enum_choices(TaskKind)
    ]
    return render(request, "caseworker/tasks.html", {
        "title": "My tasks" if mine_only else "Tasks", "groups": groups, "kinds": kinds, "count": len(rows),
    }, who=who)


@router.get("/caseworker/caseload")
async def caseload(
    request: Request,
    stage: str | None = Query(None, max_length=32),
    overdue: bool | None = None,
    stalled: bool | None = None,
    officer: str | None = Query(None, max_length=64),
    school: str | None = Query(None, max_length=6),
    q: str | None = Query(None, max_length=200),
    page: int = Query(1, ge=1, le=10_000),
    who: SignedIn = Depends(require_staff),
) -> Response:
    keyring = services(request).keyring
    offset = (page - 1) * CASELOAD_PAGE
    filters = {"stage": stage or None, "overdue": overdue or None, "stalled": stalled or None,
               "officer": officer or None, "school_urn": school if school and school.isdigit() else None}

    def _read(session: Session) -> tuple[list[CaseloadLine], int]:
        if q and q.strip():
            found = _matching(session, find_cases(session, keyring, q), filters)
            rows, total = found[offset:offset + CASELOAD_PAGE], len(found)
        else:
            rows, total = case_queries.list_cases(session, limit=CASELOAD_PAGE, offset=offset, **filters)
        names = display_names(session, [r.officer for r in rows if r.officer])
        return [_line(r, decrypt_personal(r, keyring)["child"], names) for r in rows], total

    cases, total = await run_db(request, _read)
    stages = [{"value": "", "text": "Any stage"}] + [
        {"value": s.value, "text": s.value.replace("_", " ").capitalize(), "selected": s.value == stage} for s in Stage
    ]
    asked = {k: v for k, v in {"q": q, "stage": stage, "overdue": overdue, "stalled": stalled,
                                "officer": officer, "school": school}.items() if v}

    def _link(to: int) -> dict[str, str]:
        return {"href": "/caseworker/caseload?" + urlencode({**asked, "page": to})}

    pages = -(-total // CASELOAD_PAGE)
    return render(request, "caseworker/caseload.html", {
        "title": "Caseload", "cases": cases, "total": total, "stages": stages, "filters": filters,
        "q": q or "", "first": offset + 1, "last": offset + len(cases),
        "pagination": {"previous": _link(page - 1) if page > 1 else None,
                       "next": _link(page + 1) if page < pages else None},
    }, who=who)


class CaseloadLine(NamedTuple):
    """One caseload row as the page shows it, in words already (the template only places them)."""

    ref: str
    child: str
    school: str
    stage: str
    colour: str
    officer: str
    deadline: str
    overdue: bool
    stalled: bool


def _line(row: CaseRow, child: dict[str, Any], officers: dict[str, str]) -> CaseloadLine:
    return CaseloadLine(
        ref=row.case_ref, child=f"{child['given_name']} {child['family_name']}", school=row.school_urn,
        stage=words(row.stage), colour="grey" if row.stage == Stage.CLOSED.value else "blue",
        officer=officers.get(row.officer, row.officer) if row.officer else "",
        deadline=long_date(row.next_deadline), overdue=bool(row.overdue), stalled=bool(row.stalled),
    )


def _matching(session: Session, refs: list[str], filters: dict[str, Any]) -> list[CaseRow]:
    """The found cases that also pass the filters, the nearest deadline first."""
    rows = list(session.exec(select(CaseRow).where(CaseRow.case_ref.in_(refs)))) if refs else []  # type: ignore[attr-defined]
    wanted = {k: v for k, v in filters.items() if v is not None}
    rows = [r for r in rows if all(getattr(r, k) == v for k, v in wanted.items())]
    return sorted(rows, key=lambda r: (r.next_deadline is None, r.next_deadline or date.max, r.case_ref))


def _choices_for(view: CaseView, people: list[Any]) -> dict[str, list[tuple[str, str]]]:
    officers = [(p.username, p.display_name) for p in people]
    if view.state.officer and view.state.officer not in {o for o, _ in officers}:
        officers.append((view.state.officer, view.state.officer))
    return {
        "professionals": [(p.id, f"{p.name} ({p.role.value.replace('_', ' ')})") for p in view.state.professionals],
        "officers": officers,
    }


async def _case_page(request: Request, who: SignedIn, view: CaseView, *, done: str | None = None) -> Response:
    ref = view.state.case_ref
    principal = who.principal

    def _read(session: Session) -> tuple[list[DocumentRow], dict[str, str]]:
        record_access(session, principal, ref, "case page")
        documents = list(session.exec(
            select(DocumentRow).where(DocumentRow.case_ref == ref).order_by(DocumentRow.stored_at)))
        names = [e.actor.name for e in view.state.timeline] + [n.actor.name for n in view.state.notes]
        names += [view.state.officer or ""] + [d.stored_by for d in documents]
        names += [t.assignee for t in view.pending_tasks if t.assignee]
        return documents, display_names(session, names)

    documents, names = await run_db(request, _read)
    s = view.state
    threshold = services(request).settings.clocks.absence_threshold_days
    return render(request, "caseworker/case.html", {
        "title": f"{s.child.given_name} {s.child.family_name}",
        "view": view, "s": s, "names": names, "documents": documents,
        "file_name": file_name, "threshold": threshold,
        "forms": [FORMS[Action(a)] for a in offered_to(who.person.role, view.allowed_actions)
                  if a in Action._value2member_map_],
        "done": done,
        "recoupment_total": sum((line.amount for line in s.recoupment_lines), start=0),
    }, who=who)


@router.get("/caseworker/cases/{case_ref}")
async def case_page(request: Request, case_ref: str, done: str | None = Query(None, max_length=40),
                    who: SignedIn = Depends(require_staff)) -> Response:
    view = await read_case(request, who, case_ref, "case page", record=False)  # recorded with the page's reads
    title = FORMS[Action(done)].title if done in Action._value2member_map_ else None
    return await _case_page(request, who, view, done=title)


async def _action_page(request: Request, who: SignedIn, view: CaseView, action: Action, *,
                       values: dict[str, Any] | None = None, refusal: Refusal | None = None,
                       status_code: int = 200) -> Response:
    """One action's form on a page of its own (one thing per page), or why it cannot be done now."""
    spec = FORMS[action]
    people = await run_db(request, lambda s: people_with_role(s, Role.CASEWORKER) + people_with_role(s, Role.SUPERVISOR))
    s = view.state
    refusal = in_users_words(refusal, spec.fields, dict(spec.aliases)) if refusal else None
    return render(request, "caseworker/action.html", {
        "title": spec.title, "spec": spec, "s": s,
        "allowed": action.value in offered_to(who.person.role, view.allowed_actions),
        "choices": _choices_for(view, people), "values": values or {},
        "field_errors": refusal.fields if refusal else {},
        "errors": refusal.summary(prefix=f"{action.value}-", labels=labels(spec.fields)) if refusal else None,
        "idempotency_key": str(uuid.uuid4()),
    }, status_code=status_code, who=who)


def _action_of(name: str) -> Action | None:
    return Action(name) if name in Action._value2member_map_ else None


@router.get("/caseworker/cases/{case_ref}/actions/{action_name}")
async def action_form(request: Request, case_ref: str, action_name: str,
                      who: SignedIn = Depends(require_staff)) -> Response:
    action = _action_of(action_name)
    if action is None:
        return render(request, "error.html", {"title": "Page not found", "detail": ""}, status_code=404, who=who)
    view = await read_case(request, who, case_ref, f"case page ({action.value} form)")
    return await _action_page(request, who, view, action)


@router.post("/caseworker/cases/{case_ref}/actions/{action_name}")
async def case_action(request: Request, case_ref: str, action_name: str,
                      who: SignedIn = Depends(require_staff)) -> Response:
    action = _action_of(action_name)
    if action is None:
        return render(request, "error.html", {"title": "Page not found", "detail": ""}, status_code=404, who=who)
    form = await checked_form(request, who)
    spec = FORMS[action]
    values = form_values(spec.fields, form)
    data = command_data(spec, values)
    key = str(form.get("idempotency_key") or "")
    evidence = action is Action.RECORD_EVIDENCE
    # Checked before anything is stored or sent (the upload's own reference stands in until it is stored).
    outcome: CaseView | Refusal | None = check_form(spec, values, {**data, "document_ref": UNSTORED} if evidence else data,
                                                    who.principal)
    upload = form.get("document")
    if isinstance(outcome, Refusal) and evidence and not (isinstance(upload, UploadFile) and upload.filename):
        outcome.fields.setdefault("document", "Field required")
        outcome.kinds.setdefault("document", "missing")
    if outcome is None and evidence:
        outcome = await _upload_evidence(request, who, case_ref, upload, data, key)
    elif outcome is None:
        outcome = await run_action(request, who, case_ref, action, data, key)
    if isinstance(outcome, Refusal):
        view = await read_case(request, who, case_ref, f"case page ({action.value} form)")
        return await _action_page(request, who, view, action, values=values, refusal=outcome, status_code=400)
    return see_other(f"/caseworker/cases/{case_ref}?done={action.value}")


async def _upload_evidence(request: Request, who: SignedIn, case_ref: str, upload: Any,
                           data: dict[str, Any], key: str) -> CaseView | Refusal:
    """Store the document (the API's checks: content type, size), then record it on the case."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return Refusal("Choose the letter or document to upload", {"document": "Choose the letter or document to upload"},
                       worded=frozenset({"document"}))
    limit = services(request).settings.max_document_bytes
    content = await upload.read(limit + 1)
    if not content or len(content) > limit:
        message = "The file is empty" if not content else f"The file must be smaller than {limit // (1024 * 1024)} MB"
        return Refusal(message, {"document": message}, worded=frozenset({"document"}))
    if await visible_case_row(request, who.principal, case_ref) is None:
        raise case_not_found(case_ref)
    try:
        row = await store_document(request, who.principal, case_ref, content, data.get("kind") or "other")
    except Exception as exc:
        refusal = refusal_from(exc)
        if refusal is None:
            raise
        return Refusal(refusal.detail, {"document": refusal.detail})
    return await run_action(request, who, case_ref, Action.RECORD_EVIDENCE, {**data, "document_ref": row.doc_ref}, key)


@router.get("/caseworker/cases/{case_ref}/documents/{doc_ref}")
async def download(request: Request, case_ref: str, doc_ref: str, who: SignedIn = Depends(require_staff)) -> Response:
    check_case_ref(case_ref)
    content, content_type = await read_document(request, who.principal, case_ref, doc_ref)
    return Response(content=content, media_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{file_name(doc_ref, content_type)}"',
        "Cache-Control": "no-store",
    })
