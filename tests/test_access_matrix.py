"""Who may call what: every endpoint in the OpenAPI schema, called by every kind of caller.

The table `MATRIX` below is the access rule, written out so that a reader can check it against the
access description (the API description in `api/app.py`, `api/auth.py`'s docstring and "Who sees
what" in the domain notes):

- no token: 401, except liveness, readiness and metrics;
- a school key: its own pupils' cases only (another school's case answers 404, exactly as if it did
  not exist); it may notify, read the (redacted) case, record absences and add notes; it never sees
  staff-only routes (403);
- caseworkers and supervisors: the cases, their commands, documents and the operational reports;
- supervisors only: access records, subject access exports and the payload codec;
- finance: the recoupment reports only (403 everywhere else), and never any health data.

Every operation of the schema must have a row: a new endpoint nobody added here fails this test, so no
route goes out without someone deciding who may call it. The calls go to the API wired to the real
Temporal dev server with a real worker and a SQLite read model, against real cases (one of them taken
to provision and closed, so that the recoupment reports finance reads hold its charges).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.command_routes import ACTION_ROUTES
from tests.api_world import api_client, case_worker, migrate_and_create_keys
from tests.support import eventually, make_settings, recent_school_days

pytestmark = pytest.mark.slow

OK = "ok"  # through the access rules: the request is answered on its merits (never 401/403/404, never 5xx)

CALLERS = ("no token", "own school", "other school", "caseworker", "supervisor", "finance")
#                  no token  own school  other school  caseworker  supervisor  finance
PUBLIC = (          OK,      OK,         OK,           OK,         OK,         OK)  # fmt: skip
NOTIFY = (          401,     OK,         403,          OK,         OK,         403)  # fmt: skip
SCHOOL_LIST = (     401,     OK,         OK,           OK,         OK,         403)  # fmt: skip
SCHOOL_CASE = (     401,     OK,         404,          OK,         OK,         403)  # fmt: skip
STAFF = (           401,     403,        403,          OK,         OK,         403)  # fmt: skip
SUPERVISOR = (      401,     403,        403,          403,        OK,         403)  # fmt: skip
RECOUPMENT = (      401,     403,        403,          403,        OK,         OK)  # fmt: skip

#: Every operation of the API, and who may call it. Keep in step with the access description.
MATRIX: dict[str, tuple[str | int, ...]] = {
    "POST /cases": NOTIFY,  # a school notifies for its own schools only
    "GET /cases": SCHOOL_LIST,  # a school lists its own schools' cases only
    "GET /cases/{case_ref}": SCHOOL_CASE,  # a school gets the redacted SchoolCaseView
    "GET /cases/{case_ref}/timeline": STAFF,
    "POST /cases/{case_ref}/absences": SCHOOL_CASE,
    "POST /cases/{case_ref}/notes": SCHOOL_CASE,
    "POST /cases/{case_ref}/consent-request": STAFF,
    "POST /cases/{case_ref}/consent": STAFF,
    "POST /cases/{case_ref}/evidence-requests": STAFF,
    "POST /cases/{case_ref}/evidence": STAFF,
    "POST /cases/{case_ref}/decision": STAFF,
    "POST /cases/{case_ref}/provisions": STAFF,
    "POST /cases/{case_ref}/officer": STAFF,
    "POST /cases/{case_ref}/reviews": STAFF,
    "POST /cases/{case_ref}/review-outcomes": STAFF,
    "POST /cases/{case_ref}/hospital-admissions": STAFF,
    "POST /cases/{case_ref}/hospital-discharges": STAFF,
    "POST /cases/{case_ref}/reintegration-plan": STAFF,
    "POST /cases/{case_ref}/reintegration-extensions": STAFF,
    "POST /cases/{case_ref}/full-time-return": STAFF,
    "POST /cases/{case_ref}/school-change": STAFF,
    "POST /cases/{case_ref}/close": STAFF,
    "POST /cases/{case_ref}/reopen": SUPERVISOR,  # a closure made in error, within the window
    "POST /cases/{case_ref}/documents": STAFF,
    "GET /cases/{case_ref}/documents": STAFF,
    "GET /cases/{case_ref}/documents/{doc_ref}": STAFF,
    "GET /tasks": SCHOOL_LIST,  # a school sees its own schools' tasks only
    "GET /reports/caseload": STAFF,
    "GET /reports/overdue": STAFF,
    "GET /reports/days-to-provision": STAFF,
    "GET /reports/recoupment": RECOUPMENT,
    "GET /reports/recoupment/lines": RECOUPMENT,
    "GET /access-records": SUPERVISOR,
    "GET /cases/{case_ref}/subject-access-export": SUPERVISOR,
    "POST /codec/encode": SUPERVISOR,
    "POST /codec/decode": SUPERVISOR,
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
}

URN_OWN = "120001"
URN_OTHER = "120002"
# What the service holds about the child and must never show finance (nor, for health, a school).
GIVEN, FAMILY = "Zephyrine", "Quillfeather"
DIAGNOSIS = "Osteosarcoma of the left femur"
PARENT_NAME, PARENT_EMAIL = "Orla Quillfeather", "orla.q@family.example"
UPN = "Q123456789012"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class World:
    client: httpx.AsyncClient
    tokens: dict[str, str]
    case_ref: str = ""  # the case every case route is called on (school URN_OWN)
    doc_ref: str = ""
    recouped_ref: str = ""  # a case taken to provision and closed: finance reports hold its charges
    notification: dict[str, Any] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        token = self.tokens.get(caller)
        return {"Authorization": f"Bearer {token}"} if token else {}


def _notification(given: str, past: list[date]) -> dict[str, Any]:
    return {
        "school_urn": URN_OWN,
        "child": {"given_name": given, "family_name": FAMILY, "date_of_birth": "2013-05-04", "upn": UPN},
        "parent": {"name": PARENT_NAME, "email": PARENT_EMAIL},
        "first_day_of_absence": past[-8].isoformat(),
        "reason": "surgery_or_treatment",
        "health_summary": DIAGNOSIS,
        "absence_days": [d.isoformat() for d in past[-8:]],
    }


async def _seed(world: World) -> None:
    c, staff = world.client, world.headers("caseworker")
    past = recent_school_days(10)

    async def act(ref: str, slug: str, body: dict[str, Any]) -> None:
        r = await c.post(f"/cases/{ref}/{slug}", headers=staff, json=body)
        assert r.status_code == 200, f"{slug}: {r.text}"

    # The case taken through provision to a full-time return: its charges reach the finance ledger.
    r = await c.post("/cases", headers=staff, json=_notification("Ysolde", past))
    assert r.status_code == 201, r.text
    world.recouped_ref = ref = r.json()["state"]["case_ref"]
    await act(ref, "decision", {"outcome": "la_provision", "reason": f"{DIAGNOSIS}: cannot attend"})
    provision = {
        "kind": "home_tuition",
        "provider": "County Home Tuition Service",
        "hours_per_week": "25",
        "start_date": past[-5].isoformat(),
        "weekly_cost": "450.00",
    }
    await act(ref, "provisions", {"provisions": [provision], "officer": "officer-jb"})
    await act(ref, "close", {"outcome": "returned_full_time", "closed_on": past[-1].isoformat()})

    async def charged() -> bool:
        r = await c.get("/reports/recoupment/lines", headers=world.headers("supervisor"))
        return any(line["case_ref"] == ref for line in r.json()["items"])

    assert await eventually(charged, what="the recouped case's charges in the ledger"), "the recouped case's charges never reached the ledger"

    # The case every case route is called on, with a document.
    world.notification = _notification(GIVEN, past)
    r = await c.post("/cases", headers=world.headers("own school"), json=world.notification)
    assert r.status_code == 201, r.text
    world.case_ref = r.json()["case_ref"]
    r = await c.post(
        f"/cases/{world.case_ref}/documents",
        headers=staff,
        files={"file": ("letter.pdf", PDF, "application/pdf")},
        data={"kind": "consultant_letter"},
    )
    assert r.status_code == 201, r.text
    world.doc_ref = r.json()["doc_ref"]


@pytest.fixture(scope="module")
async def world(
    temporal_dev_server: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    base: Path = tmp_path_factory.mktemp("access-matrix")
    settings = make_settings(
        base,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"access-{uuid.uuid4().hex}",
    )
    tokens = migrate_and_create_keys(settings.database_url, {
        "own school": ("school-own", "school", [URN_OWN]),
        "other school": ("school-other", "school", [URN_OTHER]),
        "caseworker": ("officer-jb", "caseworker", None),
        "supervisor": ("supervisor-1", "supervisor", None),
        "finance": ("finance-1", "finance", None),
    })
    async with (
        case_worker(temporal_dev_server.client, settings),
        api_client(create_app(settings), "http://matrix") as client,
    ):
        w = World(client, tokens)
        await _seed(w)
        yield w


# -- the requests -------------------------------------------------------------------------------------

_COMMAND_BODIES: dict[str, dict[str, Any] | None] = {r.slug: r.example for r in ACTION_ROUTES}
# The example moves the case to another school, which would change what the school keys may see.
_COMMAND_BODIES["school-change"] = {"new_school_urn": URN_OWN, "effective_on": "2026-04-20"}


def _request(operation: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A request a caller allowed to would make: method, URL and body (valid against the schema)."""
    method, template = operation.split(" ", 1)
    url = template.format(case_ref=world.case_ref, doc_ref=world.doc_ref)
    if method == "GET":
        return method, url, {}
    if template == "/cases":
        return method, url, {"json": world.notification}
    if template.startswith("/codec/"):
        return method, url, {"json": {"payloads": []}}
    if template.endswith("/documents"):
        return method, url, {"files": {"file": ("letter.pdf", PDF, "application/pdf")}}
    body = _COMMAND_BODIES[template.rsplit("/", 1)[1]]
    return method, url, {} if body is None else {"json": body}


