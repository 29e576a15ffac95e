"""Nothing any client sends produces a 500, and a bug that does is a generic 500 that gives
nothing away: the schema is fuzzed with valid and invalid input (Temporal down, so commands
answer 503)."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode

from api.app import create_app
from tests.api_without_temporal.stub_api import PROBLEM, Api, assert_problem, seed
from tests.support import free_port, make_settings


async def test_unexpected_error_is_a_generic_500(api: Api) -> None:
    @api.app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret personal detail: Ada Byron, asthma")

    r = await api.client.get("/boom")
    problem = assert_problem(r, 500)
    assert problem["correlation_id"]
    assert "Ada" not in r.text and "RuntimeError" not in r.text


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("fuzz")
    settings = make_settings(base, temporal_address=f"127.0.0.1:{free_port()}", max_document_bytes=4096)
    tokens = seed(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    schema.fuzz_tokens = tokens  # type: ignore[attr-defined]
    return schema


def _fuzz_operation(operation: Any, mode: GenerationMode, tokens: dict[str, str]) -> None:
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: Any) -> None:
        for who in ("supervisor", "school_a"):
            response = case.call(headers={"Authorization": f"Bearer {tokens[who]}"})
            assert response.status_code != 500, f"{operation.label}: {response.text}"
            if response.status_code >= 400:
                content_type = response.headers["content-type"][0]
                assert content_type.startswith(PROBLEM), (
                    f"{operation.label}: {response.status_code} {content_type}"
                )

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        pass  # an operation with nothing to get wrong (no parameters, no body) in negative mode


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_produces_a_500(fuzz_schema: Any, mode: GenerationMode) -> None:
    """Every operation, with generated valid and invalid input, as a staff key and as a school key:
    never a 500, and every error is a problem document. (Temporal is down: commands answer 503.)"""
    for result in fuzz_schema.get_all_operations():
        _fuzz_operation(result.ok(), mode, fuzz_schema.fuzz_tokens)
