"""The pages beside the JSON that serves the same data, with 10,000 cases in the read model.

The caseload page (`/caseworker/caseload`, 50 rows with the children's names decrypted) beside
`GET /cases?limit=50`; the task inbox (`/caseworker/tasks`) beside `GET /tasks?role=caseworker&limit=500`;
and a real case's page (`/caseworker/cases/{ref}`: the workflow's view, documents, names, the access
record) beside `GET /cases/{ref}` (the view and the access record). The API runs in its own process
(uvicorn) with a real worker and the dev server; calls alternate between page and JSON every round,
so a noisy neighbour on the shared machine hurts both alike. Target: page p95 within 1.5x of the
JSON's p95.

    .venv/bin/python -m bench.page_latency [--cases 10000] [--rounds 10] [--per-round 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.list_latency import seed
from bench.support import (
    api_process,
    bearer,
    bench_settings,
    describe,
    dev_server,
    header,
    interleaved,
    ms,
    notification,
    percentile,
    prepare_read_model,
    school_days_around_today,
    target_of,
    worker_process,
)

TARGET_RATIO = 1.5
PASSWORD = "bench password, not a secret"  # noqa: S105 - a fictional benchmark account


def create_caseworker(settings: Any) -> None:
    from infra.accounts import create_account
    from readmodel.database import make_engine, session_scope

    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as s:
            create_account(s, "bench.caseworker", "Bench Caseworker", "caseworker", PASSWORD)
    finally:
        engine.dispose()


async def sign_in(http: httpx.AsyncClient) -> None:
    form = await http.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:300]
    r = await http.post("/sign-in", data={"csrf_token": token.group(1), "username": "bench.caseworker",
                                          "password": PASSWORD})
    assert r.status_code == 303, r.text[:300]


async def one_real_case(http: httpx.AsyncClient, tokens: dict[str, str]) -> str:
    r = await http.post("/cases", headers=bearer(tokens["school"]),
                        json=notification(school_days_around_today(), 0, "page"))
    assert r.status_code == 201, r.text
    return str(r.json()["case_ref"])


async def measure(cases: int, rounds: int, per_round: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-pages")
        tokens = prepare_read_model(settings)
        create_caseworker(settings)
        n_cases, n_tasks = seed(settings, cases)
        print(f"seeded {n_cases} cases and {n_tasks} tasks", flush=True)
        async with (
            dev_server(settings) as env,
            worker_process(settings, target_of(env), base),
            api_process(settings, target_of(env), base) as (_, url),
            httpx.AsyncClient(base_url=url, timeout=60) as pages,
            httpx.AsyncClient(base_url=url, timeout=60) as api,
        ):
            await sign_in(pages)
            ref = await one_real_case(api, tokens)
            staff = bearer(tokens["caseworker"])
            pairs = [
                ("caseload", "/caseworker/caseload", "/cases?limit=50"),
                ("task inbox", "/caseworker/tasks", "/tasks?role=caseworker&limit=500"),
                ("case page", f"/caseworker/cases/{ref}", f"/cases/{ref}"),
            ]
            for label, page_path, json_path in pairs:

                async def page(path: str = page_path) -> None:
                    r = await pages.get(path)
                    assert r.status_code == 200, r.text[:300]

                async def data(path: str = json_path) -> None:
                    r = await api.get(path, headers=staff)
                    assert r.status_code == 200, r.text[:300]

                contenders = {"page": page, "JSON": data}
                await interleaved(1, 3, contenders)
                results[label] = await interleaved(rounds, per_round, contenders)
    return results


def report(results: dict[str, dict[str, list[float]]], cases: int) -> None:
    header(f"pages beside their JSON with {cases} cases in the SQLite read model (sequential calls)")
    for label, samples in results.items():
        ratio = percentile(samples["page"], 95) / percentile(samples["JSON"], 95)
        print(describe(f"{label} page", samples["page"]))
        print(describe(f"  {label} JSON", samples["JSON"]))
        print(f"  p95 ratio page/JSON {ratio:.2f}x   target within {TARGET_RATIO}x: "
              f"{'met' if ratio <= TARGET_RATIO else 'MISSED'} (page p95 {ms(percentile(samples['page'], 95))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()
    report(asyncio.run(measure(args.cases, args.rounds, args.per_round)), args.cases)


if __name__ == "__main__":
    main()
