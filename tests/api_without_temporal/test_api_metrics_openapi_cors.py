"""What tools rely on: metrics by route template (never a case reference), an OpenAPI document
describing every action and its problem answers, and CORS preflight for the UI."""

from __future__ import annotations

from tests.api_without_temporal.stub_api import REF_A, Api


async def test_metrics_by_route_template(api: Api) -> None:
    await api.client.get(f"/cases/{REF_A}", headers=api.h("school_b"))
    await api.client.get("/nowhere")
    text = (await api.client.get("/metrics")).text
    assert 'route="/cases/{case_ref}"' in text and 'status="404"' in text
    assert 'route="unmatched"' in text
    assert "casework_http_request_duration_seconds_bucket" in text
    assert REF_A not in text


async def test_openapi_documents_every_action(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "/cases/{case_ref}/consent-request" in spec["paths"]
    decision = spec["paths"]["/cases/{case_ref}/decision"]["post"]
    assert "409" in decision["responses"] and "422" in decision["responses"]
    assert "application/problem+json" in decision["responses"]["409"]["content"]
    assert "allowed_actions" in spec["components"]["schemas"]["Problem"]["properties"]
    body_schema = spec["components"]["schemas"]["DecideBody"]
    assert set(body_schema["properties"]) == {"outcome", "reason"}
    assert decision["requestBody"]["content"]["application/json"]["examples"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_cors_preflight_for_the_ui(api: Api) -> None:
    r = await api.client.options(
        "/codec/decode",
        headers={
            "Origin": api.settings.ui_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == api.settings.ui_origin
