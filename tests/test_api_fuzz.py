"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis + hypothesis).

The API runs wired to the real Temporal dev server, with a real worker (the case workflow and every
real activity) polling its task queue and the read model on SQLite; a few real cases are opened first
(one per stage of interest, one at another school, one with a document) so that generated requests
sometimes name a real case and a real document. Every operation in the schema gets generated valid and
invalid input, and each generated request is sent with a key of every role (a school key scoped to one
URN, caseworker, supervisor, finance).

What a user relies on: nothing anyone sends produces a 5xx, and every answer is what the schema says
(a documented status code, its content type, a body matching its schema), so clients generated from
the schema never meet an answer they cannot read.

`tests/api_without_temporal/test_api_unexpected_errors.py::test_no_input_produces_a_500` fuzzes the same
schema with Temporal down (every command answers 503 there); this module is the same idea with the whole
system running.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.settings import Settings
from tests.api_world import case_worker, migrate_and_create_keys
from tests.support import make_settings, school_days_around_today

pytestmark = pytest.mark.slow

URN_A = "120001"
URN_B = "120002"
#: Each generated request is sent once with each of these keys (two schools, each owning some of the
#: seeded cases, so each sees cases that are its own and cases that must look as if they did not exist).
ROLES = ("school_a", "school_b", "caseworker", "supervisor", "finance")
#: Examples hypothesis generates per operation and generation mode (valid, invalid input).
MAX_EXAMPLES = 4
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Fuzz:
    schema: Any
    settings: Settings
    tokens: dict[str, str]
    case_refs: list[str]
    documents: dict[str, str]  # doc_ref -> its case_ref
    sent: Counter[str] = field(default_factory=Counter)  # requests per operation
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status) -> requests
    failures: dict[str, str] = field(default_factory=dict)  # distinct failure -> one example
    lock: threading.Lock = field(default_factory=threading.Lock)


def _notification(urn: str, given: str, past: list[date]) -> dict[str, Any]:
    absence = past[-6:]
    return {
        "school_urn": urn,
        "child": {"given_name": given, "family_name": "Fuzzcase", "date_of_birth": "2013-05-04"},
        "parent": {"name": "A Parent", "email": "parent@family.example"},
        "first_day_of_absence": absence[0].isoformat(),
        "reason": "physical_illness",
        "health_summary": "Post-operative recovery",
        "absence_days": [d.isoformat() for d in absence],
    }


