"""Malformed input is refused before Temporal is asked: 422 naming the field (body, query or
header), 413 for an oversized body, 404/405 for unknown routes and methods; input is never
echoed back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.api_without_temporal.stub_api import REF_A, URN_A, Api, assert_problem


async def test_malformed_json_is_422_problem(api: Api) -> None:
    r = await api.client.post(
        "/cases",
        headers=api.h("caseworker", **{"Content-Type": "application/json"}),
        content=b'{"school_urn": ',
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "body"
    assert "JSON" in body["errors"][0]["message"]


async def test_missing_and_wrong_fields_are_named(api: Api) -> None:
    body = {
        "school_urn": "12",
        "child": {"given_name": "Ada", "family_name": "Byron"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "not a date",
        "reason": "physical_illness",
    }
    r = await api.client.post("/cases", headers=api.h("caseworker"), json=body)
    problem = assert_problem(r, 422)
    fields = {e["field"] for e in problem["errors"]}
    assert {"body.school_urn", "body.child.date_of_birth", "body.first_day_of_absence"} <= fields
    assert "body.child.date_of_birth" in problem["detail"]
    assert "Ada" not in r.text  # input is never echoed


async def test_actor_may_not_be_sent(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/notes",
        headers=api.h("caseworker"),
        json={"text": "hello", "actor": {"role": "supervisor", "name": "someone-else"}},
    )
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == ["body.actor"]


async def test_cross_field_rule_is_422(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/reintegration-plan",
        headers=api.h("caseworker"),
        json={"start_date": "2026-03-16", "end_date": "2026-03-01", "hours_per_week": 15},
    )
    problem = assert_problem(r, 422)
    assert "end_date must be after start_date" in problem["detail"]


async def test_query_and_header_validation(api: Api) -> None:
    problem = assert_problem(await api.client.get("/cases?limit=0", headers=api.h("caseworker")), 422)
    assert problem["errors"][0]["field"] == "query.limit"
    problem = assert_problem(await api.client.get("/cases?stage=bogus", headers=api.h("caseworker")), 422)
    assert problem["errors"][0]["field"] == "query.stage"
    r = await api.client.post(
        f"/cases/{REF_A}/notes",
        headers=api.h("caseworker", **{"Idempotency-Key": "has space"}),
        json={"text": "x"},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "header.Idempotency-Key"


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    assert_problem(await api.client.get("/nowhere"), 404)
    assert_problem(await api.client.delete("/cases", headers=api.h("caseworker")), 405)
    assert_problem(await api.client.get("/cases/not-a-ref", headers=api.h("caseworker")), 404)
    assert_problem(
        await api.client.post(f"/cases/{REF_A}/teleport", headers=api.h("caseworker"), json={}), 404
    )


async def test_oversized_bodies_are_413(api: Api) -> None:
    r = await api.client.post(
        f"/cases/{REF_A}/notes", headers=api.h("caseworker"), json={"text": "x" * 2_000_000}
    )
    assert "1,048,576-byte" in assert_problem(r, 413)["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"x" * 100_000

    headers = api.h("caseworker", **{"Content-Type": "application/json"})
    r = await api.client.post(f"/cases/{REF_A}/notes", headers=headers, content=chunks())
    assert_problem(r, 413)


async def test_notification_cross_field_rule_is_422_before_temporal(api: Api) -> None:
    body = {
        "school_urn": URN_A,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": "2026-01-12",
        "expected_return": "2026-01-05",
        "reason": "physical_illness",
    }
    problem = assert_problem(await api.client.post("/cases", headers=api.h("school_a"), json=body), 422)
    assert "expected_return must be after first_day_of_absence" in problem["detail"]
