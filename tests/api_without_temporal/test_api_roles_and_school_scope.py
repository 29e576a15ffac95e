"""What each caller may see and do: a wrong role is 403; another school's case is 404, exactly as
if it did not exist; a school lists only its own cases and tasks."""

from __future__ import annotations

from tests.api_without_temporal.stub_api import REF_A, REF_B, URN_B, Api, assert_problem


async def test_wrong_role_is_403(api: Api) -> None:
    assert_problem(await api.client.get("/cases", headers=api.h("finance")), 403)
    assert_problem(await api.client.get(f"/cases/{REF_A}", headers=api.h("finance")), 403)
    assert_problem(await api.client.get("/reports/caseload", headers=api.h("finance")), 403)
    assert_problem(await api.client.get("/reports/recoupment", headers=api.h("caseworker")), 403)
    assert_problem(await api.client.get("/access-records", headers=api.h("caseworker")), 403)
    # A school may record absences and notes, but not decide.
    r = await api.client.post(
        f"/cases/{REF_A}/decision", headers=api.h("school_a"), json={"outcome": "la_provision", "reason": "x"}
    )
    assert_problem(r, 403)
    assert_problem(await api.client.get(f"/cases/{REF_A}/timeline", headers=api.h("school_a")), 403)


async def test_another_schools_case_is_404(api: Api) -> None:
    # School A asks about school B's case: exactly as if it did not exist.
    unknown = assert_problem(await api.client.get("/cases/MN-26-ZZZZZ9", headers=api.h("school_a")), 404)
    other = assert_problem(await api.client.get(f"/cases/{REF_B}", headers=api.h("school_a")), 404)
    assert other["title"] == unknown["title"]
    r = await api.client.post(f"/cases/{REF_B}/notes", headers=api.h("school_a"), json={"text": "hello"})
    assert_problem(r, 404)
    r = await api.client.post(f"/cases/{REF_B}/absences", headers=api.h("school_a"), json={"days": []})
    assert_problem(r, 404)


async def test_school_lists_only_its_own_cases_and_tasks(api: Api) -> None:
    r = await api.client.get("/cases", headers=api.h("school_a"))
    assert r.status_code == 200
    body = r.json()
    assert [c["case_ref"] for c in body["items"]] == [REF_A] and body["total"] == 1
    r = await api.client.get("/cases", params={"school_urn": URN_B}, headers=api.h("school_a"))
    assert r.json()["items"] == []
    r = await api.client.get("/tasks", headers=api.h("school_a"))
    assert [t["case_ref"] for t in r.json()["items"]] == [REF_A]

    r = await api.client.get("/cases", headers=api.h("caseworker"))
    assert {c["case_ref"] for c in r.json()["items"]} == {REF_A, REF_B}
    r = await api.client.get("/tasks", headers=api.h("caseworker"))
    assert [t["case_ref"] for t in r.json()["items"]] == [REF_B, REF_A]  # by due date


async def test_school_cannot_notify_for_another_school(api: Api) -> None:
    body = {
        "school_urn": URN_B,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "2026-01-12",
        "reason": "physical_illness",
    }
    assert_problem(await api.client.post("/cases", headers=api.h("school_a"), json=body), 403)
