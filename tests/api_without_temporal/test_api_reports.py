"""The reports, as JSON and as CSV, for the roles that may read them."""

from __future__ import annotations

from tests.api_without_temporal.stub_api import REF_A, URN_A, Api


async def test_reports_json_and_csv(api: Api) -> None:
    r = await api.client.get("/reports/caseload", headers=api.h("caseworker"))
    assert r.status_code == 200 and r.json()["total"] == 2
    r = await api.client.get("/reports/caseload?format=csv", headers=api.h("caseworker"))
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == "stage,cases" and "deciding,2" in r.text
    r = await api.client.get("/reports/overdue", headers=api.h("supervisor", Accept="text/csv"))
    assert r.headers["content-type"].startswith("text/csv")

    r = await api.client.get("/reports/recoupment", headers=api.h("finance"))
    assert r.status_code == 200
    assert r.json()["totals"] == [
        {"school_urn": URN_A, "period": "2025-26 spring", "amount": "367.60", "lines": 1}
    ]
    r = await api.client.get("/reports/recoupment/lines?format=csv", headers=api.h("finance"))
    assert r.text.splitlines()[1] == f"{REF_A},{URN_A},2025-26 spring,2026-02-02,2026-02-13,10,ks3,367.60"