def _through(method: str, status: int) -> bool:
    """Answered on its merits: a read succeeds; a command may also be refused by the case itself
    (409 not in this stage, 422 not valid for this case), which happens only after the access rules."""
    return 200 <= status < 300 or (method == "POST" and status in (409, 422))


# -- the tests ----------------------------------------------------------------------------------------


async def test_every_endpoint_has_a_row_in_the_access_table(world: World) -> None:
    spec = (await world.client.get("/openapi.json")).json()
    operations = {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops}
    missing = sorted(operations - set(MATRIX))
    assert not missing, f"endpoints with no row in MATRIX (decide who may call them): {missing}"
    gone = sorted(set(MATRIX) - operations)
    assert not gone, f"rows in MATRIX for endpoints the API no longer has: {gone}"


async def test_each_caller_gets_what_the_table_says(world: World) -> None:
    finance_bodies: list[str] = []
    school_bodies: list[str] = []
    wrong: list[str] = []
    for operation, expected_row in MATRIX.items():
        method, url, body = _request(operation, world)
        for caller, expected in zip(CALLERS, expected_row, strict=True):
            r = await world.client.request(method, url, headers=world.headers(caller), **body)
            if expected == OK:
                ok = _through(method, r.status_code)
            else:
                ok = r.status_code == expected and r.headers["content-type"].startswith(
                    "application/problem+json"
                )
            if not ok:
                wrong.append(
                    f"{operation} as {caller}: expected {expected}, got {r.status_code} {r.text[:200]}"
                )
            if caller == "finance":
                finance_bodies.append(f"{operation} {r.status_code}: {r.text}")
            if caller in ("own school", "other school"):
                school_bodies.append(f"{operation} {r.status_code}: {r.text}")
    # Finance never sees the child, the parent or any health data, anywhere; a school never sees the
    # health detail of its own pupil.
    finance_secrets = (
        GIVEN,
        FAMILY,
        UPN,
        DIAGNOSIS,
        "Osteosarcoma",
        PARENT_NAME,
        PARENT_EMAIL,
        "surgery_or_treatment",
    )
    for who, bodies, secrets in (
        ("finance", finance_bodies, finance_secrets),
        ("a school", school_bodies, (DIAGNOSIS, "Osteosarcoma", "surgery_or_treatment")),
    ):
        for secret in secrets:
            wrong += [f"{who} saw {secret!r} in {b.split(':', 1)[0]}" for b in bodies if secret in b]
    assert not wrong, f"{len(wrong)} calls break the access rules:\n" + "\n".join(wrong)