async def _seed_cases(settings: Settings, tokens: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Real cases through the API: notified (school A, school B), gathering evidence with a document,
    and closed."""
    past = school_days_around_today().past
    app = create_app(settings)
    refs: list[str] = []
    docs: dict[str, str] = {}
    staff = {"Authorization": f"Bearer {tokens['caseworker']}"}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://seed", timeout=60) as c:

            async def open_case(urn: str, given: str) -> str:
                r = await c.post("/cases", headers=staff, json=_notification(urn, given, past))
                assert r.status_code == 201, r.text
                return r.json()["state"]["case_ref"]

            async def act(ref: str, slug: str, body: dict[str, Any] | None = None) -> None:
                r = await c.post(f"/cases/{ref}/{slug}", headers=staff, json=body or {})
                assert r.status_code == 200, f"{slug}: {r.text}"

            refs.append(await open_case(URN_A, "Ada"))
            refs.append(await open_case(URN_B, "Bea"))
            evidence = await open_case(URN_A, "Cyd")
            await act(evidence, "consent-request")
            professional = {"id": "gp-1", "name": "Dr A GP", "role": "gp", "email": "gp@nhs.example"}
            await act(evidence, "consent", {"decision": "granted", "professionals": [professional]})
            r = await c.post(
                f"/cases/{evidence}/documents",
                headers=staff,
                files={"file": ("letter.pdf", PDF, "application/pdf")},
                data={"kind": "gp_letter"},
            )
            assert r.status_code == 201, r.text
            docs[r.json()["doc_ref"]] = evidence
            refs.append(evidence)
            closed = await open_case(URN_A, "Dee")
            await act(closed, "close", {"outcome": "withdrawn"})
            refs.append(closed)
    return refs, docs


@pytest.fixture(scope="module")
async def fuzz(
    temporal_dev_server: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fuzz]:
    base: Path = tmp_path_factory.mktemp("api-fuzz")
    settings = make_settings(
        base,
        temporal_address=temporal_dev_server.client.service_client.config.target_host,
        task_queue=f"fuzz-{uuid.uuid4().hex}",
        max_document_bytes=64 * 1024,
    )
    tokens = migrate_and_create_keys(settings.database_url, {
        "school_a": ("school-a", "school", [URN_A]),
        "school_b": ("school-b", "school", [URN_B]),
        "caseworker": ("officer-jb", "caseworker", None),
        "supervisor": ("supervisor-1", "supervisor", None),
        "finance": ("finance-1", "finance", None),
    })
    async with case_worker(temporal_dev_server.client, settings):
        refs, docs = await _seed_cases(settings, tokens)
        app = create_app(settings)
        schema = await asyncio.to_thread(schemathesis.openapi.from_asgi, "/openapi.json", app)
        try:
            yield Fuzz(schema, settings, tokens, refs, docs)
        finally:
            await asyncio.to_thread(asgi.shutdown_lifespans)


def _with_real_refs(operation: Any, mode: GenerationMode, fuzz: Fuzz) -> st.SearchStrategy[Any]:
    """The operation's generated cases; where it takes a case (or document) reference, sometimes a real
    one in place of the generated one."""
    strategy = operation.as_strategy(generation_mode=mode)
    path = operation.path
    if "{case_ref}" not in path:
        return strategy
    refs = st.one_of(st.none(), st.sampled_from(fuzz.case_refs))
    docs = st.one_of(st.none(), st.sampled_from(sorted(fuzz.documents)))

    def swap(drawn: tuple[Any, str | None, str | None]) -> Any:
        case, ref, doc = drawn
        if ref is not None:
            case.path_parameters = {**(case.path_parameters or {}), "case_ref": ref}
        if doc is not None and "{doc_ref}" in path:
            case.path_parameters = {**case.path_parameters, "case_ref": fuzz.documents[doc], "doc_ref": doc}
        return case

    return st.tuples(strategy, refs, docs).map(swap)


def _fuzz_operation(operation: Any, mode: GenerationMode, fuzz: Fuzz) -> None:
    @hypothesis.given(case=_with_real_refs(operation, mode, fuzz))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: Any) -> None:
        for who in ROLES:
            headers = {"Authorization": f"Bearer {fuzz.tokens[who]}"}
            response = case.call(headers=headers)
            with fuzz.lock:
                fuzz.sent[operation.label] += 1
                fuzz.answers[operation.label, response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as exc:  # collected: every distinct failure is reported at the end
                titles = ", ".join(sorted({f.title for f in exc.exceptions}))
                kind = f"{operation.label} -> {response.status_code}: {titles}"
                with fuzz.lock:
                    fuzz.failures.setdefault(kind, f"as {who} ({mode.value}):\n{exc}")

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to get wrong in negative mode (no parameters, no body)


async def test_fuzzed_requests_never_fail_and_always_match_the_schema(fuzz: Fuzz) -> None:
    operations = [result.ok() for result in fuzz.schema.get_all_operations()]

    def run() -> None:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(operation, mode, fuzz)

    await asyncio.to_thread(run)

    assert not fuzz.failures, (
        f"{len(fuzz.failures)} distinct failures:\n"
        + "\n".join(fuzz.failures)
        + ("\n\nExamples:\n\n" + "\n\n".join(f"{k}\n{v}" for k, v in list(fuzz.failures.items())[:10]))
    )
    total = sum(fuzz.sent.values())
    print(
        f"fuzzing: {total} requests over {len(operations)} operations; answers {sorted(fuzz.answers.items())}"
    )
    assert total >= MIN_REQUESTS, f"only {total} requests were sent: {dict(fuzz.sent)}"
    untested = [op.label for op in operations if fuzz.sent[op.label] == 0]
    assert not untested, f"operations never called: {untested}"
    # The requests reached the real system: real cases were read, and generated commands were applied
    # by the workflow (not only refused at the door).
    succeeded = {label for (label, status), n in fuzz.answers.items() if 200 <= status < 300 and n}
    assert "GET /cases/{case_ref}" in succeeded
    assert "GET /cases/{case_ref}/documents/{doc_ref}" in succeeded
    assert any(label.startswith("POST /cases/{case_ref}/") for label in succeeded), sorted(succeeded)


# -- what the fuzzing found, pinned ------------------------------------------------------------------


def _call(fuzz: Fuzz, method: str, path: str, who: str = "caseworker", **kwargs: Any) -> Any:
    """One request to the fuzzed app, through the same in-process client schemathesis uses."""
    with asgi.get_client(fuzz.schema.app) as client:
        return client.request(method, path, headers={"Authorization": f"Bearer {fuzz.tokens[who]}"}, **kwargs)


async def test_a_date_the_calendar_cannot_count_is_refused_and_the_case_keeps_working(fuzz: Fuzz) -> None:
    past = school_days_around_today().past
    r = await asyncio.to_thread(_call, fuzz, "POST", "/cases", json=_notification(URN_A, "Fay", past))
    assert r.status_code == 201, r.text
    ref = r.json()["state"]["case_ref"]
    r = await asyncio.to_thread(
        _call,
        fuzz,
        "POST",
        f"/cases/{ref}/hospital-admissions",
        json={"admitted_on": "0744-02-10", "hospital": "H"},
    )
    assert r.status_code == 422, r.text
    assert "admitted_on 0744-02-10 is outside" in r.json()["detail"]
    r = await asyncio.to_thread(_call, fuzz, "POST", f"/cases/{ref}/notes", json={"text": "still here"})
    assert r.status_code == 200, r.text
    r = await asyncio.to_thread(_call, fuzz, "GET", f"/cases/{ref}")
    assert r.status_code == 200 and r.json()["state"]["notes"][-1]["text"] == "still here"


@pytest.mark.parametrize(
    ("first_day", "born"), [(date(9000, 1, 4), "8990-01-01"), (date(1901, 1, 7), "1890-01-01")]
)
async def test_a_notification_dated_years_away_is_refused(fuzz: Fuzz, first_day: date, born: str) -> None:
    body = _notification(URN_A, "Eve", [first_day])
    body["child"]["date_of_birth"] = born
    r = await asyncio.to_thread(_call, fuzz, "POST", "/cases", json=body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.first_day_of_absence"]
