"""The API as the tests in this folder see it: a read model seeded with two schools' cases and
one access key per caller, and Temporal at an address where nothing listens (or a stand-in).

`seed` and `assert_problem` are the helpers; the `api` fixture that uses them is in this
folder's conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from infra.access_keys import create_api_key, revoke_api_key
from infra.settings import Settings
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import CaseRow, LedgerEntry, TaskRow

PROBLEM = "application/problem+json"
REF_A = "MN-26-AAAAA1"
REF_B = "MN-26-BBBBB2"
URN_A = "120001"
URN_B = "120002"

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _case_row(ref: str, urn: str, stage: str = "deciding") -> CaseRow:
    now = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    return CaseRow(
        case_ref=ref,
        version=1,
        school_urn=urn,
        stage=stage,
        officer="officer-jb",
        opened_at=now,
        first_day_of_absence=date(2026, 1, 12),
        next_deadline=date(2026, 2, 2),
        last_progress_on=date(2026, 1, 12),
        child_key=f"key-{ref}",
        personal=b"not-real-ciphertext",
        updated_at=now,
    )


def _task_row(ref: str, urn: str, due: date) -> TaskRow:
    return TaskRow(
        case_ref=ref,
        task_id="decide",
        school_urn=urn,
        kind="decide",
        description="Decide the referral",
        assignee_role="caseworker",
        assignee="officer-jb",
        due_on=due,
    )


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}


def seed(settings: Settings) -> dict[str, str]:
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            tokens = {
                "school_a": create_api_key(s, "school-a", "school", [URN_A]),
                "school_b": create_api_key(s, "school-b", "school", [URN_B]),
                "caseworker": create_api_key(s, "officer-jb", "caseworker"),
                "supervisor": create_api_key(s, "supervisor-1", "supervisor"),
                "finance": create_api_key(s, "finance-1", "finance"),
                "revoked": create_api_key(s, "old-key", "caseworker"),
            }
            revoke_api_key(s, "old-key")
            s.add(_case_row(REF_A, URN_A))
            s.add(_case_row(REF_B, URN_B))
            s.add(_task_row(REF_A, URN_A, date(2026, 2, 2)))
            s.add(_task_row(REF_B, URN_B, date(2026, 1, 30)))
            s.add(
                LedgerEntry(
                    idempotency_key=f"{REF_A}:{URN_A}:spring:2026-02-02:2026-02-13",
                    case_ref=REF_A,
                    school_urn=URN_A,
                    period="2025-26 spring",
                    from_date=date(2026, 2, 2),
                    to_date=date(2026, 2, 13),
                    school_days=10,
                    key_stage="ks3",
                    amount="367.60",
                    posted_at=datetime(2026, 2, 14, 1, 0, tzinfo=UTC),
                )
            )
    finally:
        engine.dispose()
    return tokens


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    assert "Traceback" not in response.text
    return body


@asynccontextmanager
async def seeded_api(settings: Settings) -> AsyncIterator[Api]:
    """The app on a seeded read model (`seed`), through its lifespan, with an HTTP client on it."""
    tokens = seed(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings, tokens)