async def test_finance_reads_the_charges_and_only_the_charges(world: World) -> None:
    c = world.client
    for path in ("/reports/recoupment/lines", "/reports/recoupment/lines?format=csv", "/reports/recoupment"):
        r = await c.get(path, headers=world.headers("finance"))
        assert r.status_code == 200, r.text
        for secret in (GIVEN, FAMILY, "Ysolde", DIAGNOSIS, PARENT_EMAIL, UPN):
            assert secret not in r.text
    lines = (await c.get("/reports/recoupment/lines", headers=world.headers("finance"))).json()["items"]
    mine = [line for line in lines if line["case_ref"] == world.recouped_ref]
    assert mine and all(line["school_urn"] == URN_OWN and float(line["amount"]) > 0 for line in mine)
    assert set(mine[0]) == {
        "case_ref",
        "school_urn",
        "period",
        "from_date",
        "to_date",
        "school_days",
        "key_stage",
        "amount",
    }


async def test_another_school_lists_nothing_of_this_school(world: World) -> None:
    c, other = world.client, world.headers("other school")
    own_refs = {world.case_ref, world.recouped_ref}
    for path in ("/cases", f"/cases?school_urn={URN_OWN}", "/tasks"):
        r = await c.get(path, headers=other)
        assert r.status_code == 200, r.text
        assert not own_refs & {item["case_ref"] for item in r.json()["items"]}, path
        assert GIVEN not in r.text and FAMILY not in r.text
    # The own school does see its case, and an unknown case looks exactly like another school's.
    listed = (await c.get("/cases", headers=world.headers("own school"))).json()["items"]
    assert world.case_ref in {item["case_ref"] for item in listed}
    theirs = await c.get(f"/cases/{world.case_ref}", headers=other)
    unknown = await c.get("/cases/MN-26-ZZZZZ9", headers=other)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["title"] == unknown.json()["title"]
